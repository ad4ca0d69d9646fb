"""Semantic segmentation metrics from a confusion matrix (numpy only).

:class:`ConfusionMatrix` accumulates ``(target, prediction)`` pixel counts over a dataset
with one ``np.bincount`` per image; IoU, mIoU and pixel accuracy are read off the totals,
so the dataset-level mIoU is the mean of per-class IoUs over *all* pixels (the Cityscapes /
CamVid convention), not a mean of per-image mIoUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ConfusionMatrix"]


def _none_if_nan(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


class ConfusionMatrix:
    """Pixel confusion matrix for ``num_classes`` classes.

    ``matrix[t, p]`` counts pixels of target class ``t`` predicted as class ``p``. Pixels
    whose *target* is ``ignore_index`` are skipped. Pixels whose *prediction* is
    ``ignore_index`` (a model that abstains, e.g. below a confidence threshold) count as
    misses of their target class (in ``unassigned``) but as no class's false positive.

    Args:
        num_classes: number of classes; valid ids are ``0 .. num_classes - 1``.
        ignore_index: label value that marks "no label" (e.g. 255, CamVid's void 11).

    Example:
        >>> cm = ConfusionMatrix(3)
        >>> cm.update(pred, target)     # (H, W) int arrays, once per image
        >>> cm.miou(), cm.pixel_accuracy()
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if int(num_classes) <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.unassigned = np.zeros(self.num_classes, dtype=np.int64)

    def reset(self) -> None:
        """Zero all counts."""
        self.matrix[:] = 0
        self.unassigned[:] = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one image (or a batch: any equal shapes).

        Args:
            pred: ``(H, W)`` integer predicted class ids (``ignore_index`` allowed).
            target: ``(H, W)`` integer ground-truth class ids (``ignore_index`` skipped).

        Raises:
            ValueError: shapes differ, or an id outside ``0 .. num_classes - 1`` that is not
                ``ignore_index`` appears in ``target`` or ``pred``.
        """
        p = np.asarray(pred)
        t = np.asarray(target)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {p.shape} != target shape {t.shape}")
        for name, a in (("pred", p), ("target", t)):
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")
        p = p.reshape(-1).astype(np.int64, copy=False)
        t = t.reshape(-1).astype(np.int64, copy=False)
        n = self.num_classes
        valid = t != self.ignore_index
        t, p = t[valid], p[valid]
        if t.size and (t.min() < 0 or t.max() >= n):
            bad = np.unique(t[(t < 0) | (t >= n)])[:5].tolist()
            raise ValueError(
                f"target has ids {bad} outside 0..{n - 1} (ignore_index={self.ignore_index})"
            )
        abstain = p == self.ignore_index
        pv = p[~abstain]
        if pv.size and (pv.min() < 0 or pv.max() >= n):
            bad = np.unique(pv[(pv < 0) | (pv >= n)])[:5].tolist()
            raise ValueError(
                f"prediction has ids {bad} outside 0..{n - 1} (ignore_index={self.ignore_index})"
            )
        # all checks done: only now touch the counts, so a failed update adds nothing
        if abstain.any():
            self.unassigned += np.bincount(t[abstain], minlength=n)
        self.matrix += np.bincount(t[~abstain] * n + pv, minlength=n * n).reshape(n, n)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts to this matrix in place (e.g. from parallel workers).

        Returns:
            ``self``, for chaining.
        """
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix (ignore {other.ignore_index}) "
                f"into a {self.num_classes}-class one (ignore {self.ignore_index})"
            )
        self.matrix += other.matrix
        self.unassigned += other.unassigned
        return self

    @property
    def total(self) -> int:
        """Number of counted (non-ignored target) pixels."""
        return int(self.matrix.sum() + self.unassigned.sum())

    def iou(self) -> np.ndarray:
        """Per-class intersection over union.

        Returns:
            ``(num_classes,)`` float64 in 0–1; ``nan`` for a class absent from both the
            predictions and the targets.
        """
        tp = np.diag(self.matrix).astype(np.float64)
        gt = self.matrix.sum(axis=1) + self.unassigned
        pred = self.matrix.sum(axis=0)
        union = gt + pred - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over classes present in targets or predictions (``nan`` if none)."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def pixel_accuracy(self) -> float:
        """Fraction of counted pixels predicted correctly, 0–1 (``nan`` before any pixel)."""
        total = self.total
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def class_accuracy(self) -> np.ndarray:
        """Per-class recall ``tp / target pixels``, ``(num_classes,)``; ``nan`` if absent."""
        gt = self.matrix.sum(axis=1) + self.unassigned
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gt > 0, np.diag(self.matrix) / np.maximum(gt, 1), np.nan)

    def mean_accuracy(self) -> float:
        """Mean of :meth:`class_accuracy` over classes present in the targets."""
        acc = self.class_accuracy()
        return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-safe summary: ``miou``, ``pixel_acc``, ``mean_acc``, ``per_class_iou``.

        Args:
            class_names: one name per class (default: ``"0"``, ``"1"``, ...).

        Returns:
            Metrics as floats in 0–1; ``None`` where undefined (a class absent from both
            predictions and targets, or no pixel counted yet).
        """
        names = (
            [str(i) for i in range(self.num_classes)] if class_names is None else list(class_names)
        )
        if len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
        iou = self.iou()
        return {
            "miou": _none_if_nan(self.miou()),
            "pixel_acc": _none_if_nan(self.pixel_accuracy()),
            "mean_acc": _none_if_nan(self.mean_accuracy()),
            "num_pixels": self.total,
            "per_class_iou": {n: _none_if_nan(v) for n, v in zip(names, iou)},
        }

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={self.total}, miou={self.miou():.4f})"
        )
