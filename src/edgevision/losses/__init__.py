"""Training losses.

- :mod:`edgevision.losses.class_balanced`: class weights from the effective number of samples
  (Cui et al. 2019) and cached per-class counts of a split; numpy only.
- :mod:`edgevision.losses.segmentation`: per-pixel cross-entropy, OHEM cross-entropy and focal
  loss, the ``{"out", "aux"}`` wrapper and :func:`build_loss`; needs torch.

Names are re-exported lazily, so ``import edgevision.losses`` (and the numpy-only
``class_balanced``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgevision.losses.class_balanced import (
        ClassCounts,
        class_balanced_weights,
        class_counts,
        effective_number,
        effective_number_weights,
    )
    from edgevision.losses.segmentation import (
        CrossEntropy,
        FocalLoss,
        OhemCrossEntropy,
        SegLoss,
        build_loss,
    )

_EXPORTS = {
    "ClassCounts": "class_balanced",
    "class_balanced_weights": "class_balanced",
    "class_counts": "class_balanced",
    "effective_number": "class_balanced",
    "effective_number_weights": "class_balanced",
    "CrossEntropy": "segmentation",
    "FocalLoss": "segmentation",
    "OhemCrossEntropy": "segmentation",
    "SegLoss": "segmentation",
    "build_loss": "segmentation",
}

__all__ = [
    "ClassCounts",
    "CrossEntropy",
    "FocalLoss",
    "OhemCrossEntropy",
    "SegLoss",
    "build_loss",
    "class_balanced_weights",
    "class_counts",
    "effective_number",
    "effective_number_weights",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
