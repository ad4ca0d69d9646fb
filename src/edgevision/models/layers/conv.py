"""Convolution blocks: conv-BN-activation, depthwise-separable conv, MobileNetV2 inverted residual."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channel count ``v`` to a multiple of ``divisor`` without dropping more than 10%."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def init_conv_bn_(module: nn.Module) -> None:
    """Initialise ``module`` in place: He-normal (fan-out, ReLU gain) for every ``Conv2d``
    weight, ones and zeros for every ``BatchNorm2d`` weight and bias (conv biases keep
    PyTorch's default)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ConvBNAct(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> activation`` with "same" padding for odd kernels.

    Input/output: ``(N, C, H, W)`` float tensors; spatial size divided by ``stride``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        groups: int = 1,
        dilation: int = 1,
        act: Callable[[], nn.Module] | None = nn.ReLU6,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_ch,
                out_ch,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_ch),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)
        self.out_channels = out_ch


class SeparableConvBNAct(nn.Sequential):
    """Depthwise ``k×k`` conv-BN-act followed by pointwise conv-BN-act."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        *,
        dilation: int = 1,
        act: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(
            ConvBNAct(in_ch, in_ch, kernel_size, groups=in_ch, dilation=dilation, act=act),
            ConvBNAct(in_ch, out_ch, 1, act=act),
        )
        self.out_channels = out_ch


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual (MBConv): 1×1 expand -> k×k depthwise -> 1×1 linear project.

    A residual connection is used when ``stride == 1`` and channel counts match.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        stride: depthwise stride (1 or 2).
        expand_ratio: hidden channels = ``in_ch * expand_ratio``.
        kernel_size: depthwise kernel (3 in MobileNetV2, 5 in RFCR's fusion block).
        dilation: depthwise dilation (used instead of stride for output stride 16).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int,
        expand_ratio: float,
        *,
        kernel_size: int = 3,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = int(round(in_ch * expand_ratio))
        self.use_res = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(in_ch, hidden, 1))
        layers += [
            ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden, dilation=dilation),
            ConvBNAct(hidden, out_ch, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_res else y
