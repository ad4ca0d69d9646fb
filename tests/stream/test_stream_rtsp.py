"""RTSP against servers started by the test on 127.0.0.1: reading, serving our overlay,
and reconnecting when the server is killed and restarted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from edgevision.stream.gst import StreamError
from edgevision.stream.pipeline import RunConfig, run_stream
from edgevision.stream.sources import SourceOptions

pytestmark = pytest.mark.gst


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int) -> subprocess.Popen:
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgevision.stream.rtsp",
            "--port",
            str(port),
            "--path",
            "/cam",
            "--size",
            "96x64",
            "--fps",
            "15",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdout is not None
    line = p.stdout.readline()  # "serving ..." once the port is bound
    assert "serving" in line, line
    return p


def _stop(p: subprocess.Popen) -> None:
    p.kill()
    p.wait(5)


def test_rtsp_output_is_readable_by_rtsp_source(tmp_path, stub_module):
    port = _free_port()
    stop = threading.Event()
    served: dict = {}

    def serve() -> None:
        cfg = RunConfig(
            ["test://ball?size=96x64&fps=30"], "stub", out=f"rtsp://127.0.0.1:{port}/live"
        )
        served.update(run_stream(cfg, plugin=stub_module.make(), progress=False, stop=stop))

    t = threading.Thread(target=serve)
    t.start()
    try:
        time.sleep(1.0)
        cfg = RunConfig(
            [f"rtsp://127.0.0.1:{port}/live"],
            "stub",
            source=SourceOptions(max_frames=5, start_timeout=10, reconnect=False),
        )
        s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    finally:
        stop.set()
        t.join(20)
    assert s["streams"][0]["frames_processed"] + s["streams"][0]["frames_dropped"] == 5
    assert s["streams"][0]["decoder"]["codec"] == "H.264"
    assert served["outputs"] == [f"rtsp://127.0.0.1:{port}/live"]


def test_rtsp_reconnects_after_server_restart(stub_module):
    port = _free_port()
    server = _serve(port)
    stop = threading.Event()
    box: dict = {}
    cfg = RunConfig(
        [f"rtsp://127.0.0.1:{port}/cam"],
        "stub",
        source=SourceOptions(start_timeout=10, stall_timeout=2.0, reconnect_timeout=30),
    )

    def run() -> None:
        try:
            box["summary"] = run_stream(cfg, plugin=plugin, progress=False, stop=stop)
        except BaseException as e:  # surfaced by the assertions below
            box["error"] = e

    plugin = stub_module.make()
    t = threading.Thread(target=run)
    t.start()
    try:
        deadline = time.monotonic() + 20
        while len(plugin.batch_sizes) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = len(plugin.batch_sizes)
        assert before >= 5, box
        _stop(server)
        time.sleep(1.5)
        server = _serve(port)
        deadline = time.monotonic() + 30
        while len(plugin.batch_sizes) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(20)
        _stop(server)
    assert "error" not in box, box
    st = box["summary"]["streams"][0]
    assert st["reconnects"] >= 1
    assert len(plugin.batch_sizes) >= before + 5


def test_normal_rtsp_shutdown_is_not_a_lost_stream(stub_module, caplog):
    """Stopping the run ourselves (max-frames, --duration) makes the server's side end the
    stream; that must not be logged as a lost stream ("lost ... reconnecting")."""
    port = _free_port()
    server = _serve(port)
    try:
        for opts in ({"max_frames": 5}, {}):
            caplog.clear()
            cfg = RunConfig(
                [f"rtsp://127.0.0.1:{port}/cam"],
                "stub",
                duration=0 if opts else 1.5,
                source=SourceOptions(start_timeout=10, **opts),
            )
            with caplog.at_level("INFO", logger="edgevision.stream"):
                s = run_stream(cfg, plugin=stub_module.make(), progress=False)
            assert s["streams"][0]["ended"] in ("max-frames", "stopped")
            assert not [r for r in caplog.records if "lost" in r.getMessage()], caplog.text
    finally:
        _stop(server)


# ------------------------------------------------------------------ RTSP output access
@pytest.mark.parametrize(
    ("host", "required"),
    [
        ("127.0.0.1", False),
        ("127.1.2.3", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("camera.local", True),
    ],
)
def test_auth_policy_is_a_function_of_the_bind_address(host, required):
    from edgevision.stream.rtsp import RtspAuth, auth_required, check_auth

    assert auth_required(host) is required
    if required:
        with pytest.raises(StreamError, match="--rtsp-password-file FILE or EDGEVISION_RTSP"):
            check_auth(host, RtspAuth())
        check_auth(host, RtspAuth(no_auth=True))  # explicitly open
    else:
        check_auth(host, RtspAuth())
    check_auth(host, RtspAuth(password="pw"))


def test_password_from_file_or_environment_never_shown(tmp_path):
    from edgevision.stream.rtsp import RtspAuth, read_password

    f = tmp_path / "pw"
    f.write_text("s3cret\nignored\n")
    assert read_password(str(f), env={"EDGEVISION_RTSP_PASSWORD": "env"}) == "s3cret"
    assert read_password(None, env={"EDGEVISION_RTSP_PASSWORD": "env"}) == "env"
    assert read_password(None, env={}) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(StreamError, match="first line is empty"):
        read_password(str(tmp_path / "empty"))
    with pytest.raises(StreamError, match="missing"):
        read_password(str(tmp_path / "missing"))
    assert "s3cret" not in repr(RtspAuth(password="s3cret"))


def _describe(port: int, path: str, user: str | None = None, pw: str | None = None) -> str:
    """Status line of an RTSP DESCRIBE (with a digest answer to the server's challenge)."""
    import hashlib
    import re

    uri = f"rtsp://127.0.0.1:{port}{path}"

    def md5(x: str) -> str:
        return hashlib.md5(x.encode()).hexdigest()

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:

        def send(cseq: int, extra: str = "") -> str:
            s.sendall(
                f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\n"
                f"{extra}\r\n".encode()
            )
            return s.recv(65536).decode(errors="replace")

        r = send(1)
        if user is None or not r.startswith("RTSP/1.0 401"):
            return r.splitlines()[0]
        realm = re.search(r'realm="([^"]*)"', r).group(1)  # type: ignore[union-attr]
        nonce = re.search(r'nonce="([^"]*)"', r).group(1)  # type: ignore[union-attr]
        resp = md5(f"{md5(f'{user}:{realm}:{pw}')}:{nonce}:{md5(f'DESCRIBE:{uri}')}")
        auth = (
            f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}"\r\n'
        )
        return send(2, auth).splitlines()[0]


def test_rtsp_output_with_password_refuses_and_serves(stub_module):
    """Auth explicitly enabled on 127.0.0.1 (a network address cannot be tested safely):
    401 without the password or with a wrong one, 200 with it; rtspsrc with the user and
    password in the URL reads frames."""
    from edgevision.stream.rtsp import RtspAuth

    port = _free_port()
    stop = threading.Event()
    box: dict = {}

    def serve() -> None:
        cfg = RunConfig(
            ["test://ball?size=96x64&fps=30"],
            "stub",
            out=f"rtsp://127.0.0.1:{port}/live",
            rtsp=RtspAuth(user="viewer", password="s3cret"),
        )
        try:
            box["summary"] = run_stream(cfg, plugin=stub_module.make(), progress=False, stop=stop)
        except BaseException as e:  # surfaced by the assertions below
            box["error"] = e

    t = threading.Thread(target=serve)
    t.start()
    try:
        deadline = time.monotonic() + 20
        status = ""
        while time.monotonic() < deadline:  # mounted at the first frame
            try:
                status = _describe(port, "/live", "viewer", "s3cret")
            except OSError:
                status = ""
            if "200" in status:
                break
            time.sleep(0.2)
        assert status == "RTSP/1.0 200 OK", (status, box)
        assert _describe(port, "/live") == "RTSP/1.0 401 Unauthorized"
        assert _describe(port, "/live", "viewer", "wrong") == "RTSP/1.0 401 Unauthorized"
        assert _describe(port, "/live", "edgevision", "s3cret") == "RTSP/1.0 401 Unauthorized"
        cfg = RunConfig(
            [f"rtsp://viewer:s3cret@127.0.0.1:{port}/live"],
            "stub",
            source=SourceOptions(max_frames=5, start_timeout=10, reconnect=False),
        )
        s = run_stream(cfg, plugin=stub_module.make(), progress=False)
        assert s["streams"][0]["frames_processed"] + s["streams"][0]["frames_dropped"] == 5
    finally:
        stop.set()
        t.join(20)
    assert "error" not in box, box


def test_cli_network_rtsp_output_needs_a_password(tiny_video):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgevision",
            "run",
            str(tiny_video),
            "--model",
            "nothing-loaded-before-the-check",
            "--out",
            f"rtsp://0.0.0.0:{_free_port()}/live",
        ],
        env={k: v for k, v in os.environ.items() if k != "EDGEVISION_RTSP_PASSWORD"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "reachable from the network" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [*r.args[:7], "--out", "null", "--rtsp-no-auth"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "need --out rtsp://" in r.stderr, r.stderr


def test_rtsp_output_over_tls_with_basic_auth(tmp_path):
    """--rtsp-cert/--rtsp-key: the server speaks TLS (rtsps); inside it basic auth."""
    import base64
    import shutil
    import ssl

    from edgevision.stream.rtsp import RtspAuth, RtspServer, check_auth, test_pattern_launch

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with pytest.raises(StreamError, match="--rtsp-cert: file not found"):
        check_auth("127.0.0.1", RtspAuth(cert=str(tmp_path / "nope.pem")))
    port = _free_port()
    srv = RtspServer("127.0.0.1", port, RtspAuth(password="pw", cert=str(cert), key=str(key)))
    assert srv.scheme == "rtsps"
    srv.mount("/cam", test_pattern_launch("64x48", 10))
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    uri = f"rtsps://127.0.0.1:{port}/cam"
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw) as s,
        ):
            s.sendall(f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert s.recv(4096).decode().startswith("RTSP/1.0 401")
            a = base64.b64encode(b"edgevision:pw").decode()
            s.sendall(
                f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic {a}\r\n\r\n".encode()
            )
            assert s.recv(65536).decode().startswith("RTSP/1.0 200 OK")
    finally:
        srv.close()
