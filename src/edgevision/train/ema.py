"""Exponential moving average of a model's weights (evaluated and saved instead of the raw
weights when enabled)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """``ema = d * ema + (1 - d) * weights`` after every optimizer step.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first updates ``n``, so
    early averages are not dominated by the random init. Buffers (BatchNorm statistics) are
    copied, not averaged.

    Args:
        model: the model being trained (unwrapped, not DDP).
        decay: final decay per update, 0–1.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.updates = 0
        self._params = {k for k, _ in self.module.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` into the average."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            s = src[k].detach()
            if k in self._params and v.dtype.is_floating_point:
                v.mul_(d).add_(s.to(v.dtype), alpha=1 - d)
            else:
                v.copy_(s)

    def state_dict(self) -> dict[str, Any]:
        """Plain state (tensors, ints, floats), loadable with ``weights_only=True``."""
        return {
            "decay": self.decay,
            "updates": self.updates,
            "model": {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self.module.load_state_dict(state["model"])
