"""A private Mosquitto broker on ``127.0.0.1`` for tests and benchmarks of the MQTT output.

:class:`LocalBroker` runs the ``mosquitto`` binary (Debian package ``mosquitto``) in the
foreground with a temporary configuration on a free port, so it never touches a system
broker and leaves no daemon behind; it can be killed and started again on the same port (with
its persistence file, like a restarted service) and can require a password file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edgevision.errors import BackendUnavailable
from edgevision.stream.gst import StreamError

__all__ = ["LocalBroker", "Subscriber", "free_port", "mosquitto_binary"]


def mosquitto_binary() -> str | None:
    """Path of the ``mosquitto`` broker binary (``PATH``, then ``/usr/sbin``), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    """A TCP port on ``127.0.0.1`` that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """``mosquitto -c TEMP.conf`` on ``127.0.0.1:port``; a context manager.

    Args:
        port: TCP port (default: a free one).
        users: ``{user: password}``: require a login (a ``mosquitto_passwd`` file);
            ``None``: anonymous clients are allowed.
        persistence: keep sessions and queued QoS 1/2 messages across restarts (saved at
            every change, and at a clean stop).
        tls: ``(cert.pem, key.pem)`` to serve MQTT over TLS instead of plain TCP.

    Raises:
        BackendUnavailable: the ``mosquitto`` binary is not installed.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        users: dict[str, str] | None = None,
        persistence: bool = True,
        tls: tuple[str, str] | None = None,
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BackendUnavailable("the mosquitto broker is not installed: apt install mosquitto")
        self.binary = binary
        self.port = port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="edgevision-mosquitto-")
        self.dir = Path(self._tmp.name)
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if users else 'true'}",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",  # as root: do not switch user
            f"log_dest file {self.dir / 'mosquitto.log'}",
            "max_queued_messages 0",  # no broker-side cap: the tests count every message
        ]
        if users:
            pw = self.dir / "passwords"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pw), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {pw}")
        if persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                "autosave_on_changes false",
                "autosave_interval 1",
            ]
        if tls:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start the broker and wait until it accepts connections.

        Raises:
            StreamError: it exited or did not listen within ``timeout`` seconds.
        """
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise StreamError(f"mosquitto exited ({self.proc.returncode}): {err.strip()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise StreamError(f"mosquitto did not listen on 127.0.0.1:{self.port} in {timeout:g} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (``SIGTERM``: a clean stop that saves its state; ``SIGKILL``: none)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM, down_s: float = 0.0) -> None:
        """Stop with ``sig``, stay down ``down_s`` seconds, start again on the same port."""
        self.stop(sig)
        time.sleep(down_s)
        self.start()

    def log(self) -> str:
        """The broker's log so far."""
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self._tmp.cleanup()


class Subscriber:
    """A QoS 1 subscriber with a persistent session that keeps every message it receives.

    The session (``clean_session=False``, a fixed client id) lives in the broker, so messages
    published while it reconnects after a broker restart are queued for it, not lost.

    Args:
        port: the broker's port on ``127.0.0.1``.
        topic: topic filter (``#`` and ``+`` allowed).
        client_id: its MQTT client id (the session's name).
        login: ``(user, password)`` for a broker that requires one.

    Raises:
        StreamError: no subscription within 10 s.
    """

    def __init__(
        self,
        port: int,
        topic: str,
        client_id: str = "edgevision-test-sub",
        login: tuple[str, str] | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.reconnect_delay_set(1, 1)
        if login is not None:
            self.client.username_pw_set(*login)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise StreamError(f"no subscription to {topic} on 127.0.0.1:{port} within 10 s")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def received(self) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` of every message so far, duplicates included."""
        with self._lock:
            return list(self.messages)

    def wait(self, n: int, timeout: float, key: Any = None) -> list[tuple[str, bytes]]:
        """Wait until ``n`` distinct messages (by ``key(topic, payload)``, default the
        payload) have arrived or ``timeout`` seconds passed; returns :meth:`received`."""
        key = key or (lambda topic, payload: payload)
        end = time.monotonic() + timeout
        while time.monotonic() < end and len({key(*m) for m in self.received()}) < n:
            time.sleep(0.05)
        return self.received()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
