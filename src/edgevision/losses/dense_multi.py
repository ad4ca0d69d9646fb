"""Losses of the dense multi-head tasks, each masked where a label is missing.

* :class:`DepthSegLoss` (``depthseg``): cross-entropy (optionally class-weighted) on the class logits (pixels with the
  ignore id left out) plus L1 of log depth on the pixels with depth truth (depth ``<= 0``
  = none). A batch from a dataset with only one kind of truth (CamVid: classes; synthetic
  depth-only data: depth) trains only that head.
* :class:`PanopticLoss` (``panoptic``): cross-entropy, the centre heatmap (MSE, as
  Panoptic-DeepLab) where the centre truth is known, and L1 of the offsets on the pixels
  of objects.

Predictions are upsampled (bilinear) to the target size first; offsets are scaled with
them, since they are in output pixels. Each term is a mean over its own valid pixels, and
0 (with a zero gradient) when a batch has none.

Targets travel as one float tensor per batch (the training loop moves one tensor to the
device), channels as the datasets in :mod:`edgevision.train.dense_multi` write them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DepthSegLoss", "PanopticLoss", "masked_ce"]


def _up(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``x`` resized (bilinear) to the last two dims of ``size``."""
    if tuple(x.shape[-2:]) == tuple(size[-2:]):
        return x
    return F.interpolate(x, size=tuple(size[-2:]), mode="bilinear", align_corners=False)


def masked_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy over the pixels whose label is not ``ignore_index``; 0 when there are
    none (``F.cross_entropy``'s mean would be NaN).

    Args:
        logits: ``(N, C, h, w)``, upsampled to the labels' size.
        labels: ``(N, H, W)`` int64.
        ignore_index: label of pixels without a class.
        class_weights: ``(C,)`` per-class weights (e.g. class-balanced); the mean is then
            weighted as ``F.cross_entropy``'s (divided by the summed weights of the labelled
            pixels).
    """
    logits = _up(logits, tuple(labels.shape[-2:]))
    w = None if class_weights is None else class_weights.to(logits.device, logits.dtype)
    total = F.cross_entropy(logits, labels, weight=w, ignore_index=ignore_index, reduction="sum")
    valid = labels != ignore_index
    if w is None:
        return total / valid.sum().clamp(min=1)
    return total / w[labels[valid]].sum().clamp(min=1e-12)


def _weights(
    class_weights: Sequence[float] | np.ndarray | torch.Tensor | None,
) -> torch.Tensor | None:
    if class_weights is None:
        return None
    w = torch.as_tensor(class_weights, dtype=torch.float32).flatten()
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError("class_weights must be finite, >= 0 and not all 0")
    return w


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp(min=1)


class DepthSegLoss(nn.Module):
    """``CE + depth_weight * L1(log depth)``, each over its labelled pixels.

    Args:
        ignore_index: label of pixels without a class.
        depth_weight: weight of the depth term.
        class_weights: per-class weights of the cross-entropy (``None`` = equal).

    Call with ``((logits, depth), target)``: ``logits (N, C, h, w)``, ``depth (N, 1, h, w)``
    metres, ``target (N, 2, H, W)`` float: channel 0 the class ids, channel 1 the depth
    (``<= 0``: no truth).
    """

    def __init__(
        self,
        *,
        ignore_index: int,
        depth_weight: float = 1.0,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.depth_weight = float(depth_weight)
        self.class_weights = _weights(class_weights)

    def forward(
        self, outputs: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        logits, depth = outputs
        labels = target[:, 0].round().to(torch.int64)
        gt = target[:, 1:2]
        ce = masked_ce(logits, labels, self.ignore_index, self.class_weights)
        pred = _up(depth, tuple(gt.shape[-2:])).clamp(min=1e-3)
        valid = (gt > 0).to(pred.dtype)
        err = (torch.log(pred) - torch.log(gt.clamp(min=1e-3))).abs()
        return ce + self.depth_weight * _masked_mean(err, valid)


class PanopticLoss(nn.Module):
    """``CE + center_weight * MSE(centre) + offset_weight * L1(offset)``.

    Args:
        ignore_index: label of pixels without a class.
        center_weight: weight of the centre heatmap term (Panoptic-DeepLab: 200).
        offset_weight: weight of the offset term, offsets in input pixels
            (Panoptic-DeepLab: 0.01).
        class_weights: per-class weights of the cross-entropy (``None`` = equal).

    Call with ``((logits, center, offset), target)``: the model's outputs and ``target (N,
    6, H, W)`` float: class ids, centre heatmap (0–1), offset ``dy``, ``dx`` (input pixels),
    offset weight (1 on object pixels) and centre weight (0 where unknown).
    """

    def __init__(
        self,
        *,
        ignore_index: int,
        center_weight: float = 200.0,
        offset_weight: float = 0.01,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.center_weight = float(center_weight)
        self.offset_weight = float(offset_weight)
        self.class_weights = _weights(class_weights)

    def forward(
        self, outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        logits, center, offset = outputs
        size = tuple(target.shape[-2:])
        labels = target[:, 0].round().to(torch.int64)
        ce = masked_ce(logits, labels, self.ignore_index, self.class_weights)
        c = _up(center, size)
        c_loss = _masked_mean((c - target[:, 1:2]) ** 2, target[:, 5:6])
        scale = torch.tensor(
            [size[0] / offset.shape[-2], size[1] / offset.shape[-1]], device=offset.device
        ).view(1, 2, 1, 1)
        o = _up(offset, size) * scale
        o_loss = _masked_mean((o - target[:, 2:4]).abs().sum(1, keepdim=True), target[:, 4:5])
        return ce + self.center_weight * c_loss + self.offset_weight * o_loss
