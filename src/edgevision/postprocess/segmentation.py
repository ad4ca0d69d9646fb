"""Semantic segmentation postprocessing: logits -> :class:`SemanticMask` at original size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.postprocess.letterbox import map_to_original
from edgevision.preprocess import Transform
from edgevision.results import SemanticMask


def semantic_argmax(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Transform],
    *,
    upsample: str = "labels",
    with_confidence: bool = False,
) -> list[SemanticMask]:
    """Per-pixel classes from ``(N, C, h, w)`` logits (the first output) at original size.

    Models output logits at their native resolution (often 1/4 or 1/8 of the input).

    Args:
        outputs: engine outputs; ``outputs[0]`` is ``(N, C, h, w)`` float logits.
        spec: model spec (class names, ignore index).
        transforms: one per image, from :func:`edgevision.preprocess.preprocess`.
        upsample: ``"labels"`` (default, fast): argmax at the output resolution, then
            nearest-neighbour upsampling of the label map; ``"logits"``: bilinear upsampling
            of all C logit channels first, then argmax (smoother boundaries, C times the work).
        with_confidence: also return the max softmax probability per pixel (0–1).

    Returns:
        One :class:`SemanticMask` per image, ``class_map`` int64 in ``[0, C)``.
    """
    logits = np.asarray(outputs[0])
    if logits.ndim != 4:
        raise ValueError(f"semantic model output must be (N, C, H, W), got {logits.shape}")
    if upsample not in ("labels", "logits"):
        raise ValueError(f"upsample must be 'labels' or 'logits', got {upsample!r}")
    results = []
    for i, t in enumerate(transforms):
        if upsample == "logits":
            hwc = map_to_original(np.ascontiguousarray(logits[i].transpose(1, 2, 0)), t)
            chw = hwc.reshape(hwc.shape[0], hwc.shape[1], -1).transpose(2, 0, 1)
        else:
            chw = logits[i]
        cls = chw.argmax(axis=0).astype(np.uint8 if chw.shape[0] <= 256 else np.int32)
        conf = None
        if with_confidence:
            z = chw - chw.max(axis=0, keepdims=True)
            conf = (1.0 / np.exp(z).sum(axis=0)).astype(np.float32)
        if upsample == "labels":
            cls = map_to_original(cls, t, nearest=True)
            if conf is not None:
                conf = map_to_original(conf, t)
        results.append(
            SemanticMask(
                cls.astype(np.int64), spec.class_names, conf, ignore_index=spec.ignore_index
            )
        )
    return results
