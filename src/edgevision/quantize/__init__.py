"""Quantization: static / dynamic PTQ (ONNX Runtime QDQ), per-component mixed precision,
sensitivity analysis, and QAT. One verb over a :class:`QuantConfig`::

    from edgevision.quantize import QuantConfig, quantize_model
    quantize_model("best.pt", "m_int8.onnx", QuantConfig(method="entropy"), calib_data="data/camvid")

Importing this package imports nothing heavy; names are resolved lazily.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.quantize.config": ("QuantConfig",),
    "edgevision.config": ("parse_precision",),
    "edgevision.quantize.calibration": ("ImageFolderReader",),
    "edgevision.export.components": ("NodeMap", "build_node_map"),
    "edgevision.quantize.ptq": (
        "QuantResult",
        "QuantizationError",
        "quantize_model",
        "output_error",
    ),
    "edgevision.quantize.qat": ("QATConfig", "quantize_qat"),
    "edgevision.quantize.sensitivity": ("SensitivityReport", "analyze"),
    "edgevision.quantize.compare": ("CompareOptions", "compare_modes"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
