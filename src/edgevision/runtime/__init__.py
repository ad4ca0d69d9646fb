"""Inference runtime: an :class:`Engine` protocol with one module per backend, and a
:class:`Predictor` that adds the spec-driven pre/postprocessing; :func:`resolve_target` tells
an ONNX file, a checkpoint and a registry name apart (for the runtime, bench and stream).

Imports neither torch nor onnxruntime until a backend is used (enforced by a test), so an
edge box with only ONNX Runtime installed can run exported models.
"""

from __future__ import annotations

from edgevision.runtime.base import (
    BACKENDS,
    Engine,
    list_backends,
    load_engine,
    load_fast_engine,
)
from edgevision.runtime.predictor import Predictor
from edgevision.runtime.targets import ModelTarget, resolve_target

__all__ = [
    "BACKENDS",
    "Engine",
    "ModelTarget",
    "Predictor",
    "list_backends",
    "load_engine",
    "load_fast_engine",
    "resolve_target",
]
