"""Export: ONNX (with embedded metadata, checked against PyTorch in ONNX Runtime).

:func:`export_onnx` exports any registered model (through its ``export_adapter()`` when it
has one); the model-specific adapters live next to it: :mod:`.yolo` (in-graph NMS variant,
:func:`export_onnx_nms`) and :mod:`.yolact` (one graph per YOLACT component,
:func:`export_components`). Names are imported lazily: reading metadata needs no torch.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.export.onnx": ("ExportReport", "export_onnx"),
    "edgevision.export.metadata": ("embed_spec", "read_spec"),
    "edgevision.export.yolo": ("export_onnx_nms",),
    "edgevision.export.yolact": ("ComponentExport", "export_components"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
