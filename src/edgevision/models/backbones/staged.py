"""The interface the backbones share: a ``stem``, then named ``stages`` run in order."""

from __future__ import annotations

import torch
from torch import nn


class StagedBackbone(nn.Module):
    """A ``stem`` then ``stages`` (an ``nn.ModuleDict``, in order); ``forward`` returns every
    stage's output by name. Subclasses build ``stem`` and ``stages`` and fill
    ``out_channels`` and ``strides`` (stage name -> channels, stride).

    Input ``(N, 3, H, W)`` float; output ``{stage: (N, out_channels[stage], H / stride,
    W / stride)}`` (sizes rounded up).
    """

    stem: nn.Module
    stages: nn.ModuleDict
    out_channels: dict[str, int]
    strides: dict[str, int]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        feats: dict[str, torch.Tensor] = {}
        for name, stage in self.stages.items():
            x = stage(x)
            feats[name] = x
        return feats
