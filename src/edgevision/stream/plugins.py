"""Model plugins: what ``edgevision run --model`` loads.

The contract (:class:`ModelPlugin`) is four methods over lists of frames, so the pipeline can
time each stage and batch frames of several streams into one engine call::

    x, ctx = plugin.preprocess(frames)      # frames: list of (H, W, 3) uint8 RGB
    raw = plugin.infer(x)                   # the engine call (the worker's "inference" stage)
    results = plugin.postprocess(raw, ctx)  # one Detections | InstanceMasks | SemanticMask each

and one hook for models with per-stream state (video-aware models such as YolactEdge)::

    session = plugin.new_stream(stream_id)  # None: stateless (the default)
    result = session(frame)                 # called in frame order, one stream per session

``--model`` resolves, in this order:

1. ``FILE.onnx`` — ONNX Runtime (:class:`~edgevision.runtime.Predictor`; no torch imported);
2. ``FILE.pt`` / ``.safetensors`` — a checkpoint (:func:`edgevision.checkpoint.load_model`),
   exported to a temporary ONNX file and run in ONNX Runtime (``--engine torch`` keeps
   PyTorch);
3. ``package.module:factory`` — ``factory()`` must return a :class:`ModelPlugin`;
4. the name of an ``edgevision.models`` entry point (third-party packages);
5. a registry name (``edgevision models``): the architecture with **random weights** (logged).

Files and registry names are checked by :func:`edgevision.runtime.targets.resolve_target`
(the same one-line errors as ``edgevision bench``). A broken plugin fails at load time with a
message naming it. A third-party package declares its plugin in its own ``pyproject.toml``::

    [project.entry-points."edgevision.models"]
    mydetector = "mypkg.plugin:make"      # make() -> ModelPlugin; then --model mydetector
"""

from __future__ import annotations

import importlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError, EdgeVisionError, ModelNotFoundError
from edgevision.io import CHECKPOINT_SUFFIXES, ONNX_SUFFIXES
from edgevision.runtime.base import BACKENDS
from edgevision.runtime.targets import ModelTarget, looks_like_path, resolve_target
from edgevision.tasks import get_task
from edgevision.weights import find_weights

log = logging.getLogger("edgevision.stream")

ENTRY_POINT_GROUP = "edgevision.models"

RUNS_ON = ("providers", "device", "gpu", "engine", "cache_hit")
"""The engine's ``describe()`` keys a plugin's summary repeats: where the model runs."""

__all__ = [
    "ENTRY_POINT_GROUP",
    "ComponentVideoPlugin",
    "ModelPlugin",
    "PluginError",
    "PredictorPlugin",
    "VideoSessionPlugin",
    "load_plugin",
]


class PluginError(EdgeVisionError):
    """A model plugin cannot be loaded or does not follow the contract."""


StreamSession = Callable[[np.ndarray], Any]


class ModelPlugin:
    """Base class of model plugins (subclass it, or provide the same attributes).

    Attributes:
        name: shown in logs and the run summary.
        task: ``"detect"``, ``"semantic"`` or ``"instance"``.
        spec: the model's :class:`~edgevision.config.ModelSpec` when it has one.
        max_batch: most frames per :meth:`infer` call (1 = no cross-stream batching).
        trained: ``False`` for random weights (the summary says so).
    """

    name: str = "plugin"
    task: str = ""
    spec: ModelSpec | None = None
    max_batch: int = 1
    trained: bool = True

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[Any, Any]:
        """``(H, W, 3)`` uint8 RGB frames -> (engine input, context for postprocess)."""
        raise NotImplementedError

    def infer(self, x: Any) -> Any:
        """Run the model on the preprocessed batch."""
        raise NotImplementedError

    def postprocess(self, raw: Any, ctx: Any) -> list[Any]:
        """Raw outputs -> one result (``Detections`` …) per frame, in original pixels."""
        raise NotImplementedError

    def new_stream(self, stream_id: int) -> StreamSession | None:
        """A per-stream callable ``session(frame) -> result`` for stateful models, or None."""
        return None

    def describe(self) -> dict[str, Any]:
        """For the run summary."""
        return {"name": self.name, "task": self.task, "trained": self.trained}

    def close(self) -> None:
        """Release resources (temporary files)."""


def _check_plugin(obj: Any, who: str) -> ModelPlugin:
    missing = [
        m for m in ("preprocess", "infer", "postprocess") if not callable(getattr(obj, m, None))
    ]
    if missing:
        raise PluginError(
            f"model plugin {who!r} is not a ModelPlugin: {type(obj).__name__} lacks "
            f"{', '.join(missing)}"
        )
    for attr, default in (("name", who), ("task", ""), ("max_batch", 1), ("trained", True)):
        if not hasattr(obj, attr):
            setattr(obj, attr, default)
    if not callable(getattr(obj, "new_stream", None)):
        obj.new_stream = lambda stream_id: None
    if not callable(getattr(obj, "describe", None)):
        obj.describe = lambda: {"name": obj.name, "task": obj.task}
    if not callable(getattr(obj, "close", None)):
        obj.close = lambda: None
    return obj  # type: ignore[no-any-return]


class PredictorPlugin(ModelPlugin):
    """Any :class:`~edgevision.runtime.Engine` with the spec's pre/postprocessing.

    Args:
        engine: a loaded engine (ONNX Runtime or torch).
        name: display name.
        max_batch: frames per call when the engine takes a dynamic batch.
        trained: whether the weights are trained.
        cleanup: a temporary folder to delete at :meth:`close`.
        **post_kwargs: postprocessor options (score thresholds …).
    """

    def __init__(
        self,
        engine: Any,
        *,
        name: str = "",
        max_batch: int = 4,
        trained: bool = True,
        cleanup: Path | None = None,
        **post_kwargs: Any,
    ) -> None:
        from edgevision.postprocess import get_postprocessor

        self.engine = engine
        self.spec: ModelSpec = engine.spec
        self.task = self.spec.task
        self.name = name or self.spec.name
        shape = getattr(engine, "input_shape", None)
        fixed = bool(shape) and isinstance(shape[0], int)  # type: ignore[index]
        self.max_batch = 1 if fixed else max(1, max_batch)
        self.trained = trained
        self._post = get_postprocessor(self.spec.postprocess)
        self._kw = post_kwargs
        self._cleanup = cleanup
        if "conf_threshold" in post_kwargs and not get_task(self.task).scored:
            raise ConfigError(
                f"a score threshold (--conf) applies to detection and instance models; "
                f"{self.name} is a {self.task} model"
            )
        if "upsample" in post_kwargs and not get_task(self.task).dense:
            raise ConfigError(
                f"smooth label edges (--smooth-edges) apply to semantic models; "
                f"{self.name} is a {self.task} model"
            )

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[Any, Any]:
        from edgevision.preprocess import preprocess

        return preprocess(list(frames), self.spec)

    def infer(self, x: Any) -> Any:
        return self.engine.run(x)

    def postprocess(self, raw: Any, ctx: Any, **override: Any) -> list[Any]:
        """Raw outputs -> one result per frame; ``override`` replaces postprocessor options of
        this call (``upsample="labels"``: the run's reference timing of ``--smooth-edges``)."""
        return list(self._post(raw, self.spec, ctx, **{**self._kw, **override}))

    def describe(self) -> dict[str, Any]:
        info = self.engine.describe()
        return {
            "name": self.name,
            "task": self.task,
            "trained": self.trained,
            "backend": self.engine.backend,
            "backend_choice": getattr(self.engine, "backend_choice", None),
            # where it actually runs: ONNX Runtime's started providers, TensorRT's GPU/engine
            "runs_on": {k: info[k] for k in RUNS_ON if k in info},
            "precision": self.engine.precision,
            "input_size": list(self.spec.input_size),
            "max_batch": self.max_batch,
        }

    def close(self) -> None:
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)


class VideoSessionPlugin(PredictorPlugin):
    """A YOLACT model in YolactEdge video mode: one keyframe session per stream.

    Frames of a stream go through its own ``edgevision.video.VideoSession`` (keyframes run
    the full network, the frames between reuse warped features). ``preprocess`` / ``infer``
    / ``postprocess`` stay available for per-frame use.
    """

    def __init__(
        self,
        model: Any,
        *,
        keyframes: str | None = None,
        threads: int = 2,
        propagate: bool | str | None = None,
        precision: str | None = None,
        **kw: Any,
    ) -> None:
        from edgevision.runtime import load_engine
        from edgevision.video.modes import resolve_mode

        super().__init__(load_engine(model, backend="torch", threads=threads), max_batch=1, **kw)
        self.model = model
        self.video_mode = resolve_mode(keyframes, propagate, precision, ("fp32",))
        self.keyframes = self.video_mode.keyframes
        self.propagate = self.video_mode.propagate
        self.sessions: dict[int, Any] = {}
        self.new_stream(-1)  # fail now on a bad mode, not in the worker
        self.sessions.pop(-1)

    def new_stream(self, stream_id: int) -> StreamSession:
        from edgevision.video.session import VideoSession

        m = self.video_mode
        s = VideoSession(
            self.model,
            keyframes=m.keyframes,
            propagate=m.propagate,
            precision=m.precision,
            **self._kw,
        )
        self.sessions[stream_id] = s
        return s  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["mode"] = _mode_text(self.video_mode, self.sessions)
        return d


class ComponentVideoPlugin(ModelPlugin):
    """A YOLACT component folder in ONNX Runtime (no torch): one
    :class:`~edgevision.video.ort.OrtVideoSession` per stream, sharing the sessions of the
    graphs; ``keyframes="none"`` is per-frame mode. Each component runs at the precision of
    its file (``edgevision quantize FOLDER --precision ...``; FP16 files for a GPU), on
    ONNX Runtime's ``providers`` (``cuda``, ``tensorrt``; default CPU)."""

    task = "instance"
    max_batch = 1

    def __init__(
        self,
        folder: str | Path,
        *,
        keyframes: str | None = None,
        threads: int = 2,
        providers: list[str] | None = None,
        backend: str = "onnxruntime",
        name: str | None = None,
        trained: bool | None = None,
        cleanup: Path | None = None,
        propagate: bool | str | None = None,
        precision: str | None = None,
        engines: list[str | Path] | None = None,
        small_input: tuple[int, int] | None = None,
        **post_kwargs: Any,
    ) -> None:
        from edgevision.video.modes import resolve_mode
        from edgevision.video.ort import ComponentSet

        self.parts = ComponentSet(folder, threads=threads, providers=providers, backend=backend)
        self.engines = [self.parts.sibling(e) for e in engines or []]
        self.small_input = small_input
        available = {self.parts.level, *(e.level for e in self.engines)}
        if small_input is not None:
            available.add("small")
        self.video_mode = resolve_mode(keyframes, propagate, precision, available)
        self.keyframes = self.video_mode.keyframes
        self.propagate = self.video_mode.propagate
        self.spec = self.parts.spec
        self.name = name or f"{self.spec.name} ({Path(folder).name})"
        self.trained = trained if trained is not None else self.parts.trained is not False
        if not self.trained:
            log.warning(
                "model %s: UNTRAINED weights (random init); its outputs are meaningless, this "
                "only exercises the pipeline",
                self.name,
            )
        self.post_kwargs = post_kwargs
        self._cleanup = cleanup
        self.sessions: dict[int, Any] = {}
        self.new_stream(-1)  # fail now on a bad mode (a missing engine), not in the worker
        self.sessions.pop(-1)

    def new_stream(self, stream_id: int) -> StreamSession:
        from edgevision.video.ort import OrtVideoSession

        m = self.video_mode
        s = OrtVideoSession(
            self.parts,
            keyframes=m.keyframes,
            propagate=m.propagate,
            precision=m.precision,
            engines=list(self.engines),
            small_input=self.small_input,
            **self.post_kwargs,
        )
        self.sessions[stream_id] = s
        return s  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "trained": self.trained,
            "backend": f"{self.parts.backend} (components)",
            "engine": self.parts.describe(),
            "precision_engines": [e.describe() for e in self.engines],
            # the engine every network pass runs on, or the per-frame policy choosing one
            "precision": self.video_mode.precision.removeprefix("fixed:"),
            "mode": _mode_text(self.video_mode, self.sessions),
        }

    def close(self) -> None:
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)


def _prop_text(propagate: bool | str) -> str:
    if not propagate:
        return ""
    return f", masks propagated with {'featflownet' if propagate is True else propagate} flow"


def _level(folder: Path) -> str:
    """The precision name of a component folder, from its files' metadata."""
    from edgevision.export.metadata import PRECISION_KEY, read_metadata
    from edgevision.video.ort import COMPONENTS
    from edgevision.video.precision import folder_precision

    return folder_precision(
        {c: read_metadata(folder / f"{c}.onnx").get(PRECISION_KEY, "fp32") for c in COMPONENTS}
    )


def _mode_text(mode: Any, sessions: dict[int, Any]) -> str:
    """``per-frame`` / ``video (fixed:2, masks propagated with dis:medium flow)``, the
    precision policy and, once frames ran, the share of frames at each precision."""
    counts: dict[str, int] = {}
    frames = 0
    for s in sessions.values():
        frames += s.counts["keyframes"] + s.counts["non_keyframes"]
        for k, v in s.counts.items():
            if k.startswith("precision_"):
                counts[k[len("precision_") :]] = counts.get(k[len("precision_") :], 0) + v
    prec = f"precision {mode.precision}"
    if frames and counts:
        share = ", ".join(f"{k} {100 * v / frames:.0f} %" for k, v in sorted(counts.items()))
        prec += f": {share} of frames"
    if mode.keyframes == "none":
        return f"per-frame ({prec})"
    return f"video ({mode.keyframes}{_prop_text(mode.propagate)}, {prec})"


def _export_to_temp(model: Any, name: str) -> tuple[Path, Path]:
    from edgevision.config import ExportConfig
    from edgevision.export import export_onnx

    tmp = Path(tempfile.mkdtemp(prefix="edgevision-run-"))
    out = tmp / f"{name}.onnx"
    export_onnx(model, out, ExportConfig(check=False, dynamic_shape=False))
    return out, tmp


def _torch_model(target: ModelTarget, video: bool = False) -> tuple[Any, bool]:
    """(nn.Module with spec, trained) for a checkpoint or registry name; ``video`` builds a
    registry model with its video-mode parts (FeatFlowNet)."""
    if target.path is not None:
        from edgevision.checkpoint import load_model

        return load_model(target.path), True
    from edgevision.registry import create_model

    log.warning(
        "model %s: no weights given, using the UNTRAINED architecture (random init); "
        "its outputs are meaningless, this only exercises the pipeline",
        target.given,
    )
    model = create_model(target.given, **({"video": True} if video else {})).eval()
    return model, False


def _onnx_engine(
    path: str, engine: str, threads: int, providers: list[str] | None, trt_precision: str
) -> Any:
    """An ONNX file on ``engine`` (with ONNX Runtime ``providers``, or TensorRT at
    ``trt_precision``); ``auto`` measures which CPU engine is faster here."""
    from edgevision.runtime import load_engine

    choice = None
    backend = engine
    if engine == "auto":
        from edgevision.bench.choose import choose_backend

        choice = choose_backend(path, threads=threads)
        backend = choice.backend
        log.info("model %s: backend %s", Path(path).name, choice.reason)
    options = {"precision": trt_precision} if backend == "tensorrt" else {}
    eng = load_engine(
        path, backend=backend, threads=threads, providers=providers or None, **options
    )
    eng.backend_choice = choice.to_dict() if choice is not None else None  # type: ignore[attr-defined]
    return eng


def _factory_plugin(target: str, factory: Callable[..., Any], who: str) -> ModelPlugin:
    try:
        obj = factory()
    except EdgeVisionError:
        raise
    except Exception as e:
        raise PluginError(f"model plugin {who!r} failed to load: {type(e).__name__}: {e}") from None
    return _check_plugin(obj, who)


def load_plugin(
    target: str,
    *,
    engine: str = "auto",
    providers: list[str] | None = None,
    trt_precision: str = "auto",
    threads: int = 2,
    video: bool = False,
    keyframes: str | None = None,
    propagate: bool | str | None = None,
    precision: str | None = None,
    precision_engines: list[str] | None = None,
    small_input: tuple[int, int] | None = None,
    max_batch: int = 4,
    **post_kwargs: Any,
) -> ModelPlugin:
    """Resolve ``--model`` to a :class:`ModelPlugin` (see the module docstring for the order).

    Args:
        target: ``FILE.onnx``, a checkpoint, ``package.module:factory``, an entry-point name
            or a registry name.
        engine: ``auto`` (the faster of ONNX Runtime and OpenVINO for the ONNX file on this
            host, by a cached probe: :mod:`edgevision.bench.choose`; PyTorch for video mode of
            a checkpoint), ``onnxruntime`` (video mode: the component graphs), ``openvino``,
            ``tensorrt`` (an ONNX file, or a checkpoint exported to one, built into a cached
            TensorRT engine of batch 1) or ``torch``. A component folder runs in ONNX
            Runtime (on a GPU through ``providers``) or, with ``openvino``, in OpenVINO
            (each component at the precision of its file).
        providers: ONNX Runtime execution providers (``cuda``, ``tensorrt``, ``cpu``) of the
            model, or of every component graph; they imply ``engine="onnxruntime"`` with
            ``auto``, and are an error with another engine.
        trt_precision: TensorRT's precision with ``engine="tensorrt"`` (``auto``: INT8 for
            a Q/DQ file, else FP32; ``fp16``; ``int8``), engines cached by file hash, GPU and
            TensorRT version (:mod:`edgevision.runtime.tensorrt`).
        threads: intra-op threads of the engine.
        video: run instance models in YolactEdge video mode (per-stream keyframe state).
        keyframes: keyframe policy of video mode (``fixed:N`` or ``adaptive``).
        propagate: video mode's non-keyframes warp the keyframe's masks with this flow
            (``"featflownet"``, ``"dis"``, ``"dis:medium"``; ``False``/``"none"`` = partial
            feature transform).
        precision: per-frame precision policy (``fixed:mixed``, ``adaptive`` ...).
        precision_engines: component folders of the model at other precisions (a
            component folder model only).
        small_input: also load the ``small`` engine at this input size (a component
            folder model only; :class:`~edgevision.video.ort.OrtVideoSession`).

        ``keyframes``, ``propagate`` and ``precision`` left ``None`` take the default
        path's values (:func:`~edgevision.video.modes.default_mode`).
        max_batch: frames per engine call when batching across streams.
        **post_kwargs: postprocessor options.

    Raises:
        PluginError: a plugin that fails to import or returns something else.
        ModelNotFoundError: nothing of that name.
        ModelFileError, CheckpointError: a bad model file.
    """
    from edgevision.runtime.base import check_trt_precision

    check_trt_precision(engine, trt_precision)
    if engine not in ("auto", *BACKENDS):
        raise ConfigError(f"--backend must be auto, {', '.join(BACKENDS)}, got {engine!r}")
    if providers:
        if engine not in ("auto", "onnxruntime"):
            raise ConfigError(f"--providers need --backend onnxruntime (or auto), not {engine}")
        engine = "onnxruntime"
    if video and engine == "tensorrt":
        raise ConfigError(
            "--video runs its component graphs in onnxruntime, openvino or torch, not "
            "tensorrt; on an NVIDIA GPU: --backend onnxruntime --providers tensorrt,cuda"
        )
    p = Path(target)
    suffix = p.suffix.lower()
    from edgevision.video.ort import is_component_folder

    if is_component_folder(p):
        if engine in ("torch", "tensorrt"):
            raise ConfigError(
                f"{p} is a component folder: it runs in ONNX Runtime (on an NVIDIA GPU with "
                "--providers tensorrt,cuda) or OpenVINO"
            )
        return ComponentVideoPlugin(
            p,
            keyframes=keyframes if video else "none",
            threads=threads,
            providers=providers,
            backend="openvino" if engine == "openvino" else "onnxruntime",
            propagate=propagate if video else False,
            precision=precision if video or precision_engines else f"fixed:{_level(p)}",
            engines=list(precision_engines or []),
            small_input=small_input,
            **post_kwargs,
        )
    if p.is_dir():
        from edgevision.errors import ModelFileError

        raise ModelFileError(
            f"{p} is a folder but not a component folder (backbone_lower.onnx ... warp.onnx); "
            "give a .onnx file, a checkpoint or 'edgevision export CKPT --components DIR'"
        )
    if suffix in ONNX_SUFFIXES and video:
        raise ConfigError("--video needs a PyTorch model (checkpoint or name), not ONNX")
    if precision_engines or small_input:
        raise ConfigError(
            "--precision-engines and --small-input need a component folder as --model"
        )
    if suffix not in ONNX_SUFFIXES + CHECKPOINT_SUFFIXES:
        if ":" in target and "/" not in target:
            mod_name, _, attr = target.partition(":")
            try:
                mod = importlib.import_module(mod_name)
            except ImportError as e:
                raise PluginError(
                    f"model plugin {target!r}: cannot import {mod_name!r}: {e}"
                ) from None
            factory = getattr(mod, attr, None)
            if not callable(factory):
                raise PluginError(f"model plugin {target!r}: {mod_name} has no callable {attr!r}")
            return _factory_plugin(target, factory, target)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == target:
                try:
                    factory = ep.load()
                except Exception as e:
                    raise PluginError(
                        f"model plugin {target!r} (entry point {ep.value}) failed to import: "
                        f"{type(e).__name__}: {e}"
                    ) from None
                return _factory_plugin(target, factory, f"{target} ({ep.value})")
        if not looks_like_path(target):
            from edgevision.registry import list_models

            if target not in list_models() and find_weights(target) is None:
                eps = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
                raise ModelNotFoundError(
                    f"unknown model {target!r}: not a file, a package.module:factory plugin, "
                    f"an '{ENTRY_POINT_GROUP}' entry point ({', '.join(eps) or 'none installed'}) "
                    f"shipped weights or a registry name (see 'edgevision models')"
                )
    resolved = resolve_target(target)  # ModelFileError for bad paths
    if resolved.kind == "onnx":
        from edgevision.runtime import load_engine

        if engine == "torch":
            raise ConfigError(f"--engine torch cannot run an ONNX file: {p}")
        eng = _onnx_engine(resolved.given, engine, threads, providers, trt_precision)
        return PredictorPlugin(eng, name=p.name, max_batch=max_batch, **post_kwargs)
    if resolved.kind == "openvino":  # an IR (edgevision export -o m.xml) runs on OpenVINO only
        from edgevision.runtime import load_engine

        if engine not in ("auto", "openvino"):
            raise ConfigError(f"an OpenVINO IR runs on --engine openvino (or auto), not {engine}")
        eng = load_engine(resolved.given, backend="openvino", threads=threads)
        return PredictorPlugin(eng, name=p.name, max_batch=max_batch, **post_kwargs)
    model, trained = _torch_model(resolved, video)
    name = p.name if resolved.path is not None else target
    if video:
        if not get_task(model.spec.task).video:
            raise ConfigError(f"--video applies to instance models, {name} is {model.spec.task}")
        if engine in ("onnxruntime", "openvino"):
            from edgevision.export.yolact import export_components

            tmp = Path(tempfile.mkdtemp(prefix="edgevision-run-"))
            export_components(model, tmp, trained=trained)
            log.info("model %s: components exported for %s (%s)", name, engine, tmp)
            return ComponentVideoPlugin(
                tmp,
                keyframes=keyframes,
                threads=threads,
                providers=providers,
                backend=engine,
                name=name,
                trained=trained,
                cleanup=tmp,
                propagate=propagate,
                precision=precision,
                **post_kwargs,
            )
        return VideoSessionPlugin(
            model,
            keyframes=keyframes,
            threads=threads,
            name=name,
            trained=trained,
            propagate=propagate,
            precision=precision,
            **post_kwargs,
        )
    if engine == "torch":
        from edgevision.runtime import load_engine

        eng = load_engine(model, backend="torch", threads=threads)
        return PredictorPlugin(eng, name=name, max_batch=max_batch, trained=trained, **post_kwargs)
    onnx_path, tmp = _export_to_temp(model, model.spec.name)
    log.info("model %s: exported to ONNX (%s)", name, onnx_path)
    try:
        eng = _onnx_engine(str(onnx_path), engine, threads, providers, trt_precision)
        return PredictorPlugin(
            eng, name=name, max_batch=max_batch, trained=trained, cleanup=tmp, **post_kwargs
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
