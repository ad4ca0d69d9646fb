"""Model targets: what a model argument names, checked before anything is loaded.

A target is an ONNX file, a PyTorch checkpoint, the name of shipped weights (their
checkpoint), or a registry name (the untrained architecture). :func:`resolve_target` is the one place that tells them apart and raises the
one-line errors for bad paths and unknown names; :func:`~edgevision.runtime.load_engine`,
the benchmark harness and ``edgevision run``'s model plugins all use it. It loads nothing and
imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgevision.errors import ModelFileError
from edgevision.io import CHECKPOINT_SUFFIXES, ONNX_SUFFIXES, OPENVINO_SUFFIXES
from edgevision.registry import get_entry, list_models
from edgevision.weights import find_weights, weights_path

__all__ = ["ModelTarget", "TargetKind", "looks_like_path", "resolve_target"]

TargetKind = Literal["onnx", "openvino", "checkpoint", "registry"]


@dataclass(frozen=True)
class ModelTarget:
    """A resolved model target.

    Attributes:
        given: the argument as given (``str`` of a path).
        kind: ``"onnx"``, ``"openvino"`` (an IR ``.xml``), ``"checkpoint"`` or
            ``"registry"``.
        path: the model file (``None`` for a registry name).
    """

    given: str
    kind: TargetKind
    path: Path | None = None

    @property
    def label(self) -> str:
        """Short name for logs and reports: the file's stem, or the registry name."""
        return self.path.stem if self.path is not None else self.given


def looks_like_path(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` names a file rather than a registry name: it has a suffix or a
    path separator, or exists (registry names have neither)."""
    t = str(target)
    return Path(t).suffix != "" or os.sep in t or "/" in t or Path(t).exists()


def resolve_target(target: str | os.PathLike[str]) -> ModelTarget:
    """Classify ``target`` and check it exists, without loading it.

    Args:
        target: an ``.onnx`` file, an OpenVINO IR ``.xml``, a checkpoint (``.pt``/``.pth``/``.safetensors``), the
            name of shipped weights (:mod:`edgevision.weights`; kind ``"checkpoint"``, with
            its file as ``path``) or a registry model name.

    Raises:
        ModelFileError: a path that does not exist, is a folder, or is neither an ONNX file
            nor a checkpoint.
        ModelNotFoundError: neither a path nor a registered name (with similar names).
    """
    t = str(target)
    if looks_like_path(t):
        p = Path(t)
        suffix = p.suffix.lower()
        if not p.exists():
            what = "ONNX file" if suffix in ONNX_SUFFIXES else "model file"
            raise ModelFileError(f"{what} not found: {p}")
        if not p.is_file():
            raise ModelFileError(f"not a model file (a folder): {p}")
        if suffix in ONNX_SUFFIXES:
            return ModelTarget(t, "onnx", p)
        if suffix in CHECKPOINT_SUFFIXES:
            return ModelTarget(t, "checkpoint", p)
        if suffix in OPENVINO_SUFFIXES:
            return ModelTarget(t, "openvino", p)
        known = ONNX_SUFFIXES + CHECKPOINT_SUFFIXES + OPENVINO_SUFFIXES
        raise ModelFileError(
            f"unsupported model file type {suffix or '(none)'!r}: {p} is not an ONNX file, "
            f"OpenVINO IR or checkpoint (expected {', '.join(known)})"
        )
    if find_weights(t) is not None:  # shipped weights by name: their checkpoint
        return ModelTarget(t, "checkpoint", weights_path(t))
    if t not in list_models():
        get_entry(t)  # raises ModelNotFoundError with similar names
    return ModelTarget(t, "registry")
