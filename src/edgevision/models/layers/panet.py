"""Multi-scale feature aggregation for detectors: none, FPN (top-down) or PANet (top-down +
bottom-up), over features ordered fine to coarse (e.g. strides 8, 16, 32).

The blocks are depthwise-separable conv-BN-ReLU6 (cheap, INT8-friendly), as used on the
YOLO-ReT models; YOLOv5 keeps its own CSP PANet in :mod:`edgevision.models.detection.yolov5`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.conv import ConvBNAct

__all__ = ["AGGREGATIONS", "FeatureAggregation"]

AGGREGATIONS = ("none", "fpn", "panet")


def _dw_block(ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        ConvBNAct(ch, ch, 3, stride, groups=ch),
        ConvBNAct(ch, ch, 1),
    )


class FeatureAggregation(nn.Module):
    """Aggregate ``L`` feature maps (fine to coarse, each stride 2× the previous).

    Args:
        in_channels: channels of each input level.
        out_channels: channels of every output level.
        mode: ``"none"`` (1×1 projection only), ``"fpn"`` (lateral 1×1 + top-down sum +
            3×3 DW-separable smoothing) or ``"panet"`` (FPN, then a bottom-up path with
            stride-2 DW convs).

    Input: list of ``(N, C_i, H_i, W_i)``; output: list of ``(N, out_channels, H_i, W_i)``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        *,
        mode: Literal["none", "fpn", "panet"] = "fpn",
    ) -> None:
        super().__init__()
        if mode not in AGGREGATIONS:
            raise ValueError(f"mode must be one of {AGGREGATIONS}, got {mode!r}")
        self.mode = mode
        self.lateral = nn.ModuleList(ConvBNAct(c, out_channels, 1) for c in in_channels)
        n = len(in_channels)
        self.smooth = nn.ModuleList(
            _dw_block(out_channels) for _ in range(n if mode != "none" else 0)
        )
        self.down = nn.ModuleList(
            _dw_block(out_channels, 2) for _ in range(n - 1 if mode == "panet" else 0)
        )
        self.bottom_up = nn.ModuleList(
            _dw_block(out_channels) for _ in range(n - 1 if mode == "panet" else 0)
        )
        self.out_channels = [out_channels] * n

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        lat = [m(f) for m, f in zip(self.lateral, feats)]
        if self.mode == "none":
            return lat
        # top-down
        outs = [lat[-1]]
        for i in range(len(lat) - 2, -1, -1):
            up = F.interpolate(outs[0], size=lat[i].shape[-2:], mode="nearest")
            outs.insert(0, lat[i] + up)
        outs = [m(o) for m, o in zip(self.smooth, outs)]
        if self.mode == "fpn":
            return outs
        # bottom-up
        res = [outs[0]]
        for i in range(1, len(outs)):
            res.append(self.bottom_up[i - 1](outs[i] + self.down[i - 1](res[-1])))
        return res
