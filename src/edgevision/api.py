"""``edgevision.load(target) -> Model``: one object for the whole life of a model.

Example:
    >>> import edgevision
    >>> model = edgevision.load("yolov5n_camvid", conf=0.3)  # doctest: +SKIP
    >>> dets = model.predict("street/*.png")  # one Detections per image  # doctest: +SKIP
    >>> model.val(data="runs/camvid_boxes").metrics  # doctest: +SKIP
    >>> int8 = model.quantize(mode="static", calib_data="runs/camvid_boxes")  # doctest: +SKIP
    >>> int8.benchmark(runs=20).latency_ms["p50"]  # doctest: +SKIP

A target is what every command takes: shipped weights by name (``ddrnet23_slim_camvid``,
:mod:`edgevision.weights`), a registry name (the untrained architecture), a checkpoint, an
exported ``.onnx`` file, an OpenVINO IR ``.xml`` (``export(format="openvino")``), a YOLACT
component folder, or a ``package.module:factory`` /
``edgevision.models`` entry-point plugin (:mod:`edgevision.stream.plugins`). Options are
checked when the object is built (one-line :class:`~edgevision.errors.EdgeVisionError`);
nothing heavy is loaded until a method needs it. The option names are the CLI's: ``conf``,
``iou``, ``max_det``, ``input_size`` (``--input``), ``backend``, ``threads``.

The methods are the library functions behind the CLI commands: :meth:`Model.predict`
(``run``), :meth:`Model.val` (``eval``), :meth:`Model.export` (``export``),
:meth:`Model.quantize` (``quantize``), :meth:`Model.benchmark` (``bench``),
:meth:`Model.train` (``train``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgevision.config import BenchConfig, ExportConfig, ModelSpec, build_config, parse_size
from edgevision.errors import ConfigError, DataError
from edgevision.io import CHECKPOINT_SUFFIXES, IMAGE_SUFFIXES, ONNX_SUFFIXES
from edgevision.postprocess import OPTION_NAMES, check_options
from edgevision.runtime.targets import looks_like_path, resolve_target
from edgevision.stream.sources import VIDEO_SUFFIXES
from edgevision.weights import find_weights

__all__ = ["Model", "load"]

BACKENDS = ("auto", "onnxruntime", "openvino", "torch", "tensorrt")

Kind = Literal["onnx", "openvino", "checkpoint", "registry", "module", "plugin"]


def load(target: Any, **options: Any) -> Model:
    """The :class:`Model` for ``target`` (see :class:`Model` for ``options``).

    Raises:
        ConfigError: an option :class:`Model` does not take (the message lists them).
    """
    import inspect

    valid = [p for p in inspect.signature(Model).parameters if p != "target"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; options: {', '.join(valid)}")
    return Model(target, **options)


class Model:
    """A model to predict with, evaluate, export, quantize, benchmark or train.

    Args:
        target: shipped weights name, registry name, checkpoint, ``.onnx`` file, OpenVINO IR
            ``.xml`` (runs on ``"openvino"``), YOLACT component folder, plugin (``package.module:factory`` or an entry-point name), or
            an ``nn.Module`` with ``.spec``.
        backend: inference backend of :meth:`predict` and :meth:`val`: ``"auto"`` (ONNX
            Runtime; a checkpoint or name is exported once to a cached ONNX file),
            ``"onnxruntime"``, ``"openvino"``, ``"torch"`` or ``"tensorrt"`` (ONNX files).
        threads: inference threads.
        input_size: ``(H, W)`` or ``"HxW"`` network input (default: the model's).
        bgr: arrays given to :meth:`predict` are BGR (``cv2.imread``) rather than RGB.
        conf: score threshold (0–1) of detection and instance models.
        iou: NMS IoU threshold (0–1).
        max_det: most results per image.

    Raises:
        ModelNotFoundError, ModelFileError, CheckpointError: a bad target.
        ConfigError: an unknown backend, or an option the model's postprocessing does not
            take (``conf`` for a semantic model), or out of range.
    """

    def __init__(
        self,
        target: Any,
        *,
        backend: str = "auto",
        threads: int = 2,
        input_size: tuple[int, int] | str | None = None,
        bgr: bool = False,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
        self.backend = backend
        self.threads = threads
        self.input_size = (
            parse_size(input_size, "input_size") if isinstance(input_size, str) else input_size
        )
        self.bgr = bool(bgr)
        self._plugin: Any = None
        self._predictor: Any = None
        self.target = target
        self.kind, self.source, self.spec = self._classify(target)
        opts = {"conf": conf, "iou": iou, "max_det": max_det}
        self.options: dict[str, Any] = {k: v for k, v in opts.items() if v is not None}
        if self.spec is not None:
            check_options(self.spec.postprocess, self.options)  # fail now, not at image 1
        elif self.kind == "plugin":
            self._plugin = self._load_plugin()

    # -- what the target is ------------------------------------------------------------------
    def _classify(self, target: Any) -> tuple[Kind, Any, ModelSpec | None]:
        if not isinstance(target, (str, os.PathLike)):
            spec = getattr(target, "spec", None)
            if not isinstance(spec, ModelSpec):
                raise ConfigError(
                    f"cannot load a {type(target).__name__}: give a name, a model file or an "
                    "nn.Module built by create_model (with .spec)"
                )
            return "module", target, spec
        t = str(target)
        from edgevision.video.ort import is_component_folder

        if is_component_folder(t) or self._is_plugin_name(t):
            return "plugin", t, None
        r = resolve_target(t)
        if r.kind in ("onnx", "openvino"):
            from edgevision.export.metadata import read_spec as onnx_spec

            return r.kind, str(r.path), onnx_spec(r.path)  # type: ignore[arg-type]
        if r.kind == "checkpoint":
            from edgevision.checkpoint import read_spec

            return "checkpoint", str(r.path), read_spec(r.path)  # type: ignore[arg-type]
        from edgevision.registry import get_entry

        return "registry", r.given, get_entry(r.given).default_spec()

    @staticmethod
    def _is_plugin_name(t: str) -> bool:
        if ":" in t and "/" not in t and Path(t).suffix.lower() not in ONNX_SUFFIXES:
            return True  # package.module:factory
        if looks_like_path(t) or find_weights(t) is not None:
            return False
        from importlib.metadata import entry_points

        from edgevision.stream.plugins import ENTRY_POINT_GROUP

        return any(ep.name == t for ep in entry_points(group=ENTRY_POINT_GROUP))

    def _load_plugin(self) -> Any:
        from edgevision.stream.plugins import load_plugin

        engine = "onnxruntime" if self.backend == "auto" else self.backend
        return load_plugin(self.source, engine=engine, threads=self.threads, **self._post())

    def _post(self, **overrides: Any) -> dict[str, Any]:
        """The postprocessing options under the postprocessor's names."""
        opts = {**self.options, **{k: v for k, v in overrides.items() if v is not None}}
        if self.spec is None:
            return {OPTION_NAMES.get(k, k): v for k, v in opts.items()}
        return check_options(self.spec.postprocess, opts)

    def __repr__(self) -> str:
        task = self.spec.task if self.spec is not None else "plugin"
        return f"Model({self.label!r}, {self.kind}, task={task}, backend={self.backend})"

    @property
    def label(self) -> str:
        """Short name: the shipped name, registry name or file stem."""
        if isinstance(self.target, (str, os.PathLike)):
            t = str(self.target)
            return Path(t).stem if looks_like_path(t) else t
        return self.spec.name if self.spec is not None else type(self.target).__name__

    @property
    def task(self) -> str | None:
        """``"semantic"``, ``"detect"``, ``"instance"`` (``None`` for a plugin)."""
        return self.spec.task if self.spec is not None else None

    # -- engines -----------------------------------------------------------------------------
    def _engine(self, backend: str | None = None) -> Any:
        from edgevision.runtime import load_engine, load_fast_engine

        name = backend or self.backend
        if self.kind == "module":
            return load_engine(self.source, backend="torch", threads=self.threads)
        if self.kind == "openvino":  # an IR runs on OpenVINO only (load_engine says so)
            ir_backend = "openvino" if name == "auto" else name
            return load_engine(self.source, backend=ir_backend, threads=self.threads)
        if name == "tensorrt":
            return load_engine(self.source, backend=name, threads=self.threads)
        return load_fast_engine(
            self.source, backend=name, threads=self.threads, input_size=self.input_size
        )

    def predictor(self, **options: Any) -> Any:
        """The :class:`~edgevision.runtime.Predictor` of :meth:`predict` (the engine is
        loaded on the first call and kept), with ``options`` (``conf``, ``iou`` ...)."""
        from edgevision.runtime import Predictor

        if self.kind == "plugin":
            raise ConfigError(f"{self.label} is a plugin: it has no Predictor, use predict()")
        if self._predictor is None:
            self._predictor = Predictor(
                self._engine(), input_size=self.input_size, bgr=self.bgr, **self.options
            )
        if not options:
            return self._predictor
        return Predictor(
            self._predictor.engine,
            input_size=self.input_size,
            bgr=options.pop("bgr", self.bgr),
            **{**self.options, **options},
        )

    # -- predict -----------------------------------------------------------------------------
    def predict(
        self,
        source: Any,
        *,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        bgr: bool | None = None,
    ) -> Any:
        """Results for ``source``: one ``Detections``/``InstanceMasks``/``SemanticMask`` per
        image, in original-image pixels.

        Args:
            source: an ``(H, W, 3)`` uint8 array (RGB, or BGR with ``bgr``), an
                ``(N, H, W, 3)`` batch, a PIL image, an image file, a folder (its images,
                sorted), a glob (``"street/*.png"``), a video file, or a list of these.
            conf, iou, max_det: override the model's options for this call.
            bgr: override the model's ``bgr`` for arrays (files are decoded as needed).

        Returns:
            A list of results, one per image, in order; for a video file a generator
            yielding one result per frame.

        Raises:
            DataError: a missing file, an empty folder or glob, an unreadable image or video.
            ConfigError: an option the model does not take.
        """
        overrides = {"conf": conf, "iou": iou, "max_det": max_det}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        order = self.bgr if bgr is None else bool(bgr)
        if isinstance(source, (str, os.PathLike)) and _is_video(source):
            return self._video(source, overrides)
        if self.kind == "plugin":
            if overrides:
                raise ConfigError("a plugin's options are fixed when it is loaded")
            return [self._plugin_one(im, order) for im in _images(source, order)]
        if overrides or order != self.bgr:
            pred = self.predictor(**overrides, bgr=order)
        else:
            pred = self.predictor()
        return [pred(im) for im in _images(source, order)]

    def _plugin_one(self, image: Any, bgr: bool) -> Any:
        from edgevision.io import read_image

        if isinstance(image, (str, os.PathLike)):
            image = read_image(image)
        elif bgr:
            image = np.ascontiguousarray(image[..., ::-1])
        x, ctx = self._plugin.preprocess([image])
        return self._plugin.postprocess(self._plugin.infer(x), ctx)[0]

    def _video(self, path: str | os.PathLike[str], overrides: dict[str, Any]) -> Iterator[Any]:
        import cv2

        p = Path(path)
        if not p.is_file():
            raise DataError(f"video not found: {p}")
        if self.kind == "plugin":
            session = self._plugin.new_stream(0)
            run = session if session is not None else (lambda f: self._plugin_one(f, False))
            to_rgb = True
        else:
            run, to_rgb = self.predictor(**overrides, bgr=True), False  # OpenCV frames: BGR

        def frames() -> Iterator[Any]:
            cap = cv2.VideoCapture(str(p))
            if not cap.isOpened():
                raise DataError(f"cannot decode video {p}")
            try:
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        return
                    yield run(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if to_rgb else frame)
            finally:
                cap.release()

        return frames()

    # -- track -------------------------------------------------------------------------------
    def track(
        self,
        source: Any,
        *,
        tracker: Any = "bytetrack",
        conf: float | None = None,
        iou: float | None = None,
        bgr: bool | None = None,
    ) -> Iterator[Any]:
        """Ids across the frames of ``source``: a generator of each frame's result (as
        :meth:`predict`) holding the objects of confirmed tracks, with ``track_ids``.

        One tracker follows the whole source, frames in order (a video file's frames; a
        folder's images sorted by name; a list or ``(N, H, W, 3)`` batch in its order). The
        model keeps boxes down to the tracker's low threshold, as ``run --track``.

        Args:
            source: a video file, a folder, a glob, a list of images or a batch.
            tracker: a tracker name or spec (``"bytetrack"``, ``"iou"``,
                ``"bytetrack:max_lost=60"``; :func:`edgevision.track.create_tracker`), or a
                tracker object to reuse (its :meth:`summary` then lists the tracks).
            conf: the model's score threshold (default: the tracker's low threshold).
            iou: NMS IoU threshold.
            bgr: arrays are BGR (default: the model's ``bgr``).

        Raises:
            ConfigError: a model without boxes (semantic, or a plugin), an unknown tracker.
            DataError: a missing or unreadable source.
        """
        from edgevision.io import read_image
        from edgevision.tasks import get_task
        from edgevision.track import AssociationTracker, create_tracker

        if self.kind == "plugin" or self.task is None or not get_task(self.task).scored:
            raise ConfigError(
                f"track needs a detection or instance model; {self.label} is "
                f"{self.task or 'a plugin'}"
            )
        trk = tracker if isinstance(tracker, AssociationTracker) else create_tracker(tracker)
        order = self.bgr if bgr is None else bool(bgr)
        opts = {"conf": trk.cfg.low_thresh if conf is None else conf, "iou": iou}
        pred = self.predictor(**{k: v for k, v in opts.items() if v is not None}, bgr=False)

        def frames() -> Iterator[np.ndarray]:
            if isinstance(source, (str, os.PathLike)) and _is_video(source):
                import cv2

                cap = cv2.VideoCapture(str(source))
                if not Path(source).is_file() or not cap.isOpened():
                    raise DataError(f"cannot decode video {source}")
                try:
                    while True:
                        ok, frame = cap.read()
                        if not ok:
                            return
                        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                finally:
                    cap.release()
            for im in _images(source, order):
                if isinstance(im, (str, os.PathLike)):
                    yield read_image(im)
                else:
                    yield np.ascontiguousarray(im[..., ::-1]) if order else im

        def tracked() -> Iterator[Any]:
            for t, frame in enumerate(frames()):
                yield trk.update(pred(frame), t, image=frame)

        return tracked()

    # -- val ---------------------------------------------------------------------------------
    def val(
        self,
        data: str | os.PathLike[str],
        *,
        split: str = "val",
        max_images: int = 0,
        backend: str | None = None,
        progress: bool = True,
    ) -> Any:
        """Score the model on a dataset split, as ``edgevision eval`` does (mIoU, COCO AP).

        A checkpoint or name runs in ONNX Runtime by default (exported once to a cached ONNX
        file; ``backend="torch"`` keeps PyTorch). The model's ``conf``/``iou`` do not apply:
        AP is measured with the evaluation's low threshold.

        Args:
            data: dataset folder, or a dataset YAML file (detection;
                :mod:`edgevision.data.detection`).
            split: split (``SPLIT:SEQ`` keeps sequences, as the CLI's ``--split``).
            max_images: only the first N images (0: all).
            backend: override the model's backend.
            progress: a bar on a terminal, lines otherwise.

        Returns:
            The :class:`~edgevision.evaluate.EvalReport` (``.metrics``, ``.table()``).
        """
        from edgevision.data.detection import require_dataset
        from edgevision.evaluate import evaluate
        from edgevision.runtime import Predictor

        if backend is not None and backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        require_dataset(data)  # a folder, or a dataset YAML (detection)
        if self.kind == "plugin":
            predictor: Any = lambda image: self._plugin_one(image, False)  # noqa: E731
        else:
            engine = (
                self._predictor.engine
                if self._predictor is not None and backend in (None, self.backend)
                else self._engine(backend)
            )
            predictor = Predictor(engine, input_size=self.input_size)
        return evaluate(predictor, data, split, max_images=max_images, progress=progress)

    # -- export ------------------------------------------------------------------------------
    def export(
        self,
        format: str = "onnx",
        out: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Path:
        """Export to ONNX, checked against PyTorch in ONNX Runtime (``edgevision export``), or
        to an OpenVINO IR made from that ONNX file.

        Args:
            format: ``"onnx"``, or ``"openvino"`` (``.xml`` + ``.bin``, the metadata in the
                IR's ``rt_info``: :mod:`edgevision.export.openvino`; from a checkpoint or name
                through a temporary ONNX export, from an ``.onnx`` model directly, so an INT8
                file stays INT8). ``"engine"`` is refused with the way to get one: TensorRT
                engines are built on the target GPU from the ONNX file.
            out: the ``.onnx`` (or ``.xml``) path (default: ``LABEL.onnx``/``LABEL.xml`` in
                the working folder).
            **options: :class:`~edgevision.config.ExportConfig` fields (``opset``,
                ``dynamic_shape``, ``simplify``, ``atol`` ...) for the ONNX export.

        Returns:
            The written file (the ``.xml`` of an IR).
        """
        import tempfile

        from edgevision.export import export_onnx
        from edgevision.export.openvino import export_openvino

        if format == "engine":
            raise ConfigError(
                "format 'engine': the tensorrt backend builds (and caches) the engine from our "
                ".onnx files on the target GPU: export(format='onnx') then "
                "load(FILE.onnx, backend='tensorrt')"
            )
        if format not in ("onnx", "openvino"):
            raise ConfigError(f"unknown export format {format!r}; formats: onnx, openvino")
        if self.kind in ("plugin", "openvino") or (self.kind == "onnx" and format == "onnx"):
            raise ConfigError(f"{self.label} is not a PyTorch model: nothing to export")
        if format == "openvino":
            dest = Path(out) if out is not None else Path(f"{self.label}.xml")
            if self.kind == "onnx":
                if options:
                    raise ConfigError(f"{self.label} is exported already: no export options")
                return export_openvino(self.source, dest)
            with tempfile.TemporaryDirectory(prefix="edgevision-ov-") as tmp:
                return export_openvino(self.export("onnx", Path(tmp) / "m.onnx", **options), dest)
        cfg = build_config(ExportConfig, None, **options)
        dest = Path(out) if out is not None else Path(f"{self.label}.onnx")
        return Path(export_onnx(self.source, dest, cfg, input_size=self.input_size).path)

    # -- quantize ----------------------------------------------------------------------------
    def quantize(
        self,
        mode: str = "static",
        *,
        calib_data: str | os.PathLike[str] | None = None,
        train_data: str | os.PathLike[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        measure: bool | None = None,
        progress: bool = True,
        **options: Any,
    ) -> Model:
        """INT8 ONNX through ONNX Runtime's quantization tooling (``edgevision quantize``).

        Args:
            mode: ``"static"`` (calibrated; needs ``calib_data``), ``"dynamic"``, or
                ``"qat"`` (fake-quant fine-tuning of a checkpoint on ``train_data``, as
                ``edgevision quantize --mode qat``; ``options`` may hold
                :class:`~edgevision.quantize.qat.QATConfig` fields: ``epochs``, ``lr``,
                ``batch_size``, ``schedule``, ``freeze_observers`` ...).
            calib_data: dataset or image folder for calibration and the output check.
            train_data: the task's training dataset (``mode="qat"`` only).
            out: the INT8 ``.onnx`` (default: ``LABEL_int8.onnx`` in the working folder).
            measure: time FP32 vs INT8 with the bench harness (default: for dynamic mode).
            progress: progress lines on stderr.
            **options: :class:`~edgevision.quantize.config.QuantConfig` fields (``method``,
                ``calib_size``, ``per_channel``, ``precision`` ...).

        Returns:
            The quantized model, with this model's options.
        """
        from edgevision.quantize.config import QuantConfig
        from edgevision.quantize.ptq import quantize_model

        if mode not in ("static", "dynamic", "qat"):
            raise ConfigError(f"mode {mode!r}: choose static, dynamic or qat")
        if self.kind in ("plugin", "module", "openvino"):
            raise ConfigError(f"{self.label}: quantize needs a checkpoint, name or FP32 .onnx")
        dest = Path(out) if out is not None else Path(f"{self.label}_int8.onnx")
        if mode == "qat":
            import dataclasses

            from edgevision.quantize.qat import QATConfig, quantize_qat

            if self.kind != "checkpoint":
                raise ConfigError(f"{self.label}: QAT fine-tunes a checkpoint's weights")
            if train_data is None:
                raise ConfigError("mode 'qat' fine-tunes on training data: pass train_data=DIR")
            names = {f.name for f in dataclasses.fields(QATConfig)}
            qat = build_config(QATConfig, None, **{k: v for k, v in options.items() if k in names})
            qcfg = build_config(
                QuantConfig, None, **{k: v for k, v in options.items() if k not in names}
            )
            res = quantize_qat(self.source, dest, train_data, qcfg, qat, progress=progress)
        else:
            cfg = build_config(QuantConfig, None, mode=mode, **options)
            res = quantize_model(
                self.source,
                dest,
                cfg,
                calib_data=calib_data,
                input_size=self.input_size,
                threads=self.threads,
                measure=measure,
                progress=progress,
            )
        backend = self.backend if self.backend in ("auto", "onnxruntime", "openvino") else "auto"
        return Model(
            str(res.path), backend=backend, threads=self.threads, bgr=self.bgr, **self.options
        )

    # -- benchmark ---------------------------------------------------------------------------
    def benchmark(
        self, *, progress: bool = True, stages: bool = True, flops: bool = True, **options: Any
    ) -> Any:
        """Latency, FPS, memory, size (and accuracy with ``data=``) in a fresh process, as
        ``edgevision bench`` does.

        Args:
            progress: progress on stderr.
            stages: also time the end-to-end pre/infer/post path.
            flops: count FLOPs.
            **options: :class:`~edgevision.config.BenchConfig` fields (``runs``, ``warmup``,
                ``backend``, ``data``, ``conf`` ...); ``backend``, ``threads`` and
                ``input_size`` default to the model's.

        Returns:
            The :class:`~edgevision.bench.BenchResult`.
        """
        from edgevision.bench.harness import benchmark

        if self.kind in ("plugin", "module"):
            raise ConfigError(f"{self.label}: benchmark needs a name, checkpoint or .onnx file")
        defaults: dict[str, Any] = {"threads": self.threads}
        if self.backend != "auto":
            defaults["backend"] = self.backend
        elif self.kind == "openvino":
            defaults["backend"] = "openvino"  # an IR has one engine
        if self.input_size is not None:
            defaults["input_size"] = tuple(self.input_size)
        cfg = build_config(BenchConfig, None, **{**defaults, **options})
        return benchmark(self.source, cfg, progress=progress, stages=stages, flops=flops)

    # -- train -------------------------------------------------------------------------------
    def train(
        self, data: str | os.PathLike[str], *, progress: bool | None = None, **fields: Any
    ) -> Any:
        """Train this architecture on ``data`` with the one training loop (``edgevision train``).

        Args:
            data: dataset folder, or a dataset YAML file (detection;
                :mod:`edgevision.data.detection`).
            progress: ``None``: a bar on a terminal, lines otherwise.
            **fields: fields of the task's training config (``epochs``, ``batch_size``,
                ``out``, ``lr``, ``crop`` ...; :data:`edgevision.tasks.TASKS` says which class).

        Returns:
            The :class:`~edgevision.train.TrainResult`; ``load(result.best)`` is the model.

        A checkpoint (or shipped weights) is fine-tuned: the run starts from its weights
        (the ``pretrained`` field, as ``edgevision train --pretrained CKPT``) with its
        architecture; a registry name starts from the architecture's initial weights.

        Raises:
            ConfigError: an unknown field or a bad value; a target that is neither a
                registry name nor a checkpoint (ONNX and OpenVINO files hold no trainable
                weights).
        """
        from edgevision.config import from_dict
        from edgevision.tasks import get_task
        from edgevision.train import train

        if self.kind not in ("registry", "checkpoint") or self.spec is None:
            arch = f" (its architecture is {self.spec.name!r})" if self.spec is not None else ""
            raise ConfigError(
                f"{self.label}: training starts from a registry architecture or a checkpoint, "
                f"not from a {self.kind} file{arch}: load(ARCH_OR_CKPT).train(data=...)"
            )
        cls = get_task(self.spec.task).load("config")
        base: dict[str, Any] = {"model": self.spec.name, "data": str(data)}
        if self.kind == "checkpoint":  # the same architecture, started from these weights
            base["pretrained"] = str(self.source)
            base["model_kwargs"] = dict(self.spec.model_kwargs)
        if self.input_size is not None:
            base["input_size"] = tuple(self.input_size)
        cfg = from_dict(cls, {**base, **fields})
        return train(cfg, progress=progress)


def _is_video(source: str | os.PathLike[str]) -> bool:
    return Path(str(source)).suffix.lower() in VIDEO_SUFFIXES


def _images(source: Any, bgr: bool) -> list[Any]:
    """``source`` as a list of arrays and image paths (see :meth:`Model.predict`)."""
    if isinstance(source, np.ndarray):
        if source.ndim == 4:
            return list(source)
        return [source]
    if type(source).__module__.startswith("PIL."):
        rgb = np.asarray(source.convert("RGB"))
        return [np.ascontiguousarray(rgb[..., ::-1]) if bgr else rgb]
    if isinstance(source, (str, os.PathLike)):
        return _paths(str(source))
    if isinstance(source, Sequence):
        out: list[Any] = []
        for s in source:
            if isinstance(s, (str, os.PathLike)) and _is_video(s):
                raise ConfigError(f"{s}: a video in a list; predict(video) yields its frames")
            out.extend(_images(s, bgr))
        return out
    raise ConfigError(
        f"cannot predict on a {type(source).__name__}: give an image array, a PIL image, a "
        "path, a folder, a glob or a video file"
    )


def _paths(text: str) -> list[str]:
    if any(c in text for c in "*?["):
        files = sorted(f for f in glob.glob(text, recursive=True) if _is_image(f))
        if not files:
            raise DataError(f"no images match {text}")
        return files
    p = Path(text)
    if p.is_dir():
        files = sorted(str(f) for f in p.iterdir() if _is_image(f))
        if not files:
            raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
        return files
    if not p.exists():
        raise DataError(f"image not found: {p}")
    if p.suffix.lower() in ONNX_SUFFIXES + CHECKPOINT_SUFFIXES:
        raise ConfigError(f"{p} is a model file: edgevision.load({str(p)!r}) it")
    return [text]


def _is_image(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
