"""The MQTT output against a real Mosquitto broker on 127.0.0.1 (a free port, a temporary
config, no daemon left behind): one message per frame per stream, a broker killed and
restarted mid-run without loss, the bounded buffer's drops, a password file and a wrong
password as a one-line error. The URL and credential parsing run without a broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from edgevision.stream.broker import LocalBroker, Subscriber, free_port, mosquitto_binary
from edgevision.stream.gst import StreamError
from edgevision.stream.mqtt import (
    PASSWORD_ENV,
    USER_ENV,
    MqttConfig,
    MqttPublisher,
    parse_mqtt_url,
    read_credentials,
)
from edgevision.stream.pipeline import RunConfig, run_stream

needs_broker = pytest.mark.skipif(
    mosquitto_binary() is None, reason="needs the mosquitto broker (apt install mosquitto)"
)
EV = [sys.executable, "-m", "edgevision"]


# ------------------------------------------------------------------ no broker
def test_parse_mqtt_url():
    t = parse_mqtt_url("mqtt://broker.local/site/cam")
    assert (t.host, t.port, t.topic, t.tls) == ("broker.local", 1883, "site/cam", False)
    t = parse_mqtt_url("mqtts://10.0.0.2:9999/x")
    assert (t.port, t.tls, t.url) == (9999, True, "mqtts://10.0.0.2:9999/x")
    assert [t.stream_topic(i, 2) for i in range(2)] == ["x/0", "x/1"]
    assert t.stream_topic(0, 1) == "x"
    for bad, match in [
        ("http://h/t", "expected mqtt://"),
        ("mqtt://h", "expected mqtt://HOST"),
        ("mqtt://h:99999/t", "bad port"),
        ("mqtt://h/a/#", "wildcards"),
        ("mqtt://user:secret@h/t", "no credentials in the URL"),
    ]:
        with pytest.raises(StreamError, match=match) as e:
            parse_mqtt_url(bad)
        assert "secret" not in str(e.value)


def test_read_credentials(tmp_path):
    f = tmp_path / "cred"
    f.write_text("cam1\ns3cret\n")
    f.chmod(0o600)
    assert read_credentials(str(f)) == ("cam1", "s3cret")
    env = {USER_ENV: "u", PASSWORD_ENV: "p"}
    assert read_credentials(None, env) == ("u", "p")
    assert read_credentials(None, {PASSWORD_ENV: "p"}) == (None, None)  # a password alone
    f.write_text("\n")
    with pytest.raises(StreamError, match="first line"):
        read_credentials(str(f))
    with pytest.raises(StreamError, match="No such file"):
        read_credentials(str(tmp_path / "missing"))
    pub = MqttPublisher(MqttConfig("mqtt://h/t"), env=env)
    assert "p" not in repr(pub).replace("Publisher", "").replace("mqtt", "")


def test_unreachable_broker_fails_fast():
    pub = MqttPublisher(MqttConfig(f"mqtt://127.0.0.1:{free_port()}/t"))
    with pytest.raises(StreamError, match="cannot connect"):
        pub.connect()


# ------------------------------------------------------------------ with a broker
@pytest.fixture
def broker():
    if mosquitto_binary() is None:
        pytest.skip("needs the mosquitto broker (apt install mosquitto)")
    with LocalBroker() as b:
        yield b
    assert b.proc is None  # stopped: no daemon left behind


def _frames(got: list[tuple[str, bytes]]) -> dict[tuple[str, int], dict]:
    """Distinct messages by (topic, frame)."""
    return {(t, json.loads(p)["frame"]): json.loads(p) for t, p in got}


@needs_broker
@pytest.mark.gst
def test_one_message_per_frame_per_stream(broker, tiny_video, tmp_path, stub_module):
    sub = Subscriber(broker.port, "cams/#")
    cfg = RunConfig(
        [str(tiny_video), str(tiny_video)],
        "stub",
        meta=str(tmp_path / "m.jsonl"),
        mqtt=MqttConfig(f"mqtt://127.0.0.1:{broker.port}/cams"),
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    meta = tmp_path / "m.jsonl"
    got = _frames(sub.wait(48, 10, key=lambda t, p: (t, json.loads(p)["frame"])))
    sub.close()
    assert sorted(got) == sorted((f"cams/{i}", k) for i in range(2) for k in range(24))
    lines = {
        (f"cams/{d['stream']}", d["frame"]): d
        for d in map(json.loads, meta.read_text().splitlines())
    }
    assert got == lines  # each message is its frame's --meta line
    assert s["mqtt"] | {"url": None} == {
        "url": None,
        "topics": ["cams/0", "cams/1"],
        "qos": 1,
        "published": 48,
        "acknowledged": 48,
        "unacknowledged": 0,
        "dropped": 0,
        "buffer": 10_000,
        "reconnects": 0,
    }
    t = datetime.fromisoformat(got[("cams/0", 0)]["time"].replace("Z", "+00:00"))
    assert abs(t.timestamp() - time.time()) < 120


@needs_broker
@pytest.mark.gst
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
def test_broker_killed_and_restarted_mid_run_loses_nothing(broker, stub_module, sig):
    """A live source at 30 FPS for 4 s; the broker is killed after 1.5 s and is back 1 s
    later: every processed frame arrives (QoS 1 resent after the reconnect)."""
    sub = Subscriber(broker.port, "live")
    time.sleep(1.2)  # the subscriber's session is in the broker's saved state
    cfg = RunConfig(
        ["test://ball?size=32x24&fps=30&frames=120"],
        "stub",
        mqtt=MqttConfig(f"mqtt://127.0.0.1:{broker.port}/live"),
    )
    out: dict = {}
    run = threading.Thread(
        target=lambda: out.update(run_stream(cfg, plugin=stub_module.make(), progress=False))
    )
    run.start()
    time.sleep(1.5)
    broker.restart(sig, down_s=1.0)
    run.join(60)
    assert not run.is_alive()
    s = out
    assert s["errors"] == [] and s["mqtt"]["reconnects"] >= 1
    n = s["frames_processed"]
    assert n > 60 and s["mqtt"]["published"] == s["mqtt"]["acknowledged"] == n
    got = _frames(sub.wait(n, 20, key=lambda t, p: json.loads(p)["frame"]))
    sub.close()
    assert len(got) == n, f"lost {n - len(got)} of {n}"


def _connected_then_broker_killed(broker: LocalBroker, **kw) -> MqttPublisher:
    """A publisher connected to ``broker``, which is then killed (SIGKILL)."""
    pub = MqttPublisher(MqttConfig(f"mqtt://127.0.0.1:{broker.port}/t", **kw))
    pub.connect()
    broker.stop(signal.SIGKILL)
    time.sleep(0.3)  # paho's network thread has seen the connection drop
    return pub


@needs_broker
def test_bounded_buffer_drops_newest_and_counts(broker):
    pub = _connected_then_broker_killed(broker, buffer=5)
    sent = [pub.publish(0, str(i).encode()) for i in range(20)]
    assert sent == [True] * 5 + [False] * 15
    assert pub.summary()["dropped"] == 15 and pub.pending == 5
    broker.start()
    pub.close()  # the 5 buffered ones are delivered after the reconnect
    s = pub.summary()
    assert (s["published"], s["acknowledged"], s["dropped"]) == (5, 5, 15)
    assert s["reconnects"] == 1


@needs_broker
def test_unacknowledged_at_the_end_is_an_error(broker):
    pub = _connected_then_broker_killed(broker, flush_timeout=0.5)
    pub.publish(0, b"x")
    with pytest.raises(StreamError, match="1 messages not acknowledged"):
        pub.close()


def _cli(args: list[str], env: dict[str, str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EV, "run", *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def _one_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edgevision run: error")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@needs_broker
@pytest.mark.gst
def test_password_broker_cli(tmp_path, stub_env, tiny_video):
    """A broker with a password file: the right login from a file or the environment works;
    a wrong one, none, or one in the URL is a one-line error (exit 2) that shows no password."""
    with LocalBroker(users={"cam": "right-pw"}) as b:
        url = f"mqtt://127.0.0.1:{b.port}/secure"
        base = [str(tiny_video), "--model", "evstub:make", "--max-frames", "5", "--mqtt", url]
        env = stub_env | {USER_ENV: "cam", PASSWORD_ENV: "wrong-pw"}
        err = _one_error(_cli(base, env))
        assert "refused" in err and "wrong-pw" not in err
        assert "refused" in _one_error(_cli(base, stub_env))  # no credentials at all
        bad = [*base[:-1], f"mqtt://cam:right-pw@127.0.0.1:{b.port}/secure"]
        err = _one_error(_cli(bad, stub_env))
        assert "no credentials in the URL" in err and "right-pw" not in err

        cred = tmp_path / "cred"
        cred.write_text("cam\nright-pw\n")
        cred.chmod(0o600)
        sub = Subscriber(b.port, "secure", login=("cam", "right-pw"))
        r = _cli([*base, "--mqtt-credentials", str(cred), "--meta", "-"], stub_env, tmp_path)
        assert r.returncode == 0, r.stderr
        received = [p.decode() for _, p in sub.wait(5, 10)]
        sub.close()
        assert [json.loads(x)["frame"] for x in received] == list(range(5))
        # --meta -: stdout holds exactly the JSONL lines, the summary went to stderr
        assert r.stdout.splitlines() == received and not (tmp_path / "-").exists()
        assert "mqtt " + url in r.stderr and "5/5 acknowledged" in r.stderr


@needs_broker
@pytest.mark.gst
def test_mqtts_with_tls(tmp_path, stub_module, tiny_video):
    """mqtts:// against a broker with a self-signed certificate: trusted with --mqtt-ca, a
    one-line error without it."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o644)
    with LocalBroker(tls=(str(cert), str(key))) as b:
        url = f"mqtts://127.0.0.1:{b.port}/tls"
        with pytest.raises(StreamError, match="cannot connect.*(CERTIFICATE|certificate)"):
            MqttPublisher(MqttConfig(url)).connect()
        cfg = RunConfig([str(tiny_video)], "stub", mqtt=MqttConfig(url, ca=str(cert)))
        s = run_stream(cfg, plugin=stub_module.make(), progress=False)
        assert s["mqtt"]["acknowledged"] == 24 and s["errors"] == []


@needs_broker
def test_login_refused_on_reconnect_ends_the_run(tmp_path):
    """The password changed while the broker was down: retrying cannot help, so the next
    publish raises (the run ends with that one line) instead of buffering for ever."""
    with LocalBroker(users={"cam": "old-pw"}) as b:
        env = {USER_ENV: "cam", PASSWORD_ENV: "old-pw"}
        pub = MqttPublisher(MqttConfig(f"mqtt://127.0.0.1:{b.port}/t"), env=env)
        pub.connect()
        b.stop()
        subprocess.run(["mosquitto_passwd", "-b", str(b.dir / "passwords"), "cam", "new-pw"])
        b.start()
        deadline = time.monotonic() + 20
        while pub.error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(StreamError, match="refused the login") as e:
            pub.publish(0, b"x")
        assert "old-pw" not in str(e.value)
        with pytest.raises(StreamError, match="refused the login"):
            pub.close()
