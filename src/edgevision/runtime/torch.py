"""PyTorch backend: runs a registry model, a checkpoint or an ``nn.Module`` in eval mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.io import CHECKPOINT_SUFFIXES


def _to_numpy_list(out: Any) -> list[np.ndarray]:
    if isinstance(out, torch.Tensor):
        return [out.detach().cpu().numpy()]
    if isinstance(out, dict):
        return [v for x in out.values() for v in _to_numpy_list(x)]
    if isinstance(out, (list, tuple)):
        return [v for x in out for v in _to_numpy_list(x)]
    raise TypeError(f"unsupported model output type {type(out).__name__}")


class TorchEngine:
    """An ``nn.Module`` behind the :class:`~edgevision.runtime.Engine` protocol.

    Args:
        target: registry name (random init), checkpoint path, or ``nn.Module`` with ``.spec``.
        threads: ``torch.set_num_threads`` value.
        device: ``"cpu"`` or ``"cuda"``.
    """

    backend = "torch"
    precision = "fp32"

    def __init__(self, target: str | Path | nn.Module, *, threads: int = 2, device: str = "cpu"):
        torch.set_num_threads(threads)
        self.threads = threads
        self.device = torch.device(device)
        self.path: Path | None = None
        if isinstance(target, nn.Module):
            model = target
        elif Path(str(target)).suffix.lower() in CHECKPOINT_SUFFIXES:
            from edgevision.checkpoint import load_model

            self.path = Path(str(target))
            model = load_model(self.path)
        else:
            from edgevision.registry import create_model

            model = create_model(str(target))
        spec = getattr(model, "spec", None)
        if not isinstance(spec, ModelSpec):
            raise ModelFileError("torch engine: the model has no .spec (ModelSpec) attribute")
        self.spec: ModelSpec = spec
        self.model = model.eval().to(self.device)
        adapter = getattr(model, "export_adapter", None)
        self.runner: nn.Module = adapter() if callable(adapter) else self.model
        self.input_name = "images"

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return _to_numpy_list(
            self.runner(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        )

    def num_params(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "torch": torch.__version__,
            "device": str(self.device),
            "threads": self.threads,
            "precision": self.precision,
        }
