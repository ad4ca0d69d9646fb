"""A small RTSP server on gst-rtsp-server: serves ``--out rtsp://…`` and, as
``python -m edgevision.stream.rtsp``, a test pattern (used by the reconnect tests).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

from edgevision.stream.gst import StreamError, glib, gst

__all__ = ["RtspServer", "main"]


class RtspServer:
    """gst-rtsp-server with its own GLib main loop thread.

    Args:
        host: address to bind (``127.0.0.1`` by default; ``0.0.0.0`` for the network).
        port: TCP port.

    Raises:
        StreamError: gst-rtsp-server is not installed, or the port cannot be bound.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8554) -> None:
        gst()
        try:
            import gi

            gi.require_version("GstRtspServer", "1.0")
            from gi.repository import GstRtspServer
        except (ImportError, ValueError):
            raise StreamError(
                "RTSP output needs gst-rtsp-server: apt-get install gir1.2-gst-rtsp-server-1.0"
            ) from None
        GLib = glib()
        self.host, self.port = host, port
        self._mod = GstRtspServer
        self.ctx = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.ctx, False)
        self.server = GstRtspServer.RTSPServer.new()
        self.server.set_address(host)
        self.server.set_service(str(port))
        try:
            self._source_id = self.server.attach(self.ctx)
        except Exception as e:  # GLib.Error: address in use
            raise StreamError(f"RTSP server cannot bind {host}:{port}: {e}") from None
        if not self._source_id:
            raise StreamError(f"RTSP server cannot bind {host}:{port}")
        self._thread = threading.Thread(target=self.loop.run, name="rtsp-server", daemon=True)
        self._thread.start()

    def mount(
        self, path: str, launch: str, on_configure: Callable[[Any, Any], None] | None = None
    ) -> None:
        """Serve ``launch`` (a gst-rtsp-server launch line with ``pay0``) at ``path``."""
        factory = self._mod.RTSPMediaFactory.new()
        factory.set_launch(launch)
        factory.set_shared(True)
        if on_configure is not None:
            factory.connect("media-configure", on_configure)
        self.server.get_mount_points().add_factory(path, factory)

    def close(self) -> None:
        self.loop.quit()
        self._thread.join(2.0)


def test_pattern_launch(size: str = "320x240", fps: int = 15, pattern: str = "ball") -> str:
    """A launch line serving an H.264 test pattern (for tests and demos)."""
    from edgevision.stream.outputs import pick_encoder

    w, h = (int(v) for v in size.split("x"))
    return (
        f"( videotestsrc is-live=true pattern={pattern} ! "
        f"video/x-raw,width={w},height={h},framerate={fps}/1 ! videoconvert ! "
        f"video/x-raw,format=I420 ! {pick_encoder(w, h, fps)} ! h264parse config-interval=-1 ! "
        f"rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main(argv: list[str] | None = None) -> None:
    """Serve a test pattern until killed: ``python -m edgevision.stream.rtsp --port 8554``."""
    ap = argparse.ArgumentParser(description="Serve an H.264 test pattern over RTSP.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--path", default="/test")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--pattern", default="ball")
    a = ap.parse_args(argv)
    server = RtspServer(a.host, a.port)
    server.mount(a.path, test_pattern_launch(a.size, a.fps, a.pattern))
    print(f"serving rtsp://{a.host}:{a.port}{a.path}", flush=True)
    try:
        server._thread.join()
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
