"""Feature pyramid network (Lin et al. 2017) as YOLACT uses it: P3–P5 from C3–C5 by lateral
1×1 convs and a top-down pathway, 3×3 smoothing, P6/P7 by stride-2 3×3 convs on P5; and the
two-way FPN of EfficientPS (:class:`TwoWayFPN`).

The forward pass is split so that YolactEdge's partial feature transform can recompute only
the high-resolution level: :meth:`FPN.top_down` gives the un-smoothed top-down features,
:meth:`FPN.p3_from` rebuilds P3 from a new C3 and a (warped) top-down P4, and
:meth:`FPN.extra` derives P6/P7 from P5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.conv import ConvBNAct, SeparableConvBNAct

__all__ = ["FPN", "TwoWayFPN"]


class FPN(nn.Module):
    """P3–P7 from C3–C5.

    Args:
        in_channels: channels of ``(C3, C4, C5)``.
        channels: channels of every pyramid level.
        extra_levels: levels above P5 (2 = P6 and P7, as in YOLACT).

    Input three maps ``(N, C3, H/8, W/8)``, ``(N, C4, H/16, W/16)``, ``(N, C5, H/32, W/32)``;
    output a list ``[P3, P4, P5, P6, P7]`` of ``(N, channels, ·, ·)`` (strides 8 … 128).
    """

    def __init__(
        self, in_channels: tuple[int, int, int], channels: int = 256, *, extra_levels: int = 2
    ) -> None:
        super().__init__()
        self.channels = channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels
        )
        self.downsample = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(extra_levels)
        )

    @staticmethod
    def _up_add(top: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
        return lat + F.interpolate(top, size=lat.shape[-2:], mode="bilinear", align_corners=False)

    def top_down(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> list[torch.Tensor]:
        """Un-smoothed top-down features ``[T3, T4, T5]``."""
        t5 = self.lateral[2](c5)
        t4 = self._up_add(t5, self.lateral[1](c4))
        t3 = self._up_add(t4, self.lateral[0](c3))
        return [t3, t4, t5]

    def p3_from(self, c3: torch.Tensor, t4: torch.Tensor) -> torch.Tensor:
        """Smoothed P3 from the current C3 and a top-down T4 (possibly warped)."""
        return F.relu(self.smooth[0](self._up_add(t4, self.lateral[0](c3))))

    def smooth_level(self, i: int, t: torch.Tensor) -> torch.Tensor:
        """Smoothed level ``i`` (0 = P3) from its top-down feature."""
        return F.relu(self.smooth[i](t))

    def extra(self, p5: torch.Tensor) -> list[torch.Tensor]:
        """``[P6, P7]`` from P5."""
        out, x = [], p5
        for conv in self.downsample:
            x = conv(x)
            out.append(x)
        return out

    def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> list[torch.Tensor]:
        ts = self.top_down(c3, c4, c5)
        ps = [self.smooth_level(i, t) for i, t in enumerate(ts)]
        return ps + self.extra(ps[2])


class TwoWayFPN(nn.Module):
    """The two-way FPN of EfficientPS (Mohan & Valada 2021), with depthwise-separable
    convolutions: a top-down pathway (upsample and add) and a bottom-up pathway (stride-2
    depthwise 3×3 conv and add) over 1×1 laterals of each level; each output level is the
    sum of both pathways refined by a separable 3×3 conv-BN-ReLU.

    Args:
        in_channels: channels of the input levels, finest first (e.g. ``C2 … C5``).
        channels: channels of every output level.

    Input a list of maps, finest first, each level half the size of the previous (sizes
    rounded up); output a list ``[P2, …]`` of ``(N, channels, ·, ·)`` at the same sizes.
    """

    def __init__(self, in_channels: tuple[int, ...], channels: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.lateral_td = nn.ModuleList(ConvBNAct(c, channels, 1, act=None) for c in in_channels)
        self.lateral_bu = nn.ModuleList(ConvBNAct(c, channels, 1, act=None) for c in in_channels)
        self.down = nn.ModuleList(
            ConvBNAct(channels, channels, 3, 2, groups=channels, act=None) for _ in in_channels[1:]
        )
        self.out = nn.ModuleList(SeparableConvBNAct(channels, channels, 3) for _ in in_channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(feats)
        td: list[torch.Tensor] = [self.lateral_td[-1](feats[-1])]
        for i in range(n - 2, -1, -1):
            td.insert(0, FPN._up_add(td[0], self.lateral_td[i](feats[i])))
        bu: list[torch.Tensor] = [self.lateral_bu[0](feats[0])]
        for i in range(1, n):
            bu.append(self.lateral_bu[i](feats[i]) + self.down[i - 1](bu[-1]))
        return [self.out[i](td[i] + bu[i]) for i in range(n)]
