"""Deeper Atrous Spatial Pyramid Pooling (DASPP, Emara et al. 2019, LiteSeg).

ASPP made *deeper* and *thinner*: each dilated branch is a depthwise-separable 3×3 atrous
conv followed by a second (separable) 3×3 conv that refines it, branches are narrow
(96 channels instead of 256), and the module's input is concatenated with the branches
(a "short residual" by concatenation) before the 1×1 projection. Layout as in the authors'
reference code (``tahaemara/LiteSeg``, ``models/aspp.py`` and ``liteseg_mobilenet.py``):

- a 1×1 conv branch;
- for each rate r in (3, 6, 9): separable 3×3 conv, dilation r -> separable 3×3 conv;
- image pooling: global average -> 1×1 conv, broadcast back to ``H×W``;
- ``concat(input, branches...)`` -> separable 1×1 projection (= a 1×1 conv).

Every conv is followed by BatchNorm and ReLU. (The reference code leaves out the ReLU
after the 1×1 branch and between the two convs of a dilated branch; with it a branch is a
genuine two-layer block, which is what the paper's figure draws.) A "separable" conv is a
depthwise conv followed directly by a pointwise conv, with no normalisation in between.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class SepConvBNReLU(nn.Sequential):
    """Depthwise ``k×k`` conv (dilated) -> pointwise 1×1 conv -> BN -> ReLU, no bias.

    Input ``(N, in_ch, H, W)``; output ``(N, out_ch, H, W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1) -> None:
        pad = (kernel_size - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(
                in_ch, in_ch, kernel_size, 1, pad, dilation=dilation, groups=in_ch, bias=False
            ),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
        )
        self.out_channels = out_ch


def _conv1x1_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU())


class DASPP(nn.Module):
    """DASPP context module.

    Input ``(N, in_ch, H, W)`` float (LiteSeg: the stride-32, 1280-channel MobileNetV2
    features); output ``(N, out_ch, H, W)``.

    Args:
        in_ch: input channels.
        branch_ch: channels of each branch (96 in LiteSeg).
        out_ch: output channels of the projection (96 in LiteSeg).
        rates: dilation rates of the 3×3 branches ((3, 6, 9) at output stride 32).
    """

    def __init__(
        self,
        in_ch: int,
        branch_ch: int = 96,
        out_ch: int = 96,
        rates: Sequence[int] = (3, 6, 9),
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [_conv1x1_bn_relu(in_ch, branch_ch)]
        for r in rates:
            branches.append(
                nn.Sequential(
                    SepConvBNReLU(in_ch, branch_ch, 3, dilation=r),
                    SepConvBNReLU(branch_ch, branch_ch, 3),
                )
            )
        self.branches = nn.ModuleList(branches)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), _conv1x1_bn_relu(in_ch, branch_ch))
        self.project = _conv1x1_bn_relu(in_ch + branch_ch * (len(rates) + 2), out_ch)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = [x] + [b(x) for b in self.branches]
        feats.append(F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(feats, dim=1))
