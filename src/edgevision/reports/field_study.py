"""The field study's own numbers, quoted beside ours on the quantization page.

The study ("A field study: edge CV on a Jetson AGX Xavier", ``../shared/papers/
004_5cf3244c05509ab7.txt``) compares five segmentation models on Cityscapes on a Jetson AGX
Xavier GPU: Table 1 (section 2, *Model Comparison*: size, FPS, mIoU of the FP32 models),
Table 2 and Table 3 (section 3, *Quantization Results*: mIoU / size / FPS per quantization
mode, and mIoU change / size decrease / RAM decrease). The copy is plain text extracted from
the study's slides, without page numbers, so tables are cited by number and section.

The numbers are quoted as printed. They are not all consistent with each other (LiteSeg's
QAT model is 0.6 MB against 1.2 MB in FP32, a 50 % decrease, while Table 3 prints 16.7 %),
and they are for another dataset (Cityscapes) and another machine (a Xavier GPU with
TensorRT), so they are a reference for the shape and direction of the changes, not targets
for our numbers on CamVid and a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

__all__ = ["CITATION", "STUDY", "StudyRow", "study_row"]

CITATION = (
    "the field study (`../shared/papers/004_5cf3244c05509ab7.txt`, Jetson AGX Xavier, "
    "Cityscapes): Table 1 (section 2, Model Comparison), Tables 2 and 3 (section 3, "
    "Quantization Results); the text copy has no page numbers"
)
"""How the page cites the study."""


@dataclass(frozen=True)
class StudyRow:
    """One model's row in the study's Tables 1–3.

    Attributes:
        name: the model as the study names it.
        patterns: registry names (``fnmatch`` patterns) of our models of that architecture.
        fp32: Table 1 ``(mIoU, size MB, FPS)``.
        modes: Table 2, mode (``qat``, ``static``, ``dynamic``) -> ``(mIoU, size MB, FPS)``.
        changes: Table 3, mode -> ``(mIoU change pts, size decrease %, RAM decrease %)``.
    """

    name: str
    patterns: tuple[str, ...]
    fp32: tuple[float, float, float]
    modes: dict[str, tuple[float, float, float]]
    changes: dict[str, tuple[float, float, float]]


STUDY: tuple[StudyRow, ...] = (
    StudyRow(
        "LiteSeg",
        ("liteseg*",),
        (70.6, 1.2, 88.2),
        {"qat": (65.1, 0.6, 172.4), "static": (62.8, 0.5, 194.5), "dynamic": (64.0, 0.6, 178.7)},
        {"qat": (-4.3, 16.7, 0), "static": (-2.6, 16.7, -7), "dynamic": (-1.8, 0, -5)},
    ),
    StudyRow(
        "EfficientPS",
        ("efficientps*",),
        (72.3, 4.3, 23.5),
        {"qat": (68.7, 2.15, 45.9), "static": (65.3, 1.7, 57.1), "dynamic": (67.0, 2.15, 51.3)},
        {"qat": (-4.8, 15.5, -17), "static": (-4.8, 20.9, -7), "dynamic": (-2.6, 15.5, -12)},
    ),
    StudyRow(
        "FastDepthSeg",
        ("fastdepthseg*",),
        (70.1, 1.9, 140.8),
        {"qat": (67.0, 0.95, 274.6), "static": (64.8, 0.8, 294.8), "dynamic": (65.8, 0.95, 281.3)},
        {"qat": (-2.2, 2.3, 42), "static": (-3.3, 10.5, 14), "dynamic": (-1.9, 2.3, 23)},
    ),
    StudyRow(
        "DDRNet",
        ("ddrnet*",),
        (78.2, 7.5, 82.7),
        {"qat": (73.4, 3.75, 160.2), "static": (71.0, 3.2, 185.3), "dynamic": (72.4, 3.75, 171.4)},
        {"qat": (-3.3, 9.7, 44), "static": (-3.3, 13.3, 22), "dynamic": (-1.8, 9.7, 36)},
    ),
    StudyRow(
        "DeepLab V3+",
        ("deeplabv3plus*",),
        (77.7, 8.4, 37.6),
        {"qat": (69.7, 4.2, 72.9), "static": (67.5, 3.5, 87.4), "dynamic": (68.8, 4.2, 79.6)},
        {"qat": (-2.7, 19, 56), "static": (-2.9, 16.7, 38), "dynamic": (-1.6, 19, 48)},
    ),
)
"""The study's five models (ESPNet, which the study names but does not tabulate, is not here)."""


def study_row(model: str) -> StudyRow | None:
    """The study's row for our registry model name (``None``: the study has no such model)."""
    return next((r for r in STUDY if any(fnmatch(model, p) for p in r.patterns)), None)
