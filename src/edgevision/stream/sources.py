"""Frame sources: parse a SOURCE argument and deliver RGB frames into a bounded queue.

SOURCE forms (``edgevision run --help`` lists them too):

* a video file (``.mp4 .mkv .avi .mov .webm .ts``) or ``file://`` URI — H.264, H.265, MJPEG,
  VP8/9, AV1, MPEG-2/4 where a decoder exists; decoders picked by :mod:`.decoders`;
* ``rtsp://HOST[:PORT]/PATH`` (``rtspsrc``; TCP by default, ``--rtsp-transport udp``);
  reconnects with back-off when a stream that was playing drops;
* ``v4l2:///dev/videoN`` (``v4l2src``), ``csi://N`` (``nvarguscamerasrc``, Jetson);
* ``test://PATTERN[?size=WxH&fps=N&frames=N]`` (``videotestsrc``, live);
* a folder of images (:data:`edgevision.io.IMAGE_SUFFIXES`: ``.jpg .jpeg .png .bmp .tif .tiff
  .webp``, as the dataset readers; sorted by name; read with OpenCV);
* ``gst:FRAGMENT``: a GStreamer pipeline fragment ending in raw video, for experts.

Each GStreamer source runs its own pipeline ending in an ``appsink``; the appsink callback
copies the frame into a :class:`~edgevision.stream.queues.FrameQueue` and returns at once, so
decoding never waits on the model when the queue is leaky.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError
from edgevision.io import IMAGE_SUFFIXES
from edgevision.stream.decoders import DecoderChoice, frame_tail, gst_available, select_decoder
from edgevision.stream.gst import (
    StreamError,
    gst,
    launch_error,
    make_element,
    parse_error,
    require_element,
)
from edgevision.stream.queues import FrameQueue
from edgevision.stream.stats import StreamStats

log = logging.getLogger("edgevision.stream")

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v", ".h264", ".h265")
LIVE_KINDS = ("rtsp", "v4l2", "csi", "test")

__all__ = ["Frame", "SourceSpec", "open_source", "parse_source", "parse_wh"]


@dataclass
class Frame:
    """One decoded frame on its way through the pipeline.

    Attributes:
        stream: index of the source on the command line.
        index: frame number in its stream (0-based, counting dropped frames too).
        pts: presentation time in seconds (stream clock; frame index / fps for folders).
        t_recv: ``time.monotonic()`` when the frame reached Python (live sources) or entered
            the queue (files and folders, which wait for space): the start of the latency.
        image: ``(H, W, 3)`` uint8 RGB.
    """

    stream: int
    index: int
    pts: float
    t_recv: float
    image: np.ndarray


@dataclass(frozen=True)
class SourceSpec:
    """A parsed SOURCE argument. ``kind``: file, rtsp, v4l2, csi, test, folder or fragment."""

    text: str
    kind: str
    location: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.kind in LIVE_KINDS


TEST_PATTERNS: tuple[str, ...] = (
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2",
    "checkers-4", "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut",
    "chroma-zone-plate", "solid-color", "ball", "smpte100", "bar", "pinwheel", "spokes",
    "gradient", "colors", "smpte-rp-219",
)  # fmt: skip
"""``videotestsrc``'s ``pattern`` values (GStreamer 1.22); ``test://`` accepts these names
(or their index) only: the pattern is pasted into a pipeline description, so anything else
(``!``, spaces, quotes: a second element) is refused, never parsed."""


def _check_test_source(text: str, pattern: str, params: dict[str, str]) -> None:
    """Refuse a ``test://`` source whose pattern or parameters are not plain values."""
    if pattern not in TEST_PATTERNS and not (
        re.fullmatch(r"[0-9]{1,2}", pattern) and int(pattern) < len(TEST_PATTERNS)
    ):
        raise StreamError(
            f"{text}: unknown test pattern {pattern!r} (choose from {', '.join(TEST_PATTERNS)})"
        )
    fps, frames = params.get("fps", "30"), params.get("frames", "-1")
    if not re.fullmatch(r"[0-9]{1,4}", fps) or int(fps) <= 0:
        raise StreamError(f"{text}: fps must be a positive integer, got {fps!r}")
    if not re.fullmatch(r"-1|[0-9]{1,9}", frames) or int(frames) == 0:
        raise StreamError(f"{text}: frames must be a positive integer (or -1), got {frames!r}")
    parse_wh(params.get("size", "640x480"), text)


def parse_source(text: str) -> SourceSpec:
    """Classify a SOURCE argument and check what can be checked without opening it.

    Raises:
        DataError: a file or folder that does not exist, a folder without images, a video
            file of an unknown type, a camera device that does not exist.
        StreamError: an empty fragment or a malformed URI.
    """
    t = text.strip()
    if t.startswith("gst:"):
        frag = t[4:].strip()
        if not frag:
            raise StreamError("empty pipeline fragment after 'gst:'")
        return SourceSpec(text, "fragment", frag)
    if t.startswith(("rtsp://", "rtsps://", "rtspt://")):
        return SourceSpec(text, "rtsp", t)
    if t.startswith("test://"):
        u = urllib.parse.urlsplit(t)
        params = dict(urllib.parse.parse_qsl(u.query))
        pattern = (u.netloc + u.path).strip("/") or "smpte"
        bad = set(params) - {"size", "fps", "frames"}
        if bad:
            raise StreamError(f"{text}: unknown parameter(s) {sorted(bad)} (size, fps, frames)")
        _check_test_source(text, pattern, params)
        return SourceSpec(text, "test", pattern, params)
    if t.startswith("v4l2://"):
        dev = t[len("v4l2://") :] or "/dev/video0"
        if not os.path.exists(dev):
            raise DataError(f"camera not found: {dev} (from {text})")
        return SourceSpec(text, "v4l2", dev)
    if t.startswith("csi://"):
        sensor = t[len("csi://") :] or "0"
        if not sensor.isdigit():
            raise StreamError(f"{text}: expected csi://N with a sensor number")
        return SourceSpec(text, "csi", sensor)
    if "://" in t and not t.startswith("file://"):
        raise StreamError(
            f"unsupported source {text!r}: use a file, folder, rtsp://, v4l2://, csi://, "
            f"test:// or gst:FRAGMENT"
        )
    p = Path(urllib.parse.unquote(t[len("file://") :]) if t.startswith("file://") else t)
    if not p.exists():
        raise DataError(f"source not found: {p}")
    if p.is_dir():
        images = _folder_images(p)
        if not images:
            raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
        return SourceSpec(text, "folder", str(p.resolve()))
    if p.suffix.lower() not in VIDEO_SUFFIXES:
        raise DataError(
            f"unsupported file type {p.suffix or '(none)'!r}: {p} "
            f"(video files: {' '.join(VIDEO_SUFFIXES)}; or a folder of images)"
        )
    if p.stat().st_size == 0:
        raise DataError(f"video file is empty: {p}")
    return SourceSpec(text, "file", str(p.resolve()))


def _folder_images(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())


def parse_wh(text: str, where: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)`` (width first, as GStreamer caps and ``--size``).

    Raises:
        StreamError: malformed or not positive; the message starts with ``where``.
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise StreamError(f"{where}: expected WIDTHxHEIGHT, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise StreamError(f"{where}: size must be positive, got {text!r}")
    return w, h


@dataclass
class SourceOptions:
    """How sources are opened (shared by all sources of a run).

    Attributes:
        size: ``(W, H)`` to scale frames to, or ``None`` for the native size.
        decoder: ``auto``, ``hw``, ``sw`` or an element name (see :mod:`.decoders`).
        leaky: drop the oldest frame when the queue is full (``None``: live sources leak,
            files and folders apply back-pressure so every frame is processed).
        queue_size: frames buffered per stream.
        realtime: play files at their frame rate (like a camera) instead of as fast as
            possible.
        max_frames: stop each stream after this many frames (0 = until EOS).
        start_timeout: seconds to wait for a stream's first frame before failing.
        rtsp_transport: ``tcp`` or ``udp``.
        rtsp_latency_ms: rtspsrc jitter-buffer latency.
        reconnect: reconnect RTSP streams that drop after they played.
        reconnect_timeout: give up on a dropped stream after this many seconds.
        stall_timeout: a live stream silent this long counts as dropped.
        nvmm: Jetson: convert and scale decoded NVMM frames in hardware with ``nvvidconv``
            to RGBA in system memory (:func:`.decoders.frame_tail`) instead of
            ``videoconvert``/``videoscale`` on the CPU.
    """

    size: tuple[int, int] | None = None
    decoder: str = "auto"
    leaky: bool | None = None
    queue_size: int = 2
    realtime: bool = False
    max_frames: int = 0
    start_timeout: float = 10.0
    rtsp_transport: str = "tcp"
    rtsp_latency_ms: int = 100
    reconnect: bool = True
    reconnect_timeout: float = 30.0
    stall_timeout: float = 5.0
    nvmm: bool = False


class BaseSource:
    """Common part: the queue, the counters, start/stop."""

    def __init__(
        self, spec: SourceSpec, index: int, opts: SourceOptions, stats: StreamStats
    ) -> None:
        self.spec = spec
        self.index = index
        self.opts = opts
        self.stats = stats
        leaky = spec.live if opts.leaky is None else opts.leaky
        self.queue: FrameQueue[Frame] = FrameQueue(opts.queue_size, leaky=leaky)
        self.error: str = ""
        self._stop = threading.Event()
        self._count = 0

    def _push(self, image: np.ndarray, pts: float) -> bool:
        """Queue one frame; returns False when the stream should stop."""
        if self._stop.is_set():
            return False
        if not self.queue.leaky:  # back-pressure: latency starts when the frame is queued
            while not self.queue.wait_space(0.2):
                if self._stop.is_set() or self.queue.closed:
                    return False
        f = Frame(self.index, self._count, pts, time.monotonic(), image)
        self._count += 1
        self.stats.received += 1
        while not self.queue.put(f, timeout=0.2):
            if self._stop.is_set() or self.queue.closed:
                return False
        self.stats.dropped = self.queue.dropped
        if self.opts.max_frames and self._count >= self.opts.max_frames:
            self._finish("max-frames")
            return False
        return True

    def _finish(self, why: str) -> None:
        if not self.stats.ended:
            self.stats.ended = why
        self._stop.set()
        self.queue.close()

    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:
        self._finish(self.stats.ended or "stopped")

    def join(self, timeout: float = 5.0) -> None:  # pragma: no cover - overridden
        pass


class FolderSource(BaseSource):
    """Images of a folder, sorted by name, read by OpenCV in a thread (``pts = i / 30``)."""

    def start(self) -> None:
        self.stats.decoder = {"codec": "images", "element": "cv2.imread", "hardware": False}
        self._files = _folder_images(Path(self.spec.location))
        self._thread = threading.Thread(target=self._run, name=f"folder-{self.index}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import cv2

        for i, f in enumerate(self._files):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                self.error = f"cannot read image {f}"
                log.warning("stream %d: %s (skipped)", self.index, self.error)
                continue
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if self.opts.size is not None and (img.shape[1], img.shape[0]) != self.opts.size:
                img = cv2.resize(img, self.opts.size, interpolation=cv2.INTER_AREA)
            if not self._push(img, i / 30.0):
                return
        self._finish("eos")

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class GstSource(BaseSource):
    """A GStreamer pipeline ``source ! [decode] ! videoconvert ! videoscale ! appsink``.

    A bus thread watches errors, EOS and stalls; RTSP streams that drop after they played are
    rebuilt with exponential back-off (0.5 s … 5 s) until ``reconnect_timeout``.
    """

    def __init__(self, *a: Any, available: Callable[[str, Any], bool] | None = None, **k: Any):
        super().__init__(*a, **k)
        self.available = available or gst_available
        self.choice: DecoderChoice | None = None
        self.pipeline: Any = None
        self._first = threading.Event()
        self._channels = 3  # bytes per pixel at the appsink (frame_tail)
        self._failed = threading.Event()
        self._last_frame = 0.0
        self._thread: threading.Thread | None = None
        self._pending: Any = None  # an EOS/ERROR seen by start() after the first frame

    # ---------------------------------------------------------------- building
    def _tail(self, Gst: Any) -> tuple[Any, Any]:
        """The :func:`.decoders.frame_tail` elements ! capsfilter ! appsink; returns
        (first, appsink)."""
        tail = frame_tail(nvmm=self.opts.nvmm, size=self.opts.size)
        self._channels = tail.channels
        elements = [make_element(e) for e in tail.elements]
        cf = make_element("capsfilter", caps=Gst.Caps.from_string(tail.caps))
        sink = make_element(
            "appsink",
            f"sink{self.index}",
            emit_signals=True,
            sync=bool(self.opts.realtime and not self.spec.live),
            max_buffers=1,
            drop=False,
        )
        sink.connect("new-sample", self._on_sample)
        chain = [*elements, cf, sink]
        for e in chain:
            self.pipeline.add(e)
        for a, b in itertools.pairwise(chain):
            a.link(b)
        return chain[0], sink

    def _build(self) -> None:
        Gst = gst()
        self.pipeline = Gst.Pipeline.new(f"stream{self.index}")
        first, _ = self._tail(Gst)
        kind, loc = self.spec.kind, self.spec.location
        if kind in ("file", "rtsp"):
            uri = Path(loc).as_uri() if kind == "file" else loc
            if kind == "rtsp":
                require_element("rtspsrc")  # uridecodebin creates it
            dec = make_element(
                "uridecodebin", uri=uri, caps=Gst.Caps.from_string("video/x-raw(ANY)")
            )
            if kind == "rtsp":
                dec.connect("source-setup", self._rtsp_setup)
            self._connect_decodebin(dec, first)
            self.pipeline.add(dec)
        elif kind == "v4l2":
            src = make_element("v4l2src", device=loc)
            dec = make_element("decodebin")
            self._connect_decodebin(dec, first)
            self.pipeline.add(src)
            self.pipeline.add(dec)
            src.link(dec)
        else:
            desc = self._fragment_text()
            try:
                # "! identity": a fragment may end in caps, which need an element after them
                head = Gst.parse_bin_from_description(f"{desc} ! identity", True)
            except Exception as e:  # GLib.Error: syntax error or unknown element
                raise StreamError(
                    f"source {self.spec.text!r}: bad pipeline fragment: {launch_error(e)}"
                ) from None
            if head.find_unlinked_pad(Gst.PadDirection.SRC) is None and not head.get_static_pad(
                "src"
            ):
                raise StreamError(f"source {self.spec.text!r}: fragment has no free src pad")
            self.pipeline.add(head)
            if not head.link(first):
                raise StreamError(
                    f"source {self.spec.text!r}: fragment output cannot link to raw video"
                )
            if kind == "test":
                self.stats.decoder = {"codec": "raw", "element": "videotestsrc", "hardware": False}
            elif kind == "fragment":
                self.stats.decoder = {"codec": "raw", "element": "(fragment)", "hardware": False}

    def _fragment_text(self) -> str:
        kind, loc, p = self.spec.kind, self.spec.location, self.spec.params
        if kind == "test":
            w, h = parse_wh(p.get("size", "640x480"), self.spec.text)
            fps = p.get("fps", "30")
            if not fps.isdigit() or int(fps) <= 0:
                raise StreamError(f"{self.spec.text}: fps must be a positive integer")
            nb = p.get("frames", "-1")
            return (
                f"videotestsrc is-live=true pattern={loc} num-buffers={int(nb)} ! "
                f"video/x-raw,width={w},height={h},framerate={fps}/1"
            )
        if kind == "csi":
            if not self.available("nvarguscamerasrc", None):
                raise StreamError(
                    f"{self.spec.text}: CSI cameras need nvarguscamerasrc (NVIDIA Jetson), "
                    f"not installed here"
                )
            if self.opts.nvmm:  # NVMM frames straight into the tail's nvvidconv
                return f"nvarguscamerasrc sensor-id={loc}"
            return f"nvarguscamerasrc sensor-id={loc} ! nvvidconv ! video/x-raw,format=BGRx"
        return loc

    def _rtsp_setup(self, _bin: Any, src: Any) -> None:
        Gst = gst()
        if src.get_factory().get_name() != "rtspsrc":
            return
        Gst.util_set_object_arg(src, "protocols", self.opts.rtsp_transport)
        src.set_property("latency", int(self.opts.rtsp_latency_ms))
        src.set_property("tcp-timeout", int(self.opts.start_timeout * 1e6))
        src.set_property("timeout", int(self.opts.stall_timeout * 1e6))
        src.set_property("retry", 1)

    def _connect_decodebin(self, dec: Any, first: Any) -> None:
        dec.connect("autoplug-select", self._autoplug_select)
        dec.connect("pad-added", self._pad_added, first)

    def _autoplug_select(self, _bin: Any, _pad: Any, caps: Any, factory: Any) -> int:
        """decodebin asks before plugging each element; we veto every video decoder except
        the one :func:`select_decoder` picked (0 = try, 2 = skip)."""
        klass = factory.get_metadata("klass") or ""
        if "Decoder" not in klass or ("Video" not in klass and "Image" not in klass):
            return 0
        if self.choice is None:
            name = caps.get_structure(0).get_name()
            try:
                self.choice = select_decoder(name, self.opts.decoder, self.available, caps)
            except StreamError as e:
                self.error = str(e)
                self._failed.set()
                return 2
            self.stats.decoder = self.choice.to_dict()
            log.info(
                "stream %d: %s -> %s (%s)",
                self.index,
                self.choice.codec,
                self.choice.element,
                self.choice.reason,
            )
        return 0 if factory.get_name() == self.choice.element else 2

    def _pad_added(self, _dec: Any, pad: Any, first: Any) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        if not caps.get_structure(0).get_name().startswith("video/x-raw"):
            return
        target = first.get_static_pad("sink")
        if target.is_linked():
            return
        if (
            self.choice is not None
            and self.choice.convert
            and not self.opts.nvmm  # the tail starts with nvvidconv already
            and caps.get_features(0).contains("memory:NVMM")
        ):
            try:
                conv = make_element(self.choice.convert)
            except StreamError as e:  # a GStreamer callback: report through start()/_watch()
                self.error = f"{self.choice.element} needs {self.choice.convert}: {e}"
                self._failed.set()
                return
            self.pipeline.add(conv)
            conv.sync_state_with_parent()
            conv.link(first)
            target = conv.get_static_pad("sink")
        if pad.link(target) != gst().PadLinkReturn.OK:
            self.error = f"cannot link decoded video ({caps.to_string()[:80]})"
            self._failed.set()

    # ---------------------------------------------------------------- frames
    def _on_sample(self, sink: Any) -> Any:
        Gst = gst()
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.EOS
        buf = sample.get_buffer()
        s = sample.get_caps().get_structure(0)
        w, h = s.get_value("width"), s.get_value("height")
        c = self._channels
        stride = (w * c + 3) & ~3  # GStreamer's default row alignment for packed RGB(A)
        data = buf.extract_dup(0, buf.get_size())
        if len(data) == stride * h:
            img = np.frombuffer(data, np.uint8).reshape(h, stride)[:, : w * c].reshape(h, w, c)
        elif len(data) == w * h * c:
            img = np.frombuffer(data, np.uint8).reshape(h, w, c)
        else:
            self.error = f"unexpected frame buffer size {len(data)} for {w}x{h} ({c} channels)"
            self._failed.set()
            return Gst.FlowReturn.ERROR
        if c == 4:  # nvvidconv's RGBA: one CPU pass to the model's packed RGB
            img = np.ascontiguousarray(img[:, :, :3])
        pts = buf.pts / Gst.SECOND if buf.pts != Gst.CLOCK_TIME_NONE else time.monotonic()
        self._last_frame = time.monotonic()
        if not self._first.is_set():
            self._first.set()
        if not self._push(img, float(pts)):
            return Gst.FlowReturn.EOS
        return Gst.FlowReturn.OK

    # ---------------------------------------------------------------- control
    def _play(self) -> None:
        Gst = gst()
        self._build()
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            err = self._pop_error(0.5)
            raise StreamError(
                f"source {self.spec.text!r}: cannot start: {err or 'state change failed'}"
            )

    def _pop_error(self, timeout: float) -> str:
        Gst = gst()
        msg = self.pipeline.get_bus().timed_pop_filtered(
            int(timeout * Gst.SECOND), Gst.MessageType.ERROR
        )
        return parse_error(msg) if msg is not None else ""

    def _teardown(self) -> None:
        if self.pipeline is not None:
            self.pipeline.set_state(gst().State.NULL)
            self.pipeline = None

    def start(self) -> None:
        """Open the source and wait for its first frame.

        Raises:
            StreamError: the source fails, or sends no frame within ``start_timeout``.
        """
        Gst = gst()
        self._play()
        bus = self.pipeline.get_bus()
        deadline = time.monotonic() + self.opts.start_timeout
        while not self._first.is_set():
            if self._failed.is_set():
                self._teardown()
                raise StreamError(f"source {self.spec.text!r}: {self.error}")
            msg = bus.timed_pop_filtered(
                int(0.05 * Gst.SECOND), Gst.MessageType.ERROR | Gst.MessageType.EOS
            )
            if msg is not None:
                if self._first.is_set():  # a short stream may end before we look
                    self._pending = msg
                    break
                why = (
                    parse_error(msg)
                    if msg.type == Gst.MessageType.ERROR
                    else "stream ended before the first frame"
                )
                if self._failed.is_set() and self.error:
                    why = self.error
                self._teardown()
                raise StreamError(f"source {self.spec.text!r}: {why}")
            if time.monotonic() > deadline:
                self._teardown()
                raise StreamError(
                    f"source {self.spec.text!r}: no frame within {self.opts.start_timeout:g} s "
                    f"(unreachable or not a video stream)"
                )
        self._thread = threading.Thread(target=self._watch, name=f"bus-{self.index}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """Bus loop: EOS ends the stream; errors and stalls end it or trigger a reconnect."""
        Gst = gst()
        types = Gst.MessageType.ERROR | Gst.MessageType.EOS
        while not self._stop.is_set():
            msg, self._pending = self._pending, None
            if msg is None and self.pipeline is not None:
                msg = self.pipeline.get_bus().timed_pop_filtered(int(0.1 * Gst.SECOND), types)
            if self._stop.is_set():  # our own stop (max-frames, Ctrl-C, the end of the run):
                break  # the EOS/error it causes downstream is not a lost stream
            lost = ""
            if msg is not None and msg.type == Gst.MessageType.EOS:
                if self.spec.kind == "rtsp" and self.opts.reconnect:
                    lost = "server ended the stream"
                else:
                    self._teardown()
                    self._finish("eos")
                    return
            elif msg is not None:
                lost = parse_error(msg)
            elif self._failed.is_set():
                lost = self.error
            elif (
                self.spec.live
                and (self.queue.leaky or len(self.queue) < self.queue.maxsize)  # not held by us
                and time.monotonic() - self._last_frame > self.opts.stall_timeout
            ):
                lost = f"no frame for {self.opts.stall_timeout:g} s"
            if not lost:
                continue
            if self.spec.kind == "rtsp" and self.opts.reconnect:
                if not self._reconnect(lost):
                    return
                continue
            self.error = lost
            log.error("stream %d: %s", self.index, lost)
            self._teardown()
            self._finish("error")
            return
        self._teardown()

    def _reconnect(self, why: str) -> bool:
        log.warning("stream %d: lost (%s); reconnecting", self.index, why)
        self._teardown()
        t_lost = time.monotonic()
        delay = 0.5
        while not self._stop.is_set():
            if time.monotonic() - t_lost > self.opts.reconnect_timeout:
                self.error = f"gave up reconnecting after {self.opts.reconnect_timeout:g} s ({why})"
                log.error("stream %d: %s", self.index, self.error)
                self._finish("error")
                return False
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)
            self._first.clear()
            self._failed.clear()
            self.choice = None
            try:
                self._play()
            except StreamError as e:
                log.info("stream %d: reconnect failed: %s", self.index, e)
                self._teardown()
                continue
            bus = self.pipeline.get_bus()
            Gst = gst()
            deadline = time.monotonic() + self.opts.start_timeout
            while not self._first.is_set() and time.monotonic() < deadline:
                if self._stop.is_set() or self._failed.is_set():
                    break
                msg = bus.timed_pop_filtered(
                    int(0.05 * Gst.SECOND), Gst.MessageType.ERROR | Gst.MessageType.EOS
                )
                if msg is not None:
                    break
            if self._first.is_set():
                self.stats.reconnects += 1
                self._last_frame = time.monotonic()
                log.warning("stream %d: reconnected", self.index)
                return True
            self._teardown()
        return False

    def stop(self) -> None:
        super().stop()
        if self._thread is None:
            self._teardown()

    def join(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self._teardown()


def open_source(
    spec: SourceSpec,
    index: int,
    opts: SourceOptions,
    stats: StreamStats,
    *,
    available: Callable[[str, Any], bool] | None = None,
) -> BaseSource:
    """The source object for ``spec`` (not started)."""
    if spec.kind == "folder":
        return FolderSource(spec, index, opts, stats)
    return GstSource(spec, index, opts, stats, available=available)
