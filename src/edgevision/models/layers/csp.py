"""YOLOv5 building blocks: Conv-BN-SiLU, Focus / 6×6 stem, CSP bottleneck (C3), SPPF.

All take and return ``(N, C, H, W)`` float tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from edgevision.models.layers.conv import ConvBNAct

__all__ = ["C3", "SPPF", "Bottleneck", "Focus", "conv_silu"]


def conv_silu(in_ch: int, out_ch: int, k: int = 1, s: int = 1) -> ConvBNAct:
    """YOLOv5's ``Conv``: ``k×k`` conv (stride ``s``, same padding), BN, SiLU."""
    return ConvBNAct(in_ch, out_ch, k, s, act=nn.SiLU)


class Focus(nn.Module):
    """YOLOv5 (≤ v5.0) Focus stem: space-to-depth (2×2 pixels -> 4× channels), then a conv.

    ``(N, 3, H, W)`` -> ``(N, out_ch, H/2, W/2)``. Numerically equivalent in receptive field to
    the 6×6/stride-2 conv that replaced it, but made of slicing + concat, which is slow on
    many CPUs and edge GPUs (the ablation measures it).
    """

    def __init__(self, in_ch: int, out_ch: int, k: int = 3) -> None:
        super().__init__()
        self.conv = conv_silu(in_ch * 4, out_ch, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(
            torch.cat(
                [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1
            )
        )


class Bottleneck(nn.Module):
    """1×1 conv -> 3×3 conv, with a residual when ``shortcut`` and channels match."""

    def __init__(self, in_ch: int, out_ch: int, *, shortcut: bool = True, e: float = 1.0) -> None:
        super().__init__()
        hidden = int(out_ch * e)
        self.cv1 = conv_silu(in_ch, hidden, 1)
        self.cv2 = conv_silu(hidden, out_ch, 3)
        self.add = shortcut and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck with 3 convolutions (YOLOv5): half the channels go through ``n``
    bottlenecks, half bypass them, then both are concatenated and mixed by a 1×1 conv."""

    def __init__(self, in_ch: int, out_ch: int, n: int = 1, *, shortcut: bool = True) -> None:
        super().__init__()
        hidden = out_ch // 2
        self.cv1 = conv_silu(in_ch, hidden, 1)
        self.cv2 = conv_silu(in_ch, hidden, 1)
        self.cv3 = conv_silu(2 * hidden, out_ch, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut=shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5×5 max-pools (= 5, 9, 13 windows)."""

    def __init__(self, in_ch: int, out_ch: int, k: int = 5) -> None:
        super().__init__()
        hidden = in_ch // 2
        self.cv1 = conv_silu(in_ch, hidden, 1)
        self.cv2 = conv_silu(hidden * 4, out_ch, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], 1))
