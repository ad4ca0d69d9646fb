"""Export: ONNX (with embedded metadata, checked against PyTorch in ONNX Runtime).

:func:`export_onnx` exports any registered model (through its ``export_adapter()`` when it
has one); the model-specific adapters live next to it: :mod:`.yolo` (in-graph NMS variant,
:func:`export_onnx_nms`) and :mod:`.yolact` (one graph per YOLACT component,
:func:`export_components`). Names are imported lazily: reading metadata needs no torch.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ExportReport": "edgevision.export.onnx",
    "export_onnx": "edgevision.export.onnx",
    "embed_spec": "edgevision.export.metadata",
    "read_spec": "edgevision.export.metadata",
    "export_onnx_nms": "edgevision.export.yolo",
    "ComponentExport": "edgevision.export.yolact",
    "export_components": "edgevision.export.yolact",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
