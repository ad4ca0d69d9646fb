"""RTSP against servers started by the test on 127.0.0.1: reading, serving our overlay,
and reconnecting when the server is killed and restarted."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

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
