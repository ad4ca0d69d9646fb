"""YOLO export adapter: in-graph NMS variant, decode + ONNX ``NonMaxSuppression`` inside the model file.

The default export (``predictions``: sigmoid scores, decoded and suppressed in numpy by
:func:`edgevision.postprocess.yolo.yolo_postprocess`) keeps the graph plain and the
post-processing measurable. :func:`export_onnx_nms` instead writes a file whose graph
decodes the boxes and runs the ONNX ``NonMaxSuppression`` operator (class-aware: per class),
with three outputs:

* ``boxes`` ``(N, A, 4)`` float32 xyxy in network-input pixels,
* ``scores`` ``(N, C, A)`` float32 ``objectness · class`` scores,
* ``selected`` ``(K, 3)`` int64 ``(image, class, box)`` of the kept boxes,

and ``spec.postprocess = "yolo_nms"`` (:func:`edgevision.postprocess.yolo.yolo_nms_postprocess`
only gathers, sorts and undoes the letterbox). Thresholds are fixed at export time and stored
in ``spec.extra["nms"]``.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from edgevision.config import ExportConfig, ModelSpec
from edgevision.export.onnx import (
    INPUT_NAME,
    ExportReport,
    resolve_model,
    torch_onnx_export,
    write_checked,
)
from edgevision.postprocess.nms import nms

__all__ = ["YoloNMSAdapter", "export_onnx_nms"]


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (exported as the operator; numpy reference in PyTorch)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        boxes: torch.Tensor,
        scores: torch.Tensor,
        max_out: torch.Tensor,
        iou: torch.Tensor,
        score_thr: torch.Tensor,
    ) -> torch.Tensor:
        b = boxes.detach().cpu().numpy()
        s = scores.detach().cpu().numpy()
        k, thr, st = int(max_out.item()), float(iou.item()), float(score_thr.item())
        rows = []
        for i in range(s.shape[0]):
            for c in range(s.shape[1]):
                cand = np.flatnonzero(s[i, c] > st)
                keep = cand[nms(b[i, cand], s[i, c, cand], thr, max_det=k)]
                rows += [(i, c, int(j)) for j in keep]
        return torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, max_out: Any, iou: Any, score_thr: Any) -> Any:
        return g.op(
            "NonMaxSuppression", boxes, scores, max_out, iou, score_thr, center_point_box_i=0
        )


class YoloNMSAdapter(nn.Module):
    """Wrap a YOLO detector: decode in the graph and add ``NonMaxSuppression``.

    Args:
        model: a ``yolov5*`` / ``yolo_ret_*`` model (a deep copy is wrapped).
        conf_threshold: score threshold (0–1).
        iou_threshold: NMS IoU threshold (0–1).
        max_det: most boxes kept per class and image.
    """

    output_names: ClassVar[list[str]] = ["boxes", "scores", "selected"]

    def __init__(
        self,
        model: nn.Module,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_det: int = 100,
    ) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        head: Any = self.model.head
        head.raw_output = True
        self.strides = list(head.strides)
        self.register_buffer("anchors", head.anchors.detach().clone())
        self.register_buffer("max_out", torch.tensor([max_det], dtype=torch.int64))
        self.register_buffer("iou", torch.tensor([iou_threshold], dtype=torch.float32))
        self.register_buffer("score_thr", torch.tensor([conf_threshold], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw = self.model(x)
        boxes, scores = [], []
        anchors: torch.Tensor = self.get_buffer("anchors")
        for lvl, p in enumerate(raw):
            n, na, h, w, no = p.shape
            s = p.sigmoid()
            gy, gx = torch.meshgrid(
                torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij"
            )
            grid = torch.stack([gx, gy], -1).view(1, 1, h, w, 2)
            stride = float(self.strides[lvl])
            xy = (s[..., :2] * 2 - 0.5 + grid) * stride
            wh = (s[..., 2:4] * 2) ** 2 * anchors[lvl].view(1, na, 1, 1, 2)
            b = torch.cat([xy - wh / 2, xy + wh / 2], -1).reshape(n, -1, 4)
            boxes.append(b)
            scores.append((s[..., 4:5] * s[..., 5:]).reshape(n, -1, no - 5))
        bx = torch.cat(boxes, 1)
        sc = torch.cat(scores, 1).transpose(1, 2).contiguous()
        sel = _NonMaxSuppression.apply(
            bx, sc, self.get_buffer("max_out"), self.get_buffer("iou"), self.get_buffer("score_thr")
        )
        return bx, sc, sel


def export_onnx_nms(
    target: str | Path | nn.Module,
    out: str | Path,
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_det: int = 100,
    input_size: tuple[int, int] | None = None,
    config: ExportConfig | None = None,
) -> ExportReport:
    """Export a detector with in-graph decode + NMS (see the module docstring).

    Args:
        target: registry name, checkpoint or model with ``.spec``.
        out: ``.onnx`` path.
        conf_threshold, iou_threshold, max_det: fixed NMS settings.
        input_size: ``(H, W)`` to record and trace at.
        config: :class:`~edgevision.config.ExportConfig` (the check compares all three
            outputs with the PyTorch reference on two input shapes).

    Returns:
        The :class:`~edgevision.export.onnx.ExportReport`.
    """
    cfg = config or ExportConfig()
    t0 = time.perf_counter()
    model = resolve_model(target)
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    if spec.postprocess != "yolo":
        raise ValueError(f"{spec.name} is not a YOLO detector (postprocess {spec.postprocess!r})")
    nms_extra = {
        "conf_threshold": conf_threshold,
        "iou_threshold": iou_threshold,
        "max_det": max_det,
    }
    spec = dataclasses.replace(
        spec,
        postprocess="yolo_nms",
        input_size=tuple(input_size or spec.input_size),  # type: ignore[arg-type]
        extra={**spec.extra, "nms": nms_extra},
    )
    adapter = YoloNMSAdapter(
        model, conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det
    ).eval()
    h, w = spec.input_size
    names = YoloNMSAdapter.output_names
    # per-output dynamic axes (the generic exporter marks H/W on every output)
    axes = {
        INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
        "boxes": {0: "batch", 1: "positions"},
        "scores": {0: "batch", 2: "positions"},
        "selected": {0: "num_selected"},
    }

    def trace(tmp: Path) -> None:
        torch_onnx_export(
            adapter,
            (torch.randn(1, 3, h, w),),
            tmp,
            opset=cfg.opset,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=axes,
        )

    metadata = {"edgevision.exported_by": "export_onnx_nms"}
    # boxes and scores are compared; `selected` may legitimately differ where scores tie
    # (ONNX Runtime's NMS does not keep the input order of equal scores)
    return write_checked(Path(out), trace, adapter, spec, cfg, names[:2], metadata, started=t0)
