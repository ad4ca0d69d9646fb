"""Deploy graphs of quantization-aware-trained models, one adapter per task.

QAT traces a model once (``torch.fx``) into a fake-quantized graph that must serve two
masters: the training loss, which wants the task's *training* outputs, and the exported ONNX
file, which must return what the FP32 export of that task returns (what the numpy
postprocess reads). An adapter says how to trace (:meth:`QatDeploy.before_trace`) and wraps
the trained graph into the deploy module (the operations it adds stay in float, after the
last quantize/dequantize pair); the file keeps the FP32 export's output names
(:func:`edgevision.export.onnx.deploy_module`). The task table names each task's adapter
(:attr:`edgevision.tasks.TaskDef.qat_deploy`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgevision.models.detection.head import deploy_scores

__all__ = ["QatDeploy", "YolactQatDeploy", "YoloQatDeploy"]


class QatDeploy(nn.Module):
    """Semantic segmentation: the graph's logits are the deploy output (``(N, C, h, w)``).

    Args:
        graph: the QAT-prepared (and trained) graph module.
        model: the float model it was traced from (for settings such as output widths).
    """

    def __init__(self, graph: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.graph = graph

    @staticmethod
    def before_trace(model: nn.Module) -> None:
        """Set the model up so that its traced forward returns the training outputs."""

    def forward(self, x: torch.Tensor) -> Any:
        return self.graph(x)


class YoloQatDeploy(QatDeploy):
    """YOLO detectors: traced with raw per-level maps (what the YOLO loss takes); deployed as
    the ``(N, A, 5 + C)`` sigmoid scores of the FP32 export."""

    def __init__(self, graph: nn.Module, model: nn.Module) -> None:
        super().__init__(graph, model)
        self.no = int(model.head.no)  # type: ignore[union-attr,arg-type]

    @staticmethod
    def before_trace(model: nn.Module) -> None:
        model.head.raw_output = True  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return deploy_scores(self.graph(x), self.no)


class YolactQatDeploy(QatDeploy):
    """YOLACT: traced forward returns ``{loc, conf, coef, proto, seg}`` (the loss's inputs);
    deployed as :class:`~edgevision.models.instance.yolact.YolactExport` outputs ``boxes,
    scores (softmax), coeffs, protos`` (the semantic head drops out of the file)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.graph(x)
        return out["loc"], out["conf"].softmax(-1), out["coef"], out["proto"]
