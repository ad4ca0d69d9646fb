"""``run_stream``: sources -> bounded queues -> inference worker -> overlay/outputs/JSONL.

Threads (none of the Python work runs on a GStreamer streaming thread for longer than a
frame copy):

* one GStreamer pipeline per source (decode in C), whose appsink callback copies the frame
  into that stream's :class:`~.queues.FrameQueue` (leaky for live sources);
* the **prep** thread takes a frame of every stream that has one (the newest for live
  streams, older ones counted as dropped; the oldest for files) and preprocesses
  them as one batch (stateless plugins; up to ``--batch``), or passes frames on as they are
  for streams with their own session (stateful, video-aware plugins);
* the **inference** thread runs the engine call (or each stream's session) — and only that,
  so preprocessing of the next batch and postprocessing of the previous one overlap with it;
* the **output** thread postprocesses, draws the overlay (:class:`~.overlay.Overlay`: what
  scores ``--draw-conf``, in the model's dataset palette, with a legend), pushes it into the
  encoder pipeline and writes the ``--meta`` JSONL line;
* the caller's thread watches for the end (EOS of every source, ``--duration``, Ctrl-C),
  refreshes the live stats and shuts everything down in order: sources, worker, outputs
  (EOS so the MP4 is finalised), JSONL, summary.

No silent failures: an output that fails (a full disk, an encoder that refuses the frame size,
a JSONL line that cannot be written) ends the run at once; the summary is still written (its
``errors`` name the failure, ``written`` lists only files that were finalised) and the error
is raised. Ctrl-C or SIGTERM on the main thread stops the run; while the shutdown finalises
the outputs a second one is ignored, and a third exits at once (130, outputs unfinished).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from edgevision.errors import ConfigError, EdgeVisionError
from edgevision.io import write_json_atomic
from edgevision.results import Detections, SemanticMask
from edgevision.stream.encoders import EncoderChoice, check_encoder_mode, select_encoder
from edgevision.stream.gst import StreamError
from edgevision.stream.mqtt import MqttConfig, MqttPublisher
from edgevision.stream.outputs import (
    OutputSink,
    check_output,
    check_writable,
    encodes,
    open_output,
    stream_out_name,
)
from edgevision.stream.overlay import Overlay, OverlayOptions
from edgevision.stream.plugins import ModelPlugin, PluginError, PredictorPlugin, load_plugin
from edgevision.stream.queues import Closed, FrameQueue
from edgevision.stream.rtsp import RtspAuth, check_auth
from edgevision.stream.sources import BaseSource, Frame, SourceOptions, open_source, parse_source
from edgevision.stream.stats import LatencyStats, RunStats
from edgevision.tasks import get_task
from edgevision.track import create_tracker

log = logging.getLogger("edgevision.stream")

__all__ = ["RunConfig", "ShutdownSignals", "run_stream"]


@dataclass
class RunConfig:
    """Options of one ``edgevision run``.

    Attributes:
        sources: SOURCE arguments (see :mod:`.sources`).
        model: ``--model`` (see :func:`.plugins.load_plugin`).
        out: ``FILE.mp4``/``.mkv``, ``rtsp://HOST:PORT/NAME``, ``display`` or ``null``; with
            several sources each gets a ``_<i>`` suffix.
        meta: JSONL file, one line per processed frame (``"-"``: standard output), or
            ``None``.
        meta_masks: put masks in the JSONL/MQTT lines (compressed COCO RLE: one per
            instance, or one label mask per class of a segmentation).
        mqtt: publish each frame's JSONL line to an MQTT broker (:mod:`.mqtt`), or ``None``.
        summary: JSON file for the run summary, or ``None``.
        source: how sources are opened.
        encoder: the H.264 encoder of file and RTSP outputs: ``"auto"`` (hardware if
            present, else software), ``"hw"``, ``"sw"`` or an element of
            :data:`.encoders.ENCODERS` (:func:`.encoders.select_encoder`).
        engine: ``auto``, ``onnxruntime``, ``openvino``, ``tensorrt`` or ``torch``
            (:func:`.plugins.load_plugin`; ``--backend``/``--engine``).
        providers: ONNX Runtime execution providers (``cuda``, ``tensorrt``, ``cpu``);
            empty = CPU. They imply ``engine="onnxruntime"`` with ``auto``.
        trt_precision: TensorRT precision with ``engine="tensorrt"`` (``auto``, ``fp32``,
            ``fp16``, ``int8``).
        threads: engine intra-op threads.
        batch: most frames per engine call (0 = one per stream, capped by the plugin).
        video: video mode for instance models (per-stream keyframe state).
        keyframes: keyframe policy for video mode (``None``: the default path's,
            :func:`~edgevision.video.modes.default_mode`).
        propagate: video mode's non-keyframes: ``"none"`` = the partial feature transform,
            ``"featflownet"`` / ``"dis"`` / ``"dis:medium"`` = the keyframe's masks warped with
            that flow (:class:`~edgevision.video.core.StreamSession`); ``None``: the default
            path's.
        precision: per-frame precision policy (:mod:`edgevision.video.precision`);
            ``None``: the default path's.
        precision_engines: component folders of the model at other precisions.
        small_input: ``(h, w)`` of the ``small`` engine, or ``None``.
        duration: stop after this many seconds (0 = until every source ends).
        fps: frame rate written into the output video.
        conf: score threshold of detection/instance models (``None`` = the
            postprocessor's default: 0.25 YOLO, 0.05 YOLACT): what is recorded.
        overlay: what is drawn (``draw_conf`` …), the palette and the legend.
        smooth_edges: semantic models: bilinear upsampling of the logits before the argmax
            (smooth class boundaries instead of the output stride's staircase); its cost is
            measured against the plain postprocess on the first batches
            (``summary["smooth_edges"]``).
        rtsp: who may watch an ``rtsp://`` output; a non-loopback address needs a password
            unless ``no_auth`` (:func:`.rtsp.check_auth`).
        track: a tracker name (:func:`edgevision.track.list_trackers`) for detection and
            instance models, one tracker per stream (``""``: none). Without ``conf`` the
            model then keeps detections down to the tracker's ``low_thresh``.
    """

    sources: list[str]
    model: str
    out: str = "null"
    meta: str | None = None
    meta_masks: bool = False
    mqtt: MqttConfig | None = None
    summary: str | None = None
    source: SourceOptions = field(default_factory=SourceOptions)
    encoder: str = "auto"
    engine: str = "auto"
    providers: list[str] = field(default_factory=list)
    trt_precision: str = "auto"
    threads: int = 2
    batch: int = 0
    video: bool = False
    keyframes: str | None = None
    propagate: str | None = None
    precision: str | None = None
    precision_engines: list[str] = field(default_factory=list)
    small_input: tuple[int, int] | None = None
    duration: float = 0.0
    fps: int = 30
    conf: float | None = None
    overlay: OverlayOptions = field(default_factory=OverlayOptions)
    smooth_edges: bool = False
    rtsp: RtspAuth = field(default_factory=RtspAuth)
    track: str = ""


@dataclass
class _Batch:
    """Frames on their way: preprocessed input, then raw outputs or finished results."""

    frames: list[Frame]
    x: Any = None
    ctx: Any = None
    raw: Any = None
    results: list[Any] | None = None


def _batches(q: FrameQueue[_Batch]) -> Iterator[_Batch]:
    """The batches put on ``q`` (polled every 0.1 s), until it is closed."""
    while True:
        try:
            b = q.get(timeout=0.1)
        except Closed:
            return
        if b is not None:
            yield b


EDGE_COST_BATCHES = 50
"""``--smooth-edges``: batches on which the plain postprocess is timed as well."""


def edge_cost(stats: RunStats, plain: LatencyStats) -> dict[str, Any]:
    """``summary["smooth_edges"]``: postprocess p50 with logits upsampled before the argmax
    (``postprocess_ms``, every batch) and with the labels upsampled (``plain_ms``, the first
    :data:`EDGE_COST_BATCHES` batches, same outputs), and the difference (``cost_ms``)."""
    smooth = stats.stages["postprocess"].summary().get("p50")
    base = plain.summary().get("p50")
    return {
        "postprocess_ms": smooth,
        "plain_ms": base,
        "plain_batches": plain.count,
        "cost_ms": None if smooth is None or base is None else round(smooth - base, 3),
    }


class _Runner:
    """Three threads chained by small blocking queues, so that preprocessing of the next
    batch and postprocessing/drawing/encoding of the previous one overlap with inference:

    ``prepare`` (gather + preprocess) -> ``infer`` (engine call, or per-stream sessions)
    -> ``output`` (postprocess, overlay, encode, JSONL).
    """

    def __init__(
        self,
        cfg: RunConfig,
        plugin: ModelPlugin,
        sources: list[BaseSource],
        sinks: list[OutputSink],
        stats: RunStats,
        meta: IO[str] | None,
        overlay: Overlay,
        mqtt: MqttPublisher | None = None,
    ) -> None:
        self.cfg, self.plugin, self.sources, self.sinks = cfg, plugin, sources, sinks
        self.stats, self.meta, self.mqtt = stats, meta, mqtt
        self.prepq: FrameQueue[_Batch] = FrameQueue(1, leaky=False)
        self.outq: FrameQueue[_Batch] = FrameQueue(2, leaky=False)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.sessions = [plugin.new_stream(i) for i in range(len(sources))]
        self.trackers = [create_tracker(cfg.track) for _ in sources] if cfg.track else []
        stateless = all(s is None for s in self.sessions)
        cap = cfg.batch or len(sources)
        self.batch = max(1, min(cap, plugin.max_batch)) if stateless else 1
        self.wake = threading.Event()
        self.done = threading.Event()  # the output stage has ended
        self.overlay = overlay
        # --smooth-edges: the plain postprocess (argmax, then nearest upsampling) is timed
        # too on the first batches, so the run can say what the smoothing costs
        self.edges_plain = LatencyStats() if cfg.smooth_edges else None
        for s in sources:
            s.queue.on_put = self.wake.set

    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self._guard, args=(self.prepare, self.prepq), name="prep"),
            threading.Thread(target=self._guard, args=(self.infer, self.outq), name="inference"),
            threading.Thread(target=self._guard, args=(self.output, None), name="output"),
        ]

    def _guard(self, fn: Any, downstream: FrameQueue[_Batch] | None) -> None:
        """Run a stage; on error remember it and stop everything; always close downstream."""
        try:
            fn()
        except BaseException as e:  # reported by run_stream in the caller's thread
            self.error = self.error or e
            self.stop.set()
            self.prepq.close()
            self.outq.close()
        finally:
            if downstream is not None:
                downstream.close()
            else:
                self.done.set()

    def _put(self, q: FrameQueue[_Batch], item: _Batch) -> bool:
        while not q.put(item, timeout=0.2):
            if self.stop.is_set() or q.closed:
                return False
        return True

    # ------------------------------------------------------------ stage 1: gather + prep
    def _gather(self) -> list[Frame] | None:
        """Up to ``batch`` frames, one per stream (oldest first); None when all ended."""
        frames: list[Frame] = []
        alive = 0
        for src in self.sources:
            try:
                # live (leaky) streams: the newest frame, older ones count as dropped
                f = src.queue.get_latest() if src.queue.leaky else src.queue.get_nowait()
            except Closed:
                continue
            src.stats.dropped = src.queue.dropped
            alive += 1
            if f is not None:
                frames.append(f)
            if len(frames) >= self.batch:
                break
        if not frames and alive == 0:
            return None
        return frames

    def prepare(self) -> None:
        st = self.stats
        while not self.stop.is_set():
            # gather only when the inference stage can take the batch soon: frames stay in
            # the (leaky) source queues until then, so live streams hand over fresh frames
            if not self.prepq.wait_space(0.1):
                if self.prepq.closed:
                    return
                continue
            frames = self._gather()
            if frames is None:
                return
            if not frames:
                self.wake.wait(0.05)
                self.wake.clear()
                continue
            t0 = time.monotonic()
            for f in frames:
                st.stage("queue_wait", (t0 - f.t_recv) * 1e3)
            stateful = [f for f in frames if self.sessions[f.stream] is not None]
            stateless = [f for f in frames if self.sessions[f.stream] is None]
            if stateful and not self._put(self.prepq, _Batch(stateful)):
                return
            if stateless:
                x, ctx = self.plugin.preprocess([f.image for f in stateless])
                st.stage("preprocess", (time.monotonic() - t0) * 1e3)
                if not self._put(self.prepq, _Batch(stateless, x, ctx)):
                    return

    # ------------------------------------------------------------ stage 2: inference
    def infer(self) -> None:
        st = self.stats
        for b in _batches(self.prepq):
            if self.sessions[b.frames[0].stream] is not None:
                b.results = []
                for f in b.frames:
                    t = time.monotonic()
                    b.results.append(self.sessions[f.stream](f.image))  # type: ignore[misc]
                    st.stage("inference", (time.monotonic() - t) * 1e3)
            else:
                t = time.monotonic()
                b.raw = self.plugin.infer(b.x)
                st.stage("inference", (time.monotonic() - t) * 1e3)
                b.x = None
            st.batches += 1
            if not self._put(self.outq, b):
                return

    # ------------------------------------------------------------ stage 3: outputs
    def output(self) -> None:
        st = self.stats
        for b in _batches(self.outq):
            if b.results is None:
                t = time.monotonic()
                b.results = list(self.plugin.postprocess(b.raw, b.ctx))
                st.stage("postprocess", (time.monotonic() - t) * 1e3)
                ref = self.edges_plain
                if ref is not None and ref.count < EDGE_COST_BATCHES:
                    t = time.monotonic()
                    self.plugin.postprocess(b.raw, b.ctx, upsample="labels")  # type: ignore[call-arg]
                    ref.add((time.monotonic() - t) * 1e3)
                if len(b.results) != len(b.frames):
                    raise StreamError(
                        f"model plugin {self.plugin.name!r} returned {len(b.results)} results "
                        f"for {len(b.frames)} frames"
                    )
            if self.trackers:
                t = time.monotonic()
                b.results = [
                    self.trackers[f.stream].update(r, f.index, image=f.image)
                    for f, r in zip(b.frames, b.results)
                ]
                st.stage("track", (time.monotonic() - t) * 1e3)
            now = time.monotonic()
            for f, r in zip(b.frames, b.results):
                st.stage("latency", (now - f.t_recv) * 1e3)
                self._emit(f, r, now)

    def _emit(self, f: Frame, r: Any, t_result: float) -> None:
        t = time.monotonic()
        sink = self.sinks[f.stream]
        if sink.needs_image:
            image = self.overlay(f.image, r)
            sink.write(image, f.pts)
        if self.meta is not None or self.mqtt is not None:
            text = json.dumps(self._line(f, r, t_result), separators=(",", ":"))
            if self.meta is not None:
                try:
                    self.meta.write(text + "\n")
                except OSError as e:  # a full disk: one line naming the file; the run ends
                    raise StreamError(
                        f"--meta {self.cfg.meta}: cannot write: {e.strerror}"
                    ) from None
            if self.mqtt is not None:
                self.mqtt.publish(f.stream, text.encode())
        self.stats.stage("output", (time.monotonic() - t) * 1e3)
        self.stats.processed(f.stream, time.monotonic())

    def _line(self, f: Frame, r: Any, t_result: float) -> dict[str, Any]:
        """The frame's metadata record (a ``--meta`` line, an MQTT message)."""
        if isinstance(r, (Detections, SemanticMask)):
            result = r.to_dict(masks=self.cfg.meta_masks)
        else:  # a plugin's own result type
            result = r.to_dict() if hasattr(r, "to_dict") else r
        return {
            "stream": f.stream,
            "source": self.sources[f.stream].spec.text,
            "frame": f.index,
            "pts": round(f.pts, 4),
            "time": utc_iso(time.time() - (time.monotonic() - f.t_recv)),
            "latency_ms": round((t_result - f.t_recv) * 1e3, 2),
            "result": result,
        }


def utc_iso(t: float) -> str:
    """``time.time()`` seconds -> ISO 8601 UTC with milliseconds, ``2026-12-05T06:14:07.123Z``."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


class ShutdownSignals:
    """Ctrl-C (and SIGTERM, when nothing else handles it) while :func:`run_stream` runs on
    the main thread: the first stops the run (a ``KeyboardInterrupt`` into its main loop);
    once the shutdown has begun (``finalising``) further ones do not interrupt it: the next
    is ignored with a message, and the third in all exits at once (130, outputs unfinished).

    The previous handlers are put back when the run is over (the console script then
    ignores both signals while the interpreter exits, ``cli.main.entrypoint``).
    """

    def __init__(self) -> None:
        self.count = 0
        self.finalising = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> ShutdownSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        # SIGINT: only Python's default (KeyboardInterrupt); left alone when ignored (a
        # background job) or handled by the caller. SIGTERM: only when it would kill us.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        self.finalising = True
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1 and not self.finalising:
            raise KeyboardInterrupt
        if self.count >= 3:
            os.write(2, b"edgevision run: forced exit: outputs not finalised\n")
            os._exit(130)
        log.warning(
            "%s: still finishing outputs and the summary (once more to force exit)",
            signal.Signals(signum).name,
        )


def _live(stats: RunStats, progress: bool) -> Any:
    if not progress:
        return None
    import sys

    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.live import Live

    live = Live(console=Console(stderr=True), refresh_per_second=2, transient=True)
    live.start()
    return live


def _model_task(model: str) -> str:
    """The task of an ``.onnx`` file, a checkpoint or a registry name, read without loading
    the model (``""`` for other forms: plugins, component folders)."""
    from edgevision.io import CHECKPOINT_SUFFIXES, ONNX_SUFFIXES
    from edgevision.registry import MANIFEST, get_entry

    p = Path(model)
    if p.is_file() and p.suffix.lower() in ONNX_SUFFIXES:
        from edgevision.export.metadata import read_spec

        return read_spec(p).task
    if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES:
        from edgevision.checkpoint import read_spec as read_checkpoint_spec

        return read_checkpoint_spec(p).task
    return get_entry(model).task if model in MANIFEST else ""


def _check_trackable(task: str, model: str) -> None:
    """``--track`` needs scored boxes (``""``: a plugin that did not say; its results are
    checked by the tracker)."""
    if task and not get_task(task).scored:
        raise ConfigError(f"--track needs a detection or instance model; {model} is {task}")


def run_stream(
    cfg: RunConfig,
    *,
    plugin: ModelPlugin | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
    available: Any = None,
    signals: ShutdownSignals | None = None,
) -> dict[str, Any]:
    """Run the pipeline until every source ends, ``cfg.duration`` passes, ``stop`` is set
    or Ctrl-C; returns the summary (also written to ``cfg.summary``, also when the run
    fails once started).

    On the main thread, Ctrl-C and SIGTERM stop the run cleanly; during the shutdown a second
    signal is ignored and a third exits at once (see :class:`ShutdownSignals`).

    Args:
        cfg: the run's options.
        plugin: an already-loaded plugin (default: :func:`load_plugin` of ``cfg.model``).
        progress: live stats on stderr (when it is a terminal).
        stop: an event another thread may set to end the run cleanly.
        available: decoder registry predicate (tests fake it).
        signals: how Ctrl-C/SIGTERM are handled (default: a new :class:`ShutdownSignals`).

    Raises:
        StreamError, DataError, PluginError …: bad sources, outputs or model (one line each);
            an output that failed (not written, or not finalised) is a StreamError.
        KeyboardInterrupt: after a clean shutdown (outputs finalised, summary written).
    """
    if not cfg.sources:
        raise StreamError("no SOURCE given")
    specs = [parse_source(s) for s in cfg.sources]
    n = len(specs)
    outs = [stream_out_name(cfg.out, i, n) for i in range(n)]
    for o in outs:
        check_output(o)
    check_encoder_mode(cfg.encoder)  # a bad name fails here; the registry is asked below
    encoder: EncoderChoice | None = None
    server = None
    if cfg.out.startswith("rtsp://"):
        from urllib.parse import urlsplit

        from edgevision.stream.rtsp import RtspServer

        u = urlsplit(cfg.out)
        host = u.hostname or "127.0.0.1"
        check_auth(host, cfg.rtsp)
        server = RtspServer(host, int(u.port or 8554), cfg.rtsp)
    meta_path = Path(cfg.meta) if cfg.meta and cfg.meta != "-" else None
    if meta_path is not None:
        check_writable(meta_path)
    mqtt = MqttPublisher(cfg.mqtt, n) if cfg.mqtt is not None else None
    if mqtt is not None:  # fail fast: an unreachable broker or a wrong password, one line
        mqtt.connect()
    own_plugin = plugin is None
    try:  # the broker connection must not outlive a model or source that fails to open
        conf = cfg.conf
        if cfg.track:
            low = create_tracker(cfg.track).cfg.low_thresh  # an unknown name: ConfigError here
            task = plugin.task if plugin is not None else _model_task(cfg.model)
            _check_trackable(task, cfg.model)
            conf = low if conf is None else conf
        post_kw: dict[str, Any] = {} if conf is None else {"conf_threshold": conf}
        if cfg.smooth_edges:
            post_kw["upsample"] = "logits"
        plugin = plugin or load_plugin(
            cfg.model,
            engine=cfg.engine,
            providers=list(cfg.providers),
            trt_precision=cfg.trt_precision,
            threads=cfg.threads,
            video=cfg.video,
            keyframes=cfg.keyframes,
            propagate=cfg.propagate,
            precision=cfg.precision,
            precision_engines=cfg.precision_engines,
            small_input=cfg.small_input,
            **post_kw,
        )
        try:
            if cfg.track:
                _check_trackable(plugin.task, plugin.name)
            if cfg.smooth_edges and not isinstance(plugin, PredictorPlugin):
                raise ConfigError(
                    f"--smooth-edges needs a model that edgevision postprocesses (a semantic "
                    f".onnx, checkpoint or name), not the plugin {plugin.name!r}"
                )
            overlay = Overlay.for_spec(getattr(plugin, "spec", None), cfg.overlay)
            # after the model: GStreamer initialised before OpenVINO compiles aborts the
            # process; one encoder for every output, chosen before any source starts
            if any(encodes(o) for o in outs):
                encoder = select_encoder(cfg.encoder)
                log.info("encoder: %s (%s)", encoder.element, encoder.reason)
        except BaseException:
            if own_plugin:
                plugin.close()
            raise
        stats = RunStats([s.text for s in specs])
        sources = [
            open_source(sp, i, cfg.source, stats.streams[i], available=available)
            for i, sp in enumerate(specs)
        ]
        sinks = [open_output(o, fps=cfg.fps, server=server, encoder=encoder) for o in outs]
    except BaseException:
        if mqtt is not None:
            mqtt.abort()
        raise
    started: list[BaseSource] = []
    meta: IO[str] | None = None
    runner: _Runner | None = None
    interrupted = False
    threads: list[threading.Thread] = []
    live = None
    out_errors: list[str] = []
    with signals or ShutdownSignals() as guard:
        try:
            for src in sources:
                src.start()
                started.append(src)
                log.info("stream %d: %s (%s)", src.index, src.spec.text, src.spec.kind)
            stats.t0 = time.monotonic()
            # closed in the finally block below (it must outlive this statement)
            meta = open(meta_path, "w", encoding="utf-8", buffering=1) if meta_path else None  # noqa: SIM115
            if cfg.meta == "-":
                meta = sys.stdout
            runner = _Runner(cfg, plugin, sources, sinks, stats, meta, overlay, mqtt)
            threads = runner.threads()
            for t in threads:
                t.daemon = True
                t.start()
            live = _live(stats, progress)
            deadline = time.monotonic() + cfg.duration if cfg.duration > 0 else None
            # an Event, not Thread.join: Ctrl-C raised inside join() (Python 3.11) can mark a
            # live thread as ended, and the shutdown would then race the output thread
            while not runner.done.wait(0.25):
                stats.sample_rss()
                if live is not None:
                    live.update(stats.live_line())
                if (stop is not None and stop.is_set()) or (
                    deadline is not None and time.monotonic() > deadline
                ):
                    break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: finishing outputs (Ctrl-C twice more forces exit)")
        finally:
            guard.finalising = True
            if live is not None:
                live.stop()
            for src in started:
                src.stop()
            for src in started:
                src.join(5.0)
            if runner is not None:
                runner.stop.set()
            for t in threads:
                t.join(10.0)
            for sink in sinks:
                try:
                    sink.close()
                except StreamError as e:  # one broken sink must not keep the others unfinalised
                    out_errors.append(str(e))
            if meta is not None:
                try:
                    if meta is sys.stdout:
                        meta.flush()
                    else:
                        meta.close()
                except OSError as e:
                    out_errors.append(f"--meta {cfg.meta}: cannot write: {e.strerror}")
            if mqtt is not None:
                try:
                    mqtt.close()
                except StreamError as e:
                    out_errors.append(str(e))
            if server is not None:
                server.close()
            if own_plugin:
                plugin.close()
        err = runner.error if runner is not None else None
        if isinstance(err, KeyboardInterrupt):
            interrupted, err = True, None
        if err is not None and not isinstance(err, EdgeVisionError):
            cause = err
            err = PluginError(
                f"model plugin {plugin.name!r} failed during the run: {type(err).__name__}: {err}"
            )
            err.__cause__ = cause  # the plugin's traceback, shown with --debug
        failed = [s for s in started if s.stats.ended == "error"]
        errors = [f"stream {s.index}: {s.error}" for s in failed]
        errors += [str(err)] if err is not None and str(err) not in out_errors else []
        errors += out_errors
        summary = stats.summary(
            model=plugin.describe(),
            outputs=[s.target for s in sinks],
            encoder=encoder.to_dict() if encoder is not None else None,
            written=[w for w in (s.written for s in sinks) if w],
            meta=cfg.meta,
            interrupted=interrupted,
            batch=runner.batch if runner else 0,
            errors=errors,
            **(
                {"smooth_edges": edge_cost(stats, runner.edges_plain)}
                if runner is not None and runner.edges_plain is not None
                else {}
            ),
            **({"mqtt": mqtt.summary()} if mqtt is not None else {}),
        )
        if runner is not None and runner.trackers:
            for st, trk in zip(summary["streams"], runner.trackers):
                st["tracking"] = trk.summary()
        if cfg.summary:
            write_json_atomic(cfg.summary, summary)
        raised = str(err) if err is not None else (out_errors or [""])[0]
        for line in out_errors:  # (source errors were logged as they happened)
            if line != raised:  # the one raised below is the CLI's one error line
                log.error("%s", line)
    if err is not None:
        raise err
    if out_errors:
        more = f" (and {len(out_errors) - 1} more, see the summary)" if len(out_errors) > 1 else ""
        raise StreamError(out_errors[0] + more)
    if interrupted:
        raise KeyboardInterrupt
    return summary
