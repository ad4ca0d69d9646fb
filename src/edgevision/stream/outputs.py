"""Output sinks: an MP4 file, an RTSP stream (gst-rtsp-server), a display window, or nothing.

Each sink takes ``(H, W, 3)`` uint8 RGB frames (the overlay) with their presentation time and
encodes them in GStreamer: ``appsrc ! videoconvert ! H.264 encoder ! ...`` (the encoder of
:func:`.encoders.select_encoder`; every element made with :func:`.gst.make_element`, or checked
with :func:`.gst.require_element` for the RTSP server's launch text). MP4 files are
written under a temporary name and renamed when the muxer has finalised them (EOS), so an
interrupted run never leaves a half-written file under the final name.

No silent failures: an error of the encoder, muxer or file (a full disk, a frame size the
encoder refuses) raises :class:`StreamError` from the next :meth:`OutputSink.write` (the bus is
checked at every frame, and back-pressure waits in short steps that check it too, so a failed
pipeline cannot block the run) or from :meth:`OutputSink.close`; ``complete`` is True only for
a file that was finalised and renamed. MP4 is fragmented (``mp4mux fragment-duration``) and
written unbuffered, so even after ``kill -9`` the ``.NAME.partial`` file plays up to the last
whole fragment (about a second); Matroska (``--out x.mkv``) needs no index to play at all.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgevision.errors import DataError
from edgevision.stream.encoders import EncoderChoice, select_encoder
from edgevision.stream.gst import StreamError, gst, make_element, parse_error, set_props

log = logging.getLogger("edgevision.stream")

__all__ = ["OutputSink", "check_output", "check_writable", "encodes", "open_output"]


class OutputSink:
    """Base: ``write(image, pts)`` then ``close()``. ``needs_image``: whether to draw."""

    needs_image = True
    target = ""
    complete = False  # a file sink: finalised and under its final name

    @property
    def written(self) -> str | None:
        """The file this sink wrote completely, or None (not a file, or not finalised)."""
        return None

    def write(self, image: np.ndarray, pts: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class NullSink(OutputSink):
    """Discards frames (``--out null``): only ``--meta`` and the summary are produced."""

    needs_image = False
    target = "null"

    def write(self, image: np.ndarray, pts: float) -> None:
        pass


def _caps(w: int, h: int, fps: int) -> str:
    return f"video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1"


class _AppSrcSink(OutputSink):
    """Shared: a pipeline started at the first frame (when the size is known)."""

    def __init__(self, fps: int = 30) -> None:
        self.fps = fps
        self.pipeline: Any = None
        self.appsrc: Any = None
        self.size: tuple[int, int] | None = None
        self._t0: float | None = None
        self._last = -1.0
        self.frames = 0
        self.max_bytes = 0  # > 0: write() waits while appsrc holds more than this
        self.stall_s = 30.0  # ... but not longer than this without progress
        self.error: str | None = None

    def _elements(self, w: int, h: int) -> list[Any]:  # pragma: no cover - abstract
        """The pipeline's elements in link order, the :meth:`_appsrc` first."""
        raise NotImplementedError

    def _appsrc(self, w: int, h: int, max_bytes: int = 0) -> Any:
        """The ``appsrc`` taking RGB frames of ``w`` x ``h`` (``max_bytes``: back-pressure)."""
        self.max_bytes = max_bytes
        return make_element(
            "appsrc",
            "src",
            format=gst().Format.TIME,
            max_bytes=max_bytes,
            caps=gst().Caps.from_string(_caps(w, h, self.fps)),
        )

    def _start(self, w: int, h: int) -> None:
        Gst = gst()
        try:  # a missing element names its package
            elements = self._elements(w, h)
        except StreamError as e:
            raise StreamError(f"output {self.target}: {e}") from None
        self.pipeline = Gst.Pipeline.new(None)
        for el in elements:
            self.pipeline.add(el)
        for a, b in itertools.pairwise(elements):
            if not a.link(b):
                names = (x.get_factory().get_name() for x in (a, b))
                raise StreamError(f"output {self.target}: cannot link {' to '.join(names)}")
        self.appsrc = elements[0]
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            msg = self.pipeline.get_bus().timed_pop_filtered(Gst.SECOND, Gst.MessageType.ERROR)
            raise StreamError(
                f"output {self.target}: {parse_error(msg) if msg else 'cannot start'}"
            )
        self.size = (w, h)

    def write(self, image: np.ndarray, pts: float) -> None:
        Gst = gst()
        h, w = image.shape[:2]
        if self.pipeline is None:
            self._start(w, h)
        if (w, h) != self.size:
            import cv2

            image = cv2.resize(image, self.size)
        if self._t0 is None:
            self._t0 = pts
        t = pts - self._t0
        if t <= self._last:  # stream restarted (reconnect) or out-of-order: keep monotonic
            t = self._last + 1.0 / self.fps
        self._last = t
        buf = Gst.Buffer.new_wrapped(np.ascontiguousarray(image).tobytes())
        buf.pts = int(t * Gst.SECOND)
        buf.duration = int(Gst.SECOND / self.fps)
        self._check()
        ret = self.appsrc.emit("push-buffer", buf)
        if ret != Gst.FlowReturn.OK:
            self._check()
            raise StreamError(f"output {self.target}: {ret.value_nick}")
        self.frames += 1
        self._wait_space()

    def _check(self, timeout: float = 0.0) -> None:
        """Raise :class:`StreamError` if the pipeline posted an error (within ``timeout`` s)."""
        Gst = gst()
        msg = self.pipeline.get_bus().timed_pop_filtered(
            int(timeout * Gst.SECOND), Gst.MessageType.ERROR
        )
        if msg is not None:
            self.error = f"output {self.target}: {parse_error(msg)}"
            raise StreamError(self.error)

    def _wait_space(self) -> None:
        """Back-pressure without ``appsrc block=true`` (which blocks for ever once the
        pipeline has failed): wait while the queue is over ``max_bytes``, checking the bus;
        a pipeline that takes nothing for ``stall_s`` seconds (wedged, no error) is an error."""
        stall = self.stall_s
        if not self.max_bytes:
            return
        level = self.appsrc.get_property("current-level-bytes")
        since = time.monotonic()
        while level > self.max_bytes and self.pipeline is not None:
            self._check(0.01)
            now = self.appsrc.get_property("current-level-bytes")
            if now < level:
                level, since = now, time.monotonic()
            elif time.monotonic() - since > stall:
                self.error = f"output {self.target}: the encoder took no frame for {stall:g} s"
                raise StreamError(self.error)

    def _finish(self, timeout: float = 20.0) -> None:
        """Send EOS and wait for it to come out of the sink.

        Raises:
            StreamError: the pipeline failed (now or earlier) or did not finish in time.
        """
        Gst = gst()
        if self.pipeline is None:
            if self.error:
                raise StreamError(self.error)
            return
        try:
            if self.error:
                raise StreamError(self.error)
            self.appsrc.emit("end-of-stream")
            msg = self.pipeline.get_bus().timed_pop_filtered(
                int(timeout * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR
            )
            if msg is None:
                self.error = f"output {self.target}: not finalised within {timeout:g} s"
            elif msg.type == Gst.MessageType.ERROR:
                self.error = f"output {self.target}: {parse_error(msg)}"
            if self.error:
                raise StreamError(self.error)
        finally:
            self.pipeline.set_state(Gst.State.NULL)
            self.pipeline = None


class Mp4Sink(_AppSrcSink):
    """H.264 in MP4 (or Matroska for ``.mkv``), finalised at :meth:`close`."""

    def __init__(self, path: Path, fps: int = 30, encoder: EncoderChoice | None = None) -> None:
        super().__init__(fps)
        self.encoder = encoder  # None: select_encoder("auto") at the first frame
        self.path = path
        self.target = str(path)
        self.tmp = path.with_name(f".{path.name}.partial")

    @property
    def written(self) -> str | None:
        return str(self.path) if self.complete else None

    def _elements(self, w: int, h: int) -> list[Any]:
        if self.encoder is None:
            self.encoder = select_encoder()
        # fragmented MP4 (a fragment a second): playable after kill -9 up to the last fragment
        if self.path.suffix.lower() == ".mkv":
            mux = make_element("matroskamux")
        else:
            mux = make_element("mp4mux", fragment_duration=1000)
        sink = make_element("filesink", location=str(self.tmp))
        set_props(sink, {"buffer-mode": "unbuffered"})
        return [
            self._appsrc(w, h, w * h * 3 * 4),
            make_element("videoconvert"),
            *self.encoder.elements(w, h, self.fps),
            make_element("h264parse"),
            mux,
            sink,
        ]

    def close(self) -> None:
        """Finalise the file and rename it to its name (``complete``).

        Raises:
            StreamError: the file could not be written or finalised (the partial file is
                removed) or renamed.
        """
        try:
            self._finish()
        except StreamError:
            self.tmp.unlink(missing_ok=True)
            raise
        if self.frames == 0 or not self.tmp.exists():
            return
        try:
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.tmp.unlink(missing_ok=True)
            self.error = f"output {self.path}: cannot rename the finished file: {e.strerror}"
            raise StreamError(self.error) from None
        self.complete = True
        log.info("wrote %s (%d frames)", self.path, self.frames)


class DisplaySink(_AppSrcSink):
    """A window (``autovideosink``); needs ``DISPLAY`` or ``WAYLAND_DISPLAY``."""

    target = "display"

    def _elements(self, w: int, h: int) -> list[Any]:
        return [
            self._appsrc(w, h),
            make_element("videoconvert"),
            make_element("autovideosink", sync=False),
        ]

    def close(self) -> None:
        self._finish(2.0)


class RtspSink(OutputSink):
    """Serve the overlay at ``rtsp://HOST:PORT/PATH`` through gst-rtsp-server.

    Frames are pushed only while a client is connected (the media is shared between
    clients); without a client they are discarded at no cost.
    """

    def __init__(
        self, server: Any, path: str, fps: int = 30, encoder: EncoderChoice | None = None
    ) -> None:
        self.encoder = encoder  # None: select_encoder("auto") at the first frame
        self.server = server
        self.path = path
        self.fps = fps
        self.target = f"{server.scheme}://{server.host}:{server.port}{path}"
        self.size: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._appsrc: Any = None
        self.frames = 0
        self._n = 0

    def _configure(self, _factory: Any, media: Any) -> None:
        with self._lock:
            self._appsrc = media.get_element().get_child_by_name("src")
            self._n = 0
            media.connect("unprepared", self._unprepared)

    def _unprepared(self, _media: Any) -> None:
        with self._lock:
            self._appsrc = None

    def write(self, image: np.ndarray, pts: float) -> None:
        Gst = gst()
        h, w = image.shape[:2]
        if self.size is None:
            self.size = (w, h)
            enc = self.encoder or select_encoder()
            enc.check()  # the server makes the elements from the text: check them here
            launch = (
                f"( appsrc name=src is-live=true format=time do-timestamp=true "
                f'caps="{_caps(w, h, self.fps)}" ! videoconvert ! '
                f"{enc.launch(w, h, self.fps)} ! h264parse config-interval=-1 ! "
                f"rtph264pay name=pay0 pt=96 config-interval=1 )"
            )
            self.server.mount(self.path, launch, self._configure)
            log.info("serving %s", self.target)
        with self._lock:
            src = self._appsrc
        if src is None:
            return
        if (w, h) != self.size:
            import cv2

            image = cv2.resize(image, self.size)
        buf = Gst.Buffer.new_wrapped(np.ascontiguousarray(image).tobytes())
        buf.duration = int(Gst.SECOND / self.fps)
        src.emit("push-buffer", buf)
        self.frames += 1

    def close(self) -> None:
        with self._lock:
            src, self._appsrc = self._appsrc, None
        if src is not None:
            src.emit("end-of-stream")


def check_output(out: str) -> None:
    """Fail early (before any model or source is opened) on an unusable ``--out``.

    Raises:
        DataError: the MP4's folder is missing or not writable.
        StreamError: an unknown output kind, or ``display`` without a display.
    """
    if out in ("null", "none"):
        return
    if out == "display":
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise StreamError("--out display: no display here (DISPLAY is not set); use a file")
        return
    if out.startswith("rtsp://"):
        u = urlsplit(out)
        if not u.port or u.hostname is None:
            raise StreamError(f"--out {out}: expected rtsp://HOST:PORT/NAME")
        return
    p = Path(out)
    if p.suffix.lower() not in (".mp4", ".mkv"):
        raise StreamError(f"--out {out}: expected FILE.mp4, FILE.mkv, rtsp://…, display or null")
    if p.is_dir():
        raise DataError(f"--out {out} is a folder; give a file name")
    check_writable(p)


def check_writable(p: Path) -> None:
    """Raise :class:`DataError` unless a file can be created next to ``p``."""
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"output folder not found: {parent}")
    probe = parent / f".{p.name}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DataError(f"cannot write to output folder {parent}: {e.strerror}") from None


def stream_out_name(out: str, index: int, n: int) -> str:
    """Per-stream output: one stream uses ``out`` as is; several get ``_0``, ``_1`` … suffixes."""
    if n == 1 or out in ("null", "none", "display"):
        return out
    if out.startswith("rtsp://"):
        return f"{out.rstrip('/')}_{index}"
    p = Path(out)
    return str(p.with_name(f"{p.stem}_{index}{p.suffix}"))


def encodes(out: str) -> bool:
    """Whether the output ``out`` encodes H.264 (a file or RTSP; not null or display)."""
    return out not in ("null", "none", "display")


def open_output(
    out: str, *, fps: int = 30, server: Any = None, encoder: EncoderChoice | None = None
) -> OutputSink:
    """The sink for one stream's ``out`` (after :func:`check_output`).

    Args:
        out: the output (see :func:`check_output`).
        fps: frame rate written into the video.
        server: the RTSP server of an ``rtsp://`` output.
        encoder: the H.264 encoder (default: :func:`.encoders.select_encoder` ``("auto")``).
    """
    if out in ("null", "none"):
        return NullSink()
    if out == "display":
        return DisplaySink(fps)
    if out.startswith("rtsp://"):
        assert server is not None
        return RtspSink(server, urlsplit(out).path or "/stream", fps, encoder)
    return Mp4Sink(Path(out), fps, encoder)
