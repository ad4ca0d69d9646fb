"""The YOLO anchor head shared by ``yolov5*`` and ``yolo_ret_*``.

Per level a ``1×1`` conv predicts ``na · (5 + C)`` values per cell. In training mode the
head returns the raw maps (for :class:`edgevision.losses.detection.YoloLoss`); in eval mode
(and in exported ONNX files) one tensor ``(N, A, 5 + C)`` of sigmoid scores in the order
(level, anchor, row, column), decoded by :func:`edgevision.postprocess.yolo.yolo_postprocess`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from edgevision.postprocess.yolo import DEFAULT_ANCHORS, STRIDES

__all__ = ["YoloHead", "deploy_scores", "normalize_anchors"]

AnchorSpec = Sequence[Sequence[float]]


def normalize_anchors(anchors: AnchorSpec | None) -> tuple[tuple[float, ...], ...]:
    """Anchors as 3 tuples of ``(w, h)`` pairs (pixels), same count per level.

    Raises:
        ValueError: wrong number of levels, odd lengths or non-positive sizes.
    """
    a = tuple(tuple(float(v) for v in lvl) for lvl in (anchors or DEFAULT_ANCHORS))
    if len(a) != len(STRIDES):
        raise ValueError(f"anchors: need {len(STRIDES)} levels, got {len(a)}")
    if any(len(lvl) % 2 or len(lvl) != len(a[0]) or not lvl for lvl in a):
        raise ValueError("anchors: each level needs the same number of (w, h) pairs")
    if any(v <= 0 for lvl in a for v in lvl):
        raise ValueError("anchors: sizes must be positive")
    return a


class YoloHead(nn.Module):
    """Anchor-based 3-scale detection head.

    Args:
        in_channels: channels of the stride-8, -16 and -32 features.
        num_classes: ``C``.
        anchors: per level ``(w, h)`` pairs in input pixels.
        strides: strides of the levels.

    Attributes:
        anchors: buffer ``(L, na, 2)`` float32 anchor sizes in pixels.
        strides: the strides (list of int).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        anchors: AnchorSpec | None = None,
        strides: Sequence[int] = STRIDES,
    ) -> None:
        super().__init__()
        a = normalize_anchors(anchors)
        self.num_classes = int(num_classes)
        self.na = len(a[0]) // 2
        self.no = 5 + self.num_classes
        self.strides = [int(s) for s in strides]
        self.register_buffer("anchors", torch.tensor(a, dtype=torch.float32).view(len(a), -1, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in in_channels)
        self.raw_output = False  # eval mode returns the raw maps too (in-graph NMS export)
        self._init_bias()

    def _init_bias(self) -> None:
        # YOLOv5's prior: ~8 objects per 640² image, class probability ~0.6 / C
        for conv, s in zip(self.m, self.strides):
            b = conv.bias.view(self.na, -1)  # type: ignore[union-attr,operator]
            with torch.no_grad():
                b[:, 4] += math.log(8 / (640 / s) ** 2)
                b[:, 5:] += math.log(0.6 / (self.num_classes - 0.99 + 1e-6))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        """Training (or ``raw_output``): list of raw ``(N, na, H_l, W_l, 5 + C)``; eval:
        ``(N, A, 5 + C)`` sigmoid scores."""
        outs = []
        for conv, f in zip(self.m, feats):
            y = conv(f)
            n, _, h, w = y.shape
            outs.append(y.view(n, self.na, self.no, h, w).permute(0, 1, 3, 4, 2))
        if self.training or self.raw_output:
            return outs
        return deploy_scores(outs, self.no)


def deploy_scores(maps: Sequence[torch.Tensor], no: int) -> torch.Tensor:
    """Raw per-level maps ``(N, na, H_l, W_l, no = 5 + C)`` -> the deploy output
    ``(N, A, 5 + C)`` sigmoid scores (levels concatenated, A = Σ na·H_l·W_l), which the numpy
    postprocess decodes. ``no`` is a Python int, so the exported graph has no shape ops."""
    return torch.cat([o.reshape(o.shape[0], -1, no) for o in maps], 1).sigmoid()
