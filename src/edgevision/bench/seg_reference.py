"""The speed reference of the compression targets: a segmentation checkpoint run "the usual
way" — torch eager FP32, logits upsampled to the input size, then argmax.

The first compression target compares our end-to-end INT8 path with "the reference
implementation run the usual way (torch eager FP32, logits upsampled then argmax)":
normalise the image into a tensor, run the network in eager mode, ``F.interpolate`` all C
logit channels (bilinear) to the image size and take ``argmax`` over them.
:class:`TorchLogitsReference` does exactly that with *our* trained network (the same
architecture), so the two paths differ only in the runtime and the label-map step (ours:
ONNX Runtime, argmax at the output resolution, labels upsampled nearest). The benchmark
worker uses it for the end-to-end stages when ``BenchConfig.semantic_reference`` is set
(backend ``torch``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError
from edgevision.tasks import get_task

__all__ = ["TorchLogitsReference"]


class TorchLogitsReference:
    """``timed(image) -> (labels, stages)`` of a semantic model in torch eager FP32.

    Args:
        engine: a :class:`~edgevision.runtime.torch.TorchEngine` (its network in eval mode,
            through the same export adapter the benchmark times).

    Raises:
        ConfigError: not a semantic-segmentation model, or not the torch backend.
    """

    def __init__(self, engine: Any) -> None:
        spec: ModelSpec = engine.spec
        if getattr(engine, "backend", None) != "torch":
            raise ConfigError("the torch logits reference needs --backend torch")
        if not get_task(spec.task).dense:
            raise ConfigError(
                f"the torch logits reference is for semantic segmentation, got {spec.task!r}"
            )
        self.runner: nn.Module = engine.runner
        self.spec = spec
        self._mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float()
        if self.spec.color_order == "BGR":
            x = x.flip(1)
        h, w = (int(v) for v in self.spec.input_size)
        if tuple(x.shape[-2:]) != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return (x - self._mean) / self._std

    def timed(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Label map ``(H, W)`` int64 at the image size, and the stage times in ms."""
        with torch.inference_mode():
            t0 = time.perf_counter()
            x = self._tensor(image)
            t1 = time.perf_counter()
            out: Any = self.runner(x)
            logits = out["out"] if isinstance(out, dict) else out
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            t2 = time.perf_counter()
            size = (int(image.shape[0]), int(image.shape[1]))
            up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            labels = up.argmax(1)[0].numpy()
            t3 = time.perf_counter()
        return labels, {
            "preprocess": (t1 - t0) * 1e3,
            "inference": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
        }
