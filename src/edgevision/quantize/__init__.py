"""Quantization: static / dynamic PTQ (ONNX Runtime QDQ), per-component mixed precision,
sensitivity analysis, and QAT. One verb over a :class:`QuantConfig`::

    from edgevision.quantize import QuantConfig, quantize_model
    quantize_model("best.pt", "m_int8.onnx", QuantConfig(method="entropy"), calib_data="data/camvid")

Importing this package imports nothing heavy; names are resolved lazily.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "QuantConfig": "edgevision.quantize.config",
    "parse_precision": "edgevision.config",
    "ImageFolderReader": "edgevision.quantize.calibration",
    "NodeMap": "edgevision.export.components",
    "build_node_map": "edgevision.export.components",
    "QuantResult": "edgevision.quantize.ptq",
    "QuantizationError": "edgevision.quantize.ptq",
    "quantize_model": "edgevision.quantize.ptq",
    "output_error": "edgevision.quantize.ptq",
    "QATConfig": "edgevision.quantize.qat",
    "quantize_qat": "edgevision.quantize.qat",
    "SensitivityReport": "edgevision.quantize.sensitivity",
    "analyze": "edgevision.quantize.sensitivity",
    "CompareOptions": "edgevision.quantize.compare",
    "compare_modes": "edgevision.quantize.compare",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
