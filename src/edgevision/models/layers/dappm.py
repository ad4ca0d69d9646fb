"""Deep Aggregation Pyramid Pooling Module (DAPPM, Hong et al. 2021, DDRNet).

Context at several scales from the lowest-resolution features: average pools with growing
kernels (5/s2, 9/s4, 17/s8) and a global pool, each reduced by a 1×1 conv, upsampled and
fused *hierarchically* — every scale is added to the previous scale's refined output before
its own 3×3 conv — then concatenated, compressed by a 1×1 conv and added to a 1×1 shortcut.

All convs are pre-activation (``BN -> ReLU -> conv``) as in the reference implementation.
Export-friendly: fixed-kernel ``AvgPool2d`` (``count_include_pad`` default), a global
average pool, and bilinear resizes whose sizes come from the input tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _bn_relu_conv(in_ch: int, out_ch: int, kernel_size: int = 1) -> list[nn.Module]:
    return [
        nn.BatchNorm2d(in_ch),
        nn.ReLU(),
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
    ]


class DAPPM(nn.Module):
    """DAPPM context module.

    Input ``(N, in_ch, H, W)`` float (in DDRNet the 1/64-resolution features); output
    ``(N, out_ch, H, W)``.

    Args:
        in_ch: input channels (512 in DDRNet-23-slim).
        branch_ch: channels of each pyramid branch (128 in DDRNet-23-slim).
        out_ch: output channels (128 in DDRNet-23-slim).
        pools: ``(kernel, stride)`` of the local average pools, smallest first; a global
            average pool is always added as the last scale.
    """

    def __init__(
        self,
        in_ch: int,
        branch_ch: int,
        out_ch: int,
        *,
        pools: tuple[tuple[int, int], ...] = ((5, 2), (9, 4), (17, 8)),
    ) -> None:
        super().__init__()
        self.scale0 = nn.Sequential(*_bn_relu_conv(in_ch, branch_ch))
        scales: list[nn.Module] = [
            nn.Sequential(nn.AvgPool2d(k, s, k // 2), *_bn_relu_conv(in_ch, branch_ch))
            for k, s in pools
        ]
        scales.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), *_bn_relu_conv(in_ch, branch_ch)))
        self.scales = nn.ModuleList(scales)
        self.process = nn.ModuleList(
            nn.Sequential(*_bn_relu_conv(branch_ch, branch_ch, 3)) for _ in scales
        )
        self.compression = nn.Sequential(*_bn_relu_conv(branch_ch * (len(scales) + 1), out_ch))
        self.shortcut = nn.Sequential(*_bn_relu_conv(in_ch, out_ch))
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [self.scale0(x)]
        for scale, process in zip(self.scales, self.process):
            y = F.interpolate(scale(x), size=size, mode="bilinear", align_corners=False)
            outs.append(process(y + outs[-1]))
        return self.compression(torch.cat(outs, dim=1)) + self.shortcut(x)
