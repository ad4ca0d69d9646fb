"""RFCR: raw feature collection and redistribution (YOLO-ReT, Ganesh et al., WACV 2022).

Four backbone scales are *collected* (each projected by a 1×1 conv to ``channels`` and
resized to the fusion scale: average pooling down, nearest upsampling up), *fused* by a
learned weighted sum (non-negative weights normalised to sum to 1, the "fast normalised
fusion" of BiFPN), processed by one MBConv with a **5×5** depthwise kernel, and
*redistributed*: the fused map is resized back to every requested scale and concatenated
to that scale's raw backbone features, so every scale directly sees every other one
(including non-adjacent ones).

``shortcut=True`` adds the weighted sum to the MBConv output (a residual around the fusion
block; the paper's "+shortcut" row, which it reports as nearly free in latency). This is
our reading of the paper's figure; the Chinese summary in ``../shared/papers`` does not
pin it down further.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.conv import ConvBNAct, InvertedResidual

__all__ = ["RFCR"]


def _resize(x: torch.Tensor, factor: int, up: bool) -> torch.Tensor:
    if factor == 1:
        return x
    if up:
        return F.interpolate(x, scale_factor=float(factor), mode="nearest")
    return F.avg_pool2d(x, factor, factor)


class RFCR(nn.Module):
    """Raw feature collection and redistribution.

    Args:
        in_channels: channels of the collected inputs, fine to coarse.
        strides: stride of each input (powers of 2, increasing).
        channels: width of the fused representation.
        fuse_stride: stride at which the inputs are fused (one of ``strides``).
        out_indices: which inputs get the redistributed features back (and are returned).
        shortcut: residual around the fusion MBConv.
        expand_ratio: MBConv expansion.

    Input: list of ``(N, C_i, H/s_i, W/s_i)``; output: list over ``out_indices`` of
    ``(N, C_i + channels, H/s_i, W/s_i)``. ``out_channels`` lists the output widths.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        strides: Sequence[int],
        *,
        channels: int = 64,
        fuse_stride: int = 16,
        out_indices: Sequence[int] = (1, 2, 3),
        shortcut: bool = False,
        expand_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(strides):
            raise ValueError("in_channels and strides must have the same length")
        if fuse_stride not in strides:
            raise ValueError(f"fuse_stride {fuse_stride} is not one of the strides {list(strides)}")
        self.strides = [int(s) for s in strides]
        self.fuse_stride = int(fuse_stride)
        self.out_indices = [int(i) for i in out_indices]
        self.collect = nn.ModuleList(ConvBNAct(c, channels, 1) for c in in_channels)
        self.weights = nn.Parameter(torch.ones(len(in_channels)))
        self.fuse = InvertedResidual(channels, channels, 1, expand_ratio, kernel_size=5)
        self.fuse.use_res = False  # the shortcut is explicit (ablation switch)
        self.shortcut = bool(shortcut)
        self.out_channels = [in_channels[i] + channels for i in self.out_indices]

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        w = F.relu(self.weights)
        w = w / (w.sum() + 1e-4)
        fused: torch.Tensor | None = None
        for i, (m, f) in enumerate(zip(self.collect, feats)):
            s = self.strides[i]
            y = m(f)
            y = _resize(
                y, max(s, self.fuse_stride) // min(s, self.fuse_stride), s > self.fuse_stride
            )
            y = y * w[i]
            fused = y if fused is None else fused + y
        assert fused is not None
        g = self.fuse(fused)
        if self.shortcut:
            g = g + fused
        outs = []
        for i in self.out_indices:
            s = self.strides[i]
            r = _resize(
                g, max(s, self.fuse_stride) // min(s, self.fuse_stride), s < self.fuse_stride
            )
            outs.append(torch.cat([feats[i], r], 1))
        return outs
