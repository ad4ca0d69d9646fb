"""edgevision: real-time computer vision on small, power-limited machines.

The top-level namespace re-exports the public API lazily: ``import edgevision`` imports
neither torch nor onnxruntime.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports
from edgevision._version import __version__ as __version__

_EXPORTS = {
    # core contracts
    "edgevision.config": ("ModelSpec", "ExportConfig", "BenchConfig", "apply_overrides"),
    "edgevision.registry": ("register_model", "create_model", "list_models"),
    "edgevision.results": ("Detections", "InstanceMasks", "SemanticMask"),
    "edgevision.errors": ("EdgeVisionError",),
    # build flow
    "edgevision.checkpoint": ("save_checkpoint", "load_checkpoint", "load_model"),
    "edgevision.export": ("export_onnx",),
    # run time
    "edgevision.runtime": ("load_engine", "Predictor"),
    "edgevision.track": ("create_tracker", "list_trackers"),
    # one object for all of it: edgevision.load(target).predict/val/export/quantize/...
    "edgevision.api": ("load", "Model"),
    "edgevision.weights": ("list_weights",),
    "edgevision.train.detection": ("train_detection",),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, extra=["__version__"])
__all__ = __dir__()
