"""ESP module (Efficient Spatial Pyramid, Mehta et al. 2018, ESPNet v1) and its helpers.

An ESP module factorises a standard convolution into a point-wise *reduce* (1×1, or a
strided 3×3 when it downsamples) to ``d = out_ch / K`` channels, followed by a *split*
into ``K`` parallel 3×3 dilated convolutions at rates ``2^k`` (1, 2, 4, 8, 16 for K = 5).
Hierarchical feature fusion (HFF) adds the dilated outputs cumulatively (rate 2, then
2+4, 2+4+8 ...) before concatenating, which removes the gridding artefacts of large
dilations; a residual connection is added when input and output shapes match.
"""

from __future__ import annotations

import torch
from torch import nn


class BNPReLU(nn.Sequential):
    """``BatchNorm2d(eps=1e-3) -> PReLU`` (per channel), ESPNet's normalisation + activation.

    Input/output ``(N, C, H, W)``.
    """

    def __init__(self, ch: int) -> None:
        super().__init__(nn.BatchNorm2d(ch, eps=1e-3), nn.PReLU(ch))


class ConvBNPReLU(nn.Sequential):
    """``Conv2d (no bias) -> BatchNorm2d -> PReLU`` with "same" padding.

    Input ``(N, in_ch, H, W)``; output ``(N, out_ch, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_ch, eps=1e-3),
            nn.PReLU(out_ch),
        )


class ESPModule(nn.Module):
    """ESP module: reduce -> split (K dilated 3×3 convs) -> HFF -> concat (-> + input) -> BN-PReLU.

    Input ``(N, in_ch, H, W)``; output ``(N, out_ch, H/stride, W/stride)`` (ceil).

    Args:
        in_ch: input channels.
        out_ch: output channels; each branch gets ``out_ch // K`` channels, the first
            (rate 1) branch the remainder so the concatenation is exactly ``out_ch``.
        stride: 1, or 2 for the downsampling variant (strided 3×3 reduce, no residual).
        branches: K, the number of parallel dilated convs (rates ``1, 2, ..., 2^(K-1)``).
        residual: add the input to the concatenation (stride 1 and ``in_ch == out_ch``
            only; ESPNet's decoder uses an ESP module without it).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        *,
        stride: int = 1,
        branches: int = 5,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if branches < 1 or out_ch < branches:
            raise ValueError(f"need 1 <= branches <= out_ch, got {branches} and {out_ch}")
        d = out_ch // branches
        first = out_ch - (branches - 1) * d
        k = 3 if stride == 2 else 1
        self.reduce = nn.Conv2d(in_ch, d, k, stride, k // 2, bias=False)
        self.split = nn.ModuleList(
            nn.Conv2d(d, first if i == 0 else d, 3, 1, 2**i, dilation=2**i, bias=False)
            for i in range(branches)
        )
        self.residual = residual and stride == 1 and in_ch == out_ch
        self.act = BNPReLU(out_ch)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        outs = [conv(y) for conv in self.split]
        # hierarchical feature fusion: cumulative sums over the dilated (rate >= 2) branches
        fused = [outs[0]]
        for o in outs[1:]:
            fused.append(o if len(fused) == 1 else fused[-1] + o)
        out = torch.cat(fused, dim=1)
        if self.residual:
            out = out + x
        return self.act(out)


class InputProjection(nn.Module):
    """Input reinforcement: the RGB image average-pooled ``times`` times by 2 (3×3, pad 1).

    Input ``(N, 3, H, W)``; output ``(N, 3, H/2^times, W/2^times)`` (ceil at each step).
    """

    def __init__(self, times: int) -> None:
        super().__init__()
        self.pool = nn.Sequential(*(nn.AvgPool2d(3, 2, 1) for _ in range(times)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)
