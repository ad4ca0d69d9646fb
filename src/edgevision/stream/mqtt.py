"""MQTT output: one JSON message per processed frame per stream (``--mqtt URL``).

``mqtt://HOST[:PORT]/TOPIC`` (port 1883) or ``mqtts://HOST[:PORT]/TOPIC`` (TLS, port 8883).
With several sources, stream ``i`` publishes to ``TOPIC/i``; one source publishes to
``TOPIC``. The payload is the ``--meta`` JSONL line of the frame (UTF-8 JSON).

Built on paho-mqtt (the Eclipse client; imported on first use), which keeps the connection
in its own network thread:

* **QoS 1** (at least once): every message stays in paho's outgoing store until the broker
  acknowledges it (PUBACK) and is sent again after a reconnect, so a broker restart loses
  nothing (a consumer may see a message twice; the payload's ``stream``/``frame`` identify it).
* **Reconnect with back-off**: a lost connection is retried by paho's loop after 1 s,
  doubling up to ``max_backoff`` seconds; ``reconnects`` counts successful reconnections.
* **Bounded buffer**: at most ``buffer`` unacknowledged messages are held (paho's
  ``max_queued_messages``); while it is full, new messages are **dropped** (the newest: the
  ones already queued are older and keep their order) and counted in the run summary
  (``mqtt.dropped``), so a broker that is down for long cannot exhaust memory.
* **Credentials** never come from the command line (``ps`` and shell history would show
  them): ``--mqtt-credentials FILE`` (user on the first line, password on the second), else
  ``$EDGEVISION_MQTT_USERNAME`` / ``$EDGEVISION_MQTT_PASSWORD``. A URL with ``user:pass@`` is
  refused.

No silent failures: a broker that cannot be reached or refuses the connection at the start
is a one-line :class:`StreamError` before any frame is processed; a broker that refuses the
credentials on a reconnect ends the run at the next frame; messages still unacknowledged
when the run ends (after waiting ``flush_timeout`` seconds) are an error in the summary.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgevision.errors import BackendUnavailable
from edgevision.stream.gst import StreamError

log = logging.getLogger("edgevision.stream")

__all__ = [
    "PASSWORD_ENV",
    "USER_ENV",
    "MqttConfig",
    "MqttPublisher",
    "MqttTarget",
    "parse_mqtt_url",
    "read_credentials",
]

USER_ENV = "EDGEVISION_MQTT_USERNAME"
PASSWORD_ENV = "EDGEVISION_MQTT_PASSWORD"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# CONNACK refusals that retrying cannot fix (MQTT 3.1.1 codes 4, 5; MQTT 5 codes 134, 135)
_AUTH_REFUSED = ("bad user name or password", "not authorized")


@dataclass(frozen=True)
class MqttTarget:
    """A parsed ``--mqtt`` URL.

    Attributes:
        scheme: ``mqtt`` or ``mqtts`` (TLS).
        host: broker host name or address.
        port: broker TCP port.
        topic: base topic (no wildcards, no leading ``/``).
    """

    scheme: str
    host: str
    port: int
    topic: str

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.topic}"

    def stream_topic(self, stream: int, n_streams: int) -> str:
        """``topic`` for a single stream, ``topic/<stream>`` when there are several."""
        return self.topic if n_streams == 1 else f"{self.topic}/{stream}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """Parse ``mqtt[s]://HOST[:PORT]/TOPIC``.

    Raises:
        StreamError: another scheme, no host or topic, a bad port, a wildcard in the topic,
            or credentials in the URL (one line saying where to put them instead).
    """
    u = urlsplit(url)
    if u.scheme not in DEFAULT_PORTS:
        raise StreamError(f"--mqtt {url}: expected mqtt://HOST[:PORT]/TOPIC or mqtts://…")
    if u.username is not None or u.password is not None:
        raise StreamError(
            f"--mqtt: no credentials in the URL (ps and shell history show it); use "
            f"--mqtt-credentials FILE or ${USER_ENV} / ${PASSWORD_ENV}"
        )
    try:
        port = u.port or DEFAULT_PORTS[u.scheme]
    except ValueError:
        raise StreamError(f"--mqtt {url}: bad port") from None
    topic = u.path.lstrip("/")
    if not u.hostname or not topic:
        raise StreamError(f"--mqtt {url}: expected {u.scheme}://HOST[:PORT]/TOPIC")
    if "+" in topic or "#" in url or "?" in url:
        raise StreamError(f"--mqtt {url}: a topic to publish to has no wildcards (+ #) or ?query")
    return MqttTarget(u.scheme, u.hostname, port, topic)


def read_credentials(
    path: str | None, env: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """``(user, password)``: the first two lines of ``path``, else ``$EDGEVISION_MQTT_USERNAME``
    and ``$EDGEVISION_MQTT_PASSWORD``, else ``(None, None)``.

    A file readable by group or others is used with a warning (keep it mode ``600``).

    Raises:
        StreamError: the file is missing or unreadable, or its first line (the user) is empty.
    """
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            mode = os.stat(path).st_mode
        except OSError as e:
            raise StreamError(f"--mqtt-credentials {path}: {e.strerror}") from None
        if not lines or not lines[0]:
            raise StreamError(f"--mqtt-credentials {path}: the first line (the user) is empty")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("--mqtt-credentials %s is readable by others: chmod 600 it", path)
        return lines[0], (lines[1] if len(lines) > 1 else None)
    environ = os.environ if env is None else env
    user = environ.get(USER_ENV) or None
    return user, (environ.get(PASSWORD_ENV) or None) if user else None


@dataclass
class MqttConfig:
    """Options of the MQTT output.

    Attributes:
        url: ``mqtt://HOST[:PORT]/TOPIC`` or ``mqtts://…`` (see :func:`parse_mqtt_url`).
        credentials: file with the user (line 1) and password (line 2); ``None``: the
            environment (:func:`read_credentials`), or no authentication.
        ca: CA certificate (PEM) that signed the broker's certificate, for ``mqtts://``
            (default: the system's trust store).
        qos: MQTT quality of service (0, 1 or 2); 1 = at least once.
        buffer: most messages held unacknowledged (sent or waiting); beyond, new ones are
            dropped and counted.
        keepalive: seconds between MQTT pings on an idle connection.
        connect_timeout: seconds to wait for the broker's answer at the start.
        flush_timeout: seconds to wait at the end for the broker to acknowledge the rest.
        max_backoff: longest wait between reconnection attempts (the wait doubles from 1 s).
        client_id: MQTT client id (default: ``edgevision-<pid>-<random>``).
    """

    url: str
    credentials: str | None = None
    ca: str | None = None
    qos: int = 1
    buffer: int = 10_000
    keepalive: int = 30
    connect_timeout: float = 10.0
    flush_timeout: float = 10.0
    max_backoff: float = 30.0
    client_id: str = ""


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise BackendUnavailable(
            "--mqtt needs paho-mqtt: pip install 'edgevision[stream]'"
        ) from None
    return mqtt


class MqttPublisher:
    """One MQTT connection for a run: :meth:`connect`, :meth:`publish` per frame, :meth:`close`.

    Thread-safe: :meth:`publish` may be called from any thread (paho's network loop runs in
    its own thread).

    Args:
        cfg: the options.
        n_streams: number of streams (one topic each when there are several).
        env: environment for the credentials (default ``os.environ``).

    Raises:
        StreamError: a bad URL or credentials file (one line).
    """

    def __init__(
        self, cfg: MqttConfig, n_streams: int = 1, env: Mapping[str, str] | None = None
    ) -> None:
        if cfg.qos not in (0, 1, 2):
            raise StreamError(f"--mqtt-qos must be 0, 1 or 2, got {cfg.qos}")
        if cfg.buffer < 1:
            raise StreamError(f"--mqtt-buffer must be at least 1, got {cfg.buffer}")
        self.cfg = cfg
        self.target = parse_mqtt_url(cfg.url)
        self.topics = [self.target.stream_topic(i, n_streams) for i in range(n_streams)]
        self.user, self._password = read_credentials(cfg.credentials, env)
        self.client: Any = None
        self.published = 0  # accepted into the buffer
        self.acknowledged = 0  # acknowledged by the broker (QoS 1/2) or sent (QoS 0)
        self.dropped = 0  # refused because the buffer was full
        self.connects = 0
        self.error: str | None = None  # fatal: the run ends at the next publish
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._answer = threading.Event()  # the first CONNACK (or failure) came
        self._refused: str | None = None
        self._closing = False

    def __repr__(self) -> str:  # never the password
        return f"MqttPublisher({self.target.url!r}, user={self.user!r})"

    # ------------------------------------------------------------------ paho callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            text = str(reason)
            self._refused = text
            if text.lower() in _AUTH_REFUSED:
                self.error = f"--mqtt {self.target.url}: the broker refused the login: {text}"
                client.disconnect()  # stop retrying with credentials that cannot work
            self._answer.set()
            return
        with self._lock:
            self.connects += 1
            if self.connects > 1:
                log.info("mqtt: reconnected to %s", self.target.url)
        self._connected.set()
        self._answer.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set() and not self._closing:
            log.warning("mqtt: connection to %s lost (%s); reconnecting", self.target.url, reason)
        self._connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self.acknowledged += 1

    # ------------------------------------------------------------------ API
    def connect(self) -> None:
        """Connect and wait for the broker's answer (``connect_timeout``).

        Raises:
            StreamError: the broker cannot be reached, the TLS handshake fails, or it refuses
                the connection (a wrong password: "the broker refused the login: …").
        """
        mqtt = _paho()
        cfg, t = self.cfg, self.target
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"edgevision-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.max_queued_messages_set(cfg.buffer)
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, round(cfg.max_backoff)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        if self.user is not None:
            client.username_pw_set(self.user, self._password)
        if t.tls:
            try:
                client.tls_set(ca_certs=cfg.ca)
            except (OSError, ValueError) as e:
                raise StreamError(f"--mqtt-ca {cfg.ca}: {e}") from None
        try:
            client.connect(t.host, t.port, keepalive=cfg.keepalive)
        except OSError as e:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            why = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
            raise StreamError(f"--mqtt {t.url}: cannot connect: {why}") from None
        self.client = client
        client.loop_start()
        if not self._answer.wait(cfg.connect_timeout):
            self._stop()
            raise StreamError(f"--mqtt {t.url}: no answer within {cfg.connect_timeout:g} s")
        if self._refused is not None:
            self._stop()
            raise StreamError(
                self.error or f"--mqtt {t.url}: the broker refused the connection: {self._refused}"
            )
        log.info("mqtt: publishing to %s (QoS %d)", t.url, cfg.qos)

    def publish(self, stream: int, payload: bytes) -> bool:
        """Queue one message for ``stream``'s topic; False if dropped (the buffer is full).

        Raises:
            StreamError: the broker refused the credentials on a reconnect.
        """
        if self.error:
            raise StreamError(self.error)
        info = self.client.publish(self.topics[stream], payload, qos=self.cfg.qos)
        if info.rc == _paho().MQTT_ERR_QUEUE_SIZE:
            with self._lock:
                self.dropped += 1
                first = self.dropped == 1
            if first:
                log.warning(
                    "mqtt: %d messages unacknowledged (the buffer is full): dropping new ones",
                    self.cfg.buffer,
                )
            return False
        with self._lock:
            self.published += 1
        return True

    @property
    def pending(self) -> int:
        """Messages accepted but not yet acknowledged."""
        with self._lock:
            return self.published - self.acknowledged

    def close(self) -> None:
        """Wait up to ``flush_timeout`` for the acknowledgements, then disconnect.

        Raises:
            StreamError: messages remain unacknowledged, or the login was refused.
        """
        if self.client is None:
            return
        deadline = time.monotonic() + self.cfg.flush_timeout
        while self.pending > 0 and not self.error and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop()
        if self.error:
            raise StreamError(self.error)
        if self.pending > 0:
            raise StreamError(
                f"--mqtt {self.target.url}: {self.pending} messages not acknowledged by the "
                f"broker within {self.cfg.flush_timeout:g} s"
            )

    def abort(self) -> None:
        """Disconnect at once, without waiting for acknowledgements."""
        self._stop()

    def _stop(self) -> None:
        client, self.client = self.client, None
        self._closing = True
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def summary(self) -> dict[str, Any]:
        """JSON-safe counts for the run summary."""
        with self._lock:
            return {
                "url": self.target.url,
                "topics": list(dict.fromkeys(self.topics)),
                "qos": self.cfg.qos,
                "published": self.published,
                "acknowledged": self.acknowledged,
                "unacknowledged": self.published - self.acknowledged,
                "dropped": self.dropped,
                "buffer": self.cfg.buffer,
                "reconnects": max(self.connects - 1, 0),
            }
