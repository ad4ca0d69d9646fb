"""Training losses.

- :mod:`edgevision.losses.class_balanced`: class weights from the effective number of samples
  (Cui et al. 2019) and cached per-class counts of a split; numpy only.
- :mod:`edgevision.losses.segmentation`: per-pixel cross-entropy, OHEM cross-entropy and focal
  loss, the ``{"out", "aux"}`` wrapper and :func:`build_loss`; needs torch.

Names are re-exported lazily, so ``import edgevision.losses`` (and the numpy-only
``class_balanced``) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgevision._lazy import lazy_exports

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
    "edgevision.losses.class_balanced": (
        "ClassCounts",
        "class_balanced_weights",
        "class_counts",
        "effective_number",
        "effective_number_weights",
    ),
    "edgevision.losses.segmentation": (
        "CrossEntropy",
        "FocalLoss",
        "OhemCrossEntropy",
        "SegLoss",
        "build_loss",
    ),
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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
