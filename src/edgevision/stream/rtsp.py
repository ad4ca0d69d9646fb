"""A small RTSP server on gst-rtsp-server: serves ``--out rtsp://…`` and, as
``python -m edgevision.stream.rtsp``, a test pattern (used by the reconnect tests).

Access policy (:func:`auth_required`): bound to a loopback address the stream may be open;
bound to any other address it needs a user and password (``RTSPAuth``: digest, or basic
inside TLS)
unless the caller turns authentication off explicitly (``--rtsp-no-auth``). The password is
read from a file or the environment (:func:`read_password`), never from the command line,
where ``ps`` would show it. A certificate and key (``--rtsp-cert/--rtsp-key``) add TLS
(``rtsps://``) through ``RTSPAuth.set_tls_certificate``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevision.stream.gst import StreamError, glib, gst

__all__ = [
    "PASSWORD_ENV",
    "RtspAuth",
    "RtspServer",
    "auth_required",
    "check_auth",
    "main",
    "read_password",
]

PASSWORD_ENV = "EDGEVISION_RTSP_PASSWORD"


@dataclass
class RtspAuth:
    """Who may watch an RTSP output.

    Attributes:
        user: the user name clients give (``--rtsp-user``).
        password: the password (from :func:`read_password`), or None for no authentication.
        no_auth: serve without authentication even on a network address (``--rtsp-no-auth``).
        cert: PEM certificate for TLS (``--rtsp-cert``), or None.
        key: PEM private key of ``cert`` (``--rtsp-key``), or None (then ``cert`` holds both).
    """

    user: str = "edgevision"
    password: str | None = None
    no_auth: bool = False
    cert: str | None = None
    key: str | None = None

    def __repr__(self) -> str:  # never print the password (logs, tracebacks)
        pw = "***" if self.password else None
        return (
            f"RtspAuth(user={self.user!r}, password={pw}, no_auth={self.no_auth}, "
            f"cert={self.cert!r}, key={self.key!r})"
        )


def auth_required(host: str) -> bool:
    """Whether a server bound to ``host`` must ask for a password: False only for loopback
    (``127.0.0.0/8``, ``::1``, ``localhost``); any other address or name (``0.0.0.0``, a
    LAN address, a host name that may resolve to one) is reachable from the network."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return False
    try:
        return not ipaddress.ip_address(h).is_loopback
    except ValueError:
        return True


def check_auth(host: str, auth: RtspAuth) -> None:
    """Apply the policy before anything is opened.

    Raises:
        StreamError: a network address without a password and without ``no_auth``; an
            empty user; a certificate or key that is not a file.
    """
    if not auth.user:
        raise StreamError("--rtsp-user must not be empty")
    for what, f in (("--rtsp-cert", auth.cert), ("--rtsp-key", auth.key)):
        if f is not None and not Path(f).is_file():
            raise StreamError(f"{what}: file not found: {f}")
    if auth.key is not None and auth.cert is None:
        raise StreamError("--rtsp-key needs --rtsp-cert")
    if auth.password is None and not auth.no_auth and auth_required(host):
        raise StreamError(
            f"RTSP output on {host} is reachable from the network: give a password "
            f"(--rtsp-password-file FILE or {PASSWORD_ENV}), or --rtsp-no-auth to serve it "
            f"to anyone"
        )


def read_password(path: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The RTSP password: the first line of ``path``, else ``$EDGEVISION_RTSP_PASSWORD``,
    else None.

    Raises:
        StreamError: the file is missing or unreadable, or holds an empty password.
    """
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise StreamError(f"--rtsp-password-file {path}: {e.strerror}") from None
        pw = lines[0] if lines else ""
        if not pw:
            raise StreamError(f"--rtsp-password-file {path}: the first line is empty")
        return pw
    return (os.environ if env is None else env).get(PASSWORD_ENV) or None


class RtspServer:
    """gst-rtsp-server with its own GLib main loop thread.

    Args:
        host: address to bind (``127.0.0.1`` by default; ``0.0.0.0`` for the network).
        port: TCP port.
        auth: who may watch (default: anyone); the policy of :func:`check_auth` is the
            caller's (``run_stream`` applies it).

    Raises:
        StreamError: gst-rtsp-server is not installed, the port cannot be bound, or the
            TLS certificate cannot be loaded.
    """

    ROLE = "viewer"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 8554, auth: RtspAuth | None = None
    ) -> None:
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
        self.auth = auth or RtspAuth()
        self.protected = self.auth.password is not None
        if self.protected or self.auth.cert:
            self.server.set_auth(self._make_auth())
        try:
            self._source_id = self.server.attach(self.ctx)
        except Exception as e:  # GLib.Error: address in use
            raise StreamError(f"RTSP server cannot bind {host}:{port}: {e}") from None
        if not self._source_id:
            raise StreamError(f"RTSP server cannot bind {host}:{port}")
        self._thread = threading.Thread(target=self.loop.run, name="rtsp-server", daemon=True)
        self._thread.start()

    def _make_auth(self) -> Any:
        """``RTSPAuth``: the user's password (basic and digest), and/or the TLS certificate
        (without a password every client gets the viewer token, as without ``RTSPAuth``)."""
        R, a = self._mod, self.auth
        auth = R.RTSPAuth.new()
        token = R.RTSPToken()
        token.set_string("media.factory.role", self.ROLE)
        if a.password is not None:
            # one method (GI cannot pass BASIC|DIGEST): digest in clear text, so the password
            # never crosses the network; basic inside TLS, where every client supports it
            methods = _gst_rtsp().RTSPAuthMethod
            if a.cert:
                auth.add_basic(R.RTSPAuth.make_basic(a.user, a.password), token)
                auth.set_supported_methods(methods.BASIC)
            else:
                auth.add_digest(a.user, a.password, token)
                auth.set_supported_methods(methods.DIGEST)
        else:
            auth.set_default_token(token)
        if a.cert:
            from gi.repository import Gio, GLib

            try:
                cert = (
                    Gio.TlsCertificate.new_from_files(a.cert, a.key)
                    if a.key
                    else Gio.TlsCertificate.new_from_file(a.cert)
                )
            except GLib.Error as e:
                raise StreamError(f"--rtsp-cert {a.cert}: {e.message}") from None
            auth.set_tls_certificate(cert)
        return auth

    @property
    def scheme(self) -> str:
        return "rtsps" if self.auth.cert else "rtsp"

    def mount(
        self, path: str, launch: str, on_configure: Callable[[Any, Any], None] | None = None
    ) -> None:
        """Serve ``launch`` (a gst-rtsp-server launch line with ``pay0``) at ``path``."""
        factory = self._mod.RTSPMediaFactory.new()
        factory.set_launch(launch)
        factory.set_shared(True)
        if self.protected or self.auth.cert:  # only the viewer role may see and build it
            Gst = gst()
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    f"{self.ROLE}, media.factory.access=(boolean)true, "
                    f"media.factory.construct=(boolean)true"
                )[0]
            )
        if on_configure is not None:
            factory.connect("media-configure", on_configure)
        self.server.get_mount_points().add_factory(path, factory)

    def close(self) -> None:
        self.loop.quit()
        self._thread.join(2.0)


def _gst_rtsp() -> Any:
    import gi

    gi.require_version("GstRtsp", "1.0")
    from gi.repository import GstRtsp

    return GstRtsp


def test_pattern_launch(size: str = "320x240", fps: int = 15, pattern: str = "ball") -> str:
    """A launch line serving an H.264 test pattern (for tests and demos)."""
    from edgevision.stream.encoders import select_encoder

    w, h = (int(v) for v in size.split("x"))
    enc = select_encoder()
    enc.check()
    return (
        f"( videotestsrc is-live=true pattern={pattern} ! "
        f"video/x-raw,width={w},height={h},framerate={fps}/1 ! videoconvert ! "
        f"{enc.launch(w, h, fps)} ! h264parse config-interval=-1 ! "
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
