"""Atrous Spatial Pyramid Pooling (DeepLabV3), with optional depthwise-separable branches."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.conv import ConvBNAct, SeparableConvBNAct


class ASPP(nn.Module):
    """ASPP: a 1×1 branch, one dilated 3×3 branch per rate, and global image pooling.

    Input ``(N, in_ch, H, W)``; output ``(N, out_ch, H, W)``.

    Args:
        in_ch: input channels.
        out_ch: channels of each branch and of the output.
        rates: dilation rates of the 3×3 branches (6, 12, 18 at output stride 16).
        separable: depthwise-separable 3×3 branches (cheaper; DeepLabV3+ default).
        dropout: dropout after the projection (training only).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int = 256,
        rates: Sequence[int] = (6, 12, 18),
        *,
        separable: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvBNAct(in_ch, out_ch, 1, act=nn.ReLU)]
        for r in rates:
            if separable:
                branches.append(SeparableConvBNAct(in_ch, out_ch, 3, dilation=r))
            else:
                branches.append(ConvBNAct(in_ch, out_ch, 3, dilation=r, act=nn.ReLU))
        self.branches = nn.ModuleList(branches)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNAct(in_ch, out_ch, 1, act=nn.ReLU))
        self.project = nn.Sequential(
            ConvBNAct(out_ch * (len(rates) + 2), out_ch, 1, act=nn.ReLU), nn.Dropout(dropout)
        )
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = [b(x) for b in self.branches]
        feats.append(F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(feats, dim=1))
