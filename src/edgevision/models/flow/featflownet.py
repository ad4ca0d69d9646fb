"""FeatFlowNet (YolactEdge, Liu et al. 2021): optical flow from backbone features.

Instead of a FlowNet on pixels, the flow between the keyframe and the current frame is
estimated from their C3 backbone features (stride 8), which video mode computes on every
frame anyway. Both inputs are first reduced to 1/4 of their channels by a shared 1×1 conv;
their concatenation goes through a FlowNetS-like encoder (two stride-2 convs, to strides 16 and
32) and a coarse-to-fine decoder that predicts a flow at stride 32, then refines it at 16 and
8 (each prediction is a residual on the upsampled coarser flow, in pixels of its own level).

Flow convention: ``flow`` maps the **current** frame to the **keyframe**,
``cur(x) ≈ key(x + flow(x))``, so :func:`edgevision.models.flow.warp.warp` of keyframe features with
it gives features aligned with the current frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.flow.warp import resize_flow

__all__ = ["FeatFlowNet"]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


class FeatFlowNet(nn.Module):
    """Flow from two C3 feature maps.

    Args:
        in_channels: channels of C3.
        width: channels of the first encoder level (doubled at the next).

    ``forward(key_c3, cur_c3)`` with ``(N, C, h, w)`` each returns ``[flow8, flow16, flow32]``:
    ``(N, 2, h, w)``, ``(N, 2, ⌈h/2⌉, ⌈w/2⌉)``, ``(N, 2, ⌈h/4⌉, ⌈w/4⌉)`` float, each in pixels
    of its own resolution (stride 8, 16, 32 of the input).
    """

    def __init__(self, in_channels: int, *, width: int = 64) -> None:
        super().__init__()
        r = max(8, in_channels // 4)
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, r, 1), nn.LeakyReLU(0.1, inplace=True))
        self.enc8 = _conv(2 * r, width)
        self.enc16 = nn.Sequential(_conv(width, width, 2), _conv(width, width))
        self.enc32 = nn.Sequential(_conv(width, 2 * width, 2), _conv(2 * width, 2 * width))
        self.pred32 = nn.Conv2d(2 * width, 2, 3, padding=1)
        self.up32 = _conv(2 * width, width // 2)
        self.pred16 = nn.Conv2d(width + width // 2 + 2, 2, 3, padding=1)
        self.up16 = _conv(width + width // 2 + 2, width // 2)
        self.pred8 = nn.Conv2d(width + width // 2 + 2, 2, 3, padding=1)
        for p in (self.pred32, self.pred16, self.pred8):
            nn.init.normal_(p.weight, std=1e-3)
            if p.bias is not None:
                nn.init.zeros_(p.bias)

    @staticmethod
    def _up(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, key_c3: torch.Tensor, cur_c3: torch.Tensor) -> list[torch.Tensor]:
        x = torch.cat([self.reduce(key_c3), self.reduce(cur_c3)], 1)
        e8 = self.enc8(x)
        e16 = self.enc16(e8)
        e32 = self.enc32(e16)
        f32 = self.pred32(e32)
        u16 = resize_flow(f32, e16.shape[-2:])
        d16 = torch.cat([e16, self._up(self.up32(e32), e16), u16], 1)
        f16 = u16 + self.pred16(d16)
        u8 = resize_flow(f16, e8.shape[-2:])
        d8 = torch.cat([e8, self._up(self.up16(d16), e8), u8], 1)
        f8 = u8 + self.pred8(d8)
        return [f8, f16, f32]
