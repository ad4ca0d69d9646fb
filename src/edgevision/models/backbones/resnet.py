"""ResNet backbones (He et al. 2016) in plain PyTorch: ResNet-18/34 (basic blocks) and
ResNet-50/101 (bottlenecks), with a width multiplier for small CPU variants.

Same interface as :class:`~edgevision.models.backbones.mobilenetv2.MobileNetV2`: ``stem`` then
``stages`` (an ``nn.ModuleDict`` in order ``c2`` stride 4, ``c3`` 8, ``c4`` 16, ``c5`` 32),
``forward`` returns ``dict[str, Tensor]``, ``out_channels`` and ``strides`` map stage names to
channels and strides.
"""

from __future__ import annotations

import torch
from torch import nn

from edgevision.models.backbones.staged import StagedBackbone
from edgevision.models.layers.conv import init_conv_bn_

__all__ = ["RESNET_LAYERS", "ResNet"]

RESNET_LAYERS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}


def _conv_bn(cin: int, cout: int, k: int, s: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, s, k // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    """``relu(body(x) + shortcut(x))``; the shortcut is a strided 1×1 conv-BN where the
    shape changes, else the identity."""

    expansion = 1

    def __init__(self, body: nn.Sequential, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = body
        self.short = (
            _conv_bn(cin, cout, 1, stride, False) if stride != 1 or cin != cout else nn.Identity()
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.short(x))


class _Basic(_Residual):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        cout = planes * self.expansion
        body = nn.Sequential(_conv_bn(cin, planes, 3, stride), _conv_bn(planes, cout, 3, 1, False))
        super().__init__(body, cin, cout, stride)


class _Bottleneck(_Residual):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        cout = planes * self.expansion
        body = nn.Sequential(
            _conv_bn(cin, planes, 1),
            _conv_bn(planes, planes, 3, stride),
            _conv_bn(planes, cout, 1, 1, False),
        )
        super().__init__(body, cin, cout, stride)


class ResNet(StagedBackbone):
    """ResNet feature extractor.

    Args:
        depth: 18, 34, 50 or 101.
        width_mult: multiplier of every stage's width (1.0 = the paper's 64 … 512 planes).

    Input ``(N, 3, H, W)`` float; output ``{"c2": (N, C2, H/4, W/4), ..., "c5": (N, C5,
    H/32, W/32)}`` (sizes rounded up).
    """

    def __init__(self, *, depth: int = 50, width_mult: float = 1.0) -> None:
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
        kind, counts = RESNET_LAYERS[depth]
        block: type[_Basic] | type[_Bottleneck] = _Basic if kind == "basic" else _Bottleneck
        base = max(8, int(round(64 * width_mult / 8)) * 8)
        self.stem = nn.Sequential(_conv_bn(3, base, 7, 2), nn.MaxPool2d(3, 2, 1))
        self.out_channels: dict[str, int] = {}
        self.strides: dict[str, int] = {}
        stages: dict[str, nn.Sequential] = {}
        cin, stride = base, 4
        for i, n in enumerate(counts):
            planes = base * 2**i
            s = 1 if i == 0 else 2
            stride *= s
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, s if j == 0 else 1))
                cin = planes * block.expansion
            name = f"c{i + 2}"
            stages[name] = nn.Sequential(*blocks)
            self.out_channels[name] = cin
            self.strides[name] = stride
        self.stages = nn.ModuleDict(stages)
        init_conv_bn_(self)
