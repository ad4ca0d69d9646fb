"""The :class:`Engine` protocol and :func:`load_engine`, which picks a backend lazily."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import BackendUnavailable, ConfigError, ModelFileError
from edgevision.io import ONNX_SUFFIXES, OPENVINO_SUFFIXES
from edgevision.runtime.targets import resolve_target

# backend name -> (module:class, python module that must be importable, install hint)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "onnxruntime": (
        "edgevision.runtime.onnxruntime:OrtEngine",
        "onnxruntime",
        "pip install 'edgevision[onnx]' (or onnxruntime-gpu on a CUDA machine)",
    ),
    "openvino": (
        "edgevision.runtime.openvino:OvEngine",
        "openvino",
        "pip install 'edgevision[openvino]' (Intel's OpenVINO runtime, CPU)",
    ),
    "tensorrt": (
        "edgevision.runtime.tensorrt:TrtEngine",
        "tensorrt",
        "pip install 'edgevision[gpu]' (or pip install tensorrt; JetPack ships it on Jetson) "
        "on a machine with an NVIDIA GPU",
    ),
    "torch": (
        "edgevision.runtime.torch:TorchEngine",
        "torch",
        "pip install 'edgevision[train]' (or your platform's torch build, e.g. NVIDIA's for Jetson)",
    ),
}


@runtime_checkable
class Engine(Protocol):
    """A loaded model that maps an input batch to raw output arrays.

    Attributes:
        spec: the model's metadata (pre/postprocessing, classes).
        backend: backend name (``"onnxruntime"``, ``"torch"``).
        precision: ``"fp32"``, ``"fp16"``, ``"int8"`` or ``"mixed"``.
        path: the model file, or ``None`` for an in-memory model.
        input_name: name of the image input.
    """

    spec: ModelSpec
    backend: str
    precision: str
    path: Path | None
    input_name: str

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run on ``(N, 3, H, W)`` float32 normalised input; returns the raw outputs."""
        ...

    def num_params(self) -> int:
        """Number of weights (parameters or initializer elements)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Backend details for reports (providers, threads, versions)."""
        ...


ONNX_BACKENDS = ("onnxruntime", "openvino", "tensorrt")
"""Backends that run our ``.onnx`` files (a checkpoint or name is exported first)."""

BACKEND_OPTIONS: dict[str, frozenset[str]] = {
    "onnxruntime": frozenset({"spin"}),
    "openvino": frozenset({"precision"}),
    "tensorrt": frozenset(
        {
            "precision",
            "layer_precision",
            "calib_data",
            "calib_size",
            "input_size",
            "batch",
            "workspace_mb",
            "cache",
        }
    ),
}
"""The backend-specific ``load_engine`` options each backend takes."""


def list_backends() -> dict[str, bool]:
    """Backend name -> whether its Python package is importable here (imports nothing)."""
    return {
        name: importlib.util.find_spec(mod) is not None for name, (_, mod, _) in BACKENDS.items()
    }


def check_backend(backend: str, providers: Sequence[str] | None = None) -> str:
    """Check, before any heavy work, that ``backend`` (with ONNX Runtime ``providers``) can run
    here; returns the backend the request resolves to.

    The one rule every command shares: ``providers`` are ONNX Runtime's, so with
    ``backend="auto"`` they select ONNX Runtime, and with another backend they are an error.
    ``tensorrt`` needs TensorRT, a CUDA build of PyTorch and a visible GPU; a provider must be
    among ONNX Runtime's available ones here. Nothing is loaded or built.

    Args:
        backend: ``auto``, ``onnxruntime``, ``openvino``, ``tensorrt`` or ``torch``.
        providers: ONNX Runtime execution providers (``cpu``, ``cuda``, ``tensorrt`` or full
            names), or ``None``/empty for the default (CPU).

    Returns:
        ``backend``, or ``"onnxruntime"`` for ``auto`` with providers.

    Raises:
        ConfigError: an unknown backend, or providers with a backend other than ONNX Runtime.
        BackendUnavailable: the backend's package, the GPU or a provider is missing; the one
            line names what to install.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from auto, {', '.join(BACKENDS)}")
    if providers:
        if backend not in ("auto", "onnxruntime"):
            raise ConfigError(
                f"--providers are ONNX Runtime's execution providers: they need --backend "
                f"onnxruntime (or auto), not {backend}"
            )
        backend = "onnxruntime"
        _backend_class(backend)
        from edgevision.runtime.onnxruntime import resolve_providers

        resolve_providers(list(providers))
    elif backend == "tensorrt":
        from edgevision.runtime.tensorrt import require_tensorrt

        require_tensorrt()
    elif backend != "auto":
        _backend_class(backend)
    return backend


def check_trt_precision(backend: str, precision: str) -> None:
    """A TensorRT precision other than ``auto`` needs ``backend="tensorrt"``.

    Raises:
        ConfigError: naming ``--backend tensorrt``.
    """
    if precision != "auto" and backend != "tensorrt":
        raise ConfigError(f"--trt-precision {precision} needs --backend tensorrt")


def _backend_class(name: str) -> Any:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    target, module, hint = BACKENDS[name]
    if importlib.util.find_spec(module) is None:
        raise BackendUnavailable(f"backend {name!r} needs the '{module}' package: {hint}")
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)


def infer_backend(target: Any) -> str:
    """Default backend for a target: ONNX files -> onnxruntime; an OpenVINO IR -> openvino;
    checkpoints, names -> torch."""
    suffix = Path(str(target)).suffix.lower() if isinstance(target, (str, Path)) else ""
    if suffix in ONNX_SUFFIXES:
        return "onnxruntime"
    if suffix in OPENVINO_SUFFIXES:
        return "openvino"
    return "torch"


def load_engine(
    target: Any,
    *,
    backend: str = "auto",
    threads: int = 2,
    providers: list[str] | None = None,
    **options: Any,
) -> Engine:
    """Load ``target`` on ``backend``.

    Args:
        target: an ``.onnx`` file (onnxruntime), an OpenVINO IR ``.xml`` (openvino), a
            checkpoint ``.pt``/``.safetensors``, the name of shipped weights (their checkpoint), a registry model name (random init) or an ``nn.Module`` with ``.spec`` (torch);
            paths and names are checked by :func:`~edgevision.runtime.targets.resolve_target`.
        backend: ``"auto"`` (by target type), ``"onnxruntime"``, ``"openvino"``,
            ``"tensorrt"`` or ``"torch"``.
        threads: intra-op threads.
        providers: ONNX Runtime execution providers (``cpu``, ``cuda``, ``tensorrt`` or full
            names); default CPU.
        options: backend options; for ``onnxruntime`` ``spin``
            (:class:`~edgevision.runtime.onnxruntime.OrtEngine`); for ``tensorrt`` those of
            :class:`~edgevision.runtime.tensorrt.TrtEngine` (``precision``,
            ``layer_precision``, ``calib_data``, ...); for ``openvino`` ``precision``
            (:class:`~edgevision.runtime.openvino.OvEngine`).

    Raises:
        BackendUnavailable: the backend's package is not installed (message has the hint).
        ModelFileError: the file is missing, of the wrong type for the backend, or invalid.
        ModelNotFoundError: neither a file nor a registered name.
    """
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    name = infer_backend(target) if backend == "auto" else backend
    if isinstance(target, (str, Path)):
        resolved = resolve_target(target)
        kind = resolved.kind
        target = resolved.path if resolved.path is not None else resolved.given
        if kind == "openvino" and name != "openvino":
            raise ModelFileError(
                f"an OpenVINO IR runs on backend 'openvino' only, not {name!r}: {target}"
            )
        if name in ONNX_BACKENDS and kind not in ("onnx", "openvino"):
            raise ModelFileError(
                f"backend {name!r} needs an .onnx file, got {target!r}; "
                f"export it first with 'edgevision export'"
            )
        if name == "torch" and kind == "onnx":
            raise ModelFileError(f"backend 'torch' cannot run an ONNX file: {Path(str(target))}")
    if name == "tensorrt" and not (isinstance(target, (str, Path))):
        raise ModelFileError("backend 'tensorrt' needs an .onnx file")
    cls = _backend_class(name)
    if providers and name != "onnxruntime":
        raise ConfigError("providers apply to the onnxruntime backend only")
    allowed = BACKEND_OPTIONS.get(name, frozenset())
    if set(options) - allowed:
        raise ConfigError(
            f"options {', '.join(sorted(set(options) - allowed))} do not apply to the "
            f"{name} backend"
        )
    if name == "onnxruntime":
        return cls(target, threads=threads, providers=providers, **options)  # type: ignore[no-any-return]
    return cls(target, threads=threads, **options)  # type: ignore[no-any-return]


def load_fast_engine(
    target: Any,
    *,
    backend: str = "auto",
    threads: int = 2,
    input_size: tuple[int, int] | None = None,
    choose: Callable[[str], str] | None = None,
    providers: Sequence[str] | None = None,
    **options: Any,
) -> Engine:
    """Load ``target`` on the fastest engine: what ``eval`` and ``Model.val`` run.

    With ``backend="auto"`` (or ``"onnxruntime"``/``"openvino"``/``"tensorrt"``) a
    checkpoint, a shipped-weights name or a registry name is exported once to a cached ONNX
    file (:func:`~edgevision.export.cache.cached_onnx`) and run in ONNX Runtime (OpenVINO,
    TensorRT): on the 2-core CPU an order of magnitude faster than PyTorch eager for the same
    numbers within the export check's tolerance. ``backend="torch"`` keeps PyTorch.

    Args:
        target: as :func:`load_engine`.
        backend: ``"auto"`` (ONNX Runtime), ``"onnxruntime"``, ``"openvino"``,
            ``"tensorrt"`` or ``"torch"``.
        threads: intra-op threads.
        input_size: ``(H, W)`` to export at (default: the spec's).
        choose: with ``backend="auto"``, picks the engine for the ONNX file (its path ->
            ``"onnxruntime"`` or ``"openvino"``): the CLI passes the measured choice of
            :func:`edgevision.bench.choose.choose_backend`; ``None`` = ONNX Runtime.
        providers: ONNX Runtime execution providers (``cuda``, ``tensorrt``, ``cpu``); they
            select ONNX Runtime with ``auto`` (no probe) and are an error with another
            backend.
        options: backend options, as :func:`load_engine` (``precision`` for TensorRT).

    Raises:
        BackendUnavailable: ONNX Runtime (or the chosen backend, or a provider) is not
            installed; the message has the install hint (and names ``--backend torch``).
        ModelFileError, ModelNotFoundError: as :func:`load_engine`.
    """
    if providers:
        backend = check_backend(backend, providers)
    name = "onnxruntime" if backend == "auto" else backend
    if name == "torch" or not isinstance(target, (str, Path)):
        return load_engine(target, backend=name, threads=threads)
    resolved = resolve_target(target)
    if resolved.kind != "onnx":
        _backend_class(name)  # its install hint before a slow export
        from edgevision.export.cache import cached_onnx

        target = cached_onnx(resolved.path or resolved.given, input_size=input_size)
    if backend == "auto" and choose is not None:
        name = choose(str(target))
    return load_engine(
        target, backend=name, threads=threads, providers=list(providers or []), **options
    )
