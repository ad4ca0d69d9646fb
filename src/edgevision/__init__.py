"""edgevision: real-time computer vision on small, power-limited machines.

The top-level namespace re-exports the public API lazily: ``import edgevision`` imports
neither torch nor onnxruntime.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # core contracts
    "ModelSpec": "edgevision.config",
    "ExportConfig": "edgevision.config",
    "BenchConfig": "edgevision.config",
    "apply_overrides": "edgevision.config",
    "register_model": "edgevision.registry",
    "create_model": "edgevision.registry",
    "list_models": "edgevision.registry",
    "Detections": "edgevision.results",
    "InstanceMasks": "edgevision.results",
    "SemanticMask": "edgevision.results",
    "EdgeVisionError": "edgevision.errors",
    # build flow
    "save_checkpoint": "edgevision.checkpoint",
    "load_checkpoint": "edgevision.checkpoint",
    "load_model": "edgevision.checkpoint",
    "export_onnx": "edgevision.export",
    # run time
    "load_engine": "edgevision.runtime",
    "Predictor": "edgevision.runtime",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=["__version__"])
