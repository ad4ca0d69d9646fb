"""Faults during ``edgevision run``, each in a subprocess with time limits so nothing can hang
the suite: a full disk, a sink that fails (a folder as --out, a frame size the encoder
refuses), Ctrl-C twice or thrice, SIGTERM twice, and kill -9 (the partial file stays playable).
No silent failures: a failed output is exit 2 with one line, the summary is still written and
"wrote X" is printed only for finished files."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgevision.stream.gst import StreamError, make_element
from edgevision.stream.outputs import Mp4Sink

from .videos import count_frames

pytestmark = pytest.mark.gst

EV = [sys.executable, "-m", "edgevision", "run"]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _default_signals(fsize: int | None = None):
    """preexec_fn: SIGINT as a terminal gives it (a background job inherits it ignored);
    optionally a file size limit (writes past it fail with EFBIG instead of SIGXFSZ)."""

    def pre() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return pre


def _start(args: list[str], env: dict[str, str], fsize: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*EV, *args, "--model", "evstub:make", "--no-progress"],
        env={**env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals(fsize),
    )


def _finish(p: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # hung: fail with where each thread is stuck
        p.send_signal(signal.SIGABRT)
        out, err = p.communicate(timeout=30)
        pytest.fail(f"no exit within {timeout} s of {what}; thread stacks:\n{err[-6000:]}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def _wait_lines(p: subprocess.Popen, meta: Path, n: int, timeout: float = 120) -> None:
    # generous: on a loaded machine start-up alone can take tens of seconds
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None and _lines(meta) < n:
        time.sleep(0.05)
    if _lines(meta) < n:
        p.kill()
        _, err = p.communicate(timeout=30)
        pytest.fail(f"fewer than {n} frames in {timeout} s:\n{err[-3000:]}")


def _one_error(err: str, *matches: str) -> str:
    errors = [ln for ln in err.splitlines() if ln.startswith("edgevision run: error")]
    assert len(errors) == 1, err
    assert any(m in errors[0] for m in matches), err
    assert "Traceback" not in err
    return errors[0]


# ------------------------------------------------------------------ full disk
@pytest.fixture
def small_disk(tmp_path: Path):
    """A 200 KiB tmpfs (root), else None: the caller limits the child's file size instead."""
    d = tmp_path / "small"
    d.mkdir()
    if os.geteuid() == 0:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(d)], capture_output=True
        )
        if r.returncode == 0:
            yield d, None
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
            return
    yield d, 200 * 1024


@pytest.mark.parametrize("full", ["out", "meta"])
def test_disk_full_ends_run_with_error_and_summary(tmp_path, stub_env, small_disk, full):
    """The disk of the MP4 (or of the JSONL) fills up: the run ends at once with exit 2 and
    one line, the summary (on a healthy disk) names the error, nothing is reported written."""
    small, fsize = small_disk
    big = tmp_path / "big"
    big.mkdir()
    out = (small if full == "out" else big) / "o.mp4"
    meta = (small if full == "meta" else big) / "o.jsonl"
    summary = tmp_path / "s.json"
    if full == "meta":  # the MP4 stays small; many JSONL lines fill the disk
        source = "test://ball?size=32x24&fps=1000"
    else:  # snow does not compress: the MP4 fills 200 KiB in about a second
        source = "test://snow?size=320x240&fps=60"
    t0 = time.monotonic()
    p = _start(
        [source, "--out", str(out), "--meta", str(meta), "--summary", str(summary)],
        stub_env,
        fsize=fsize,
    )
    out_text, err = _finish(p, 120, "a full disk")
    assert p.returncode == 2, err
    _one_error(err, "No space left", "File too large", "Could not write")
    assert "wrote" not in out_text
    s = json.loads(summary.read_text())
    assert s["errors"]
    assert s["wall_s"] < 30  # ended when the disk filled (a hang would be the time limit)
    if full == "out":
        assert not out.exists()  # never under its final name when it was not finished
        assert s["written"] == []
    else:  # the MP4's own disk is healthy: finalised up to the end of the run
        assert s["written"] == [str(out)] and count_frames(out) > 0
    assert time.monotonic() - t0 < 120


# ------------------------------------------------------------------ sink errors
def test_folder_as_out_is_one_line_exit_2(tmp_path, stub_env):
    d = tmp_path / "existing.mp4"
    d.mkdir()
    p = _start(["test://ball?size=32x24&frames=5", "--out", str(d)], stub_env)
    out, err = _finish(p, 60, "start")
    assert p.returncode == 2, err
    _one_error(err, "is a folder")
    assert "wrote" not in out
    assert d.is_dir() and not list(d.iterdir())


def test_encoder_refusing_the_frame_size_is_an_error(tmp_path):
    """A frame size the encoder refuses (x264: 20000 pixels wide; OpenH264: 8000x8000): the
    error reaches write/close, no file remains."""
    from edgevision.stream.encoders import select_encoder

    enc = select_encoder()
    sink = Mp4Sink(tmp_path / "o.mp4", fps=10, encoder=enc)
    frame = np.zeros((8000, 8000, 3) if enc.element == "openh264enc" else (16, 20000, 3), np.uint8)
    with pytest.raises(StreamError, match="o.mp4"):
        for i in range(20):  # negotiation fails asynchronously: within a few frames
            sink.write(frame, i / 10)
    with pytest.raises(StreamError, match="o.mp4"):
        sink.close()
    assert not sink.complete and sink.written is None
    assert list(tmp_path.iterdir()) == []


def test_failed_sink_in_run_writes_summary_and_raises(tmp_path, stub_module, monkeypatch):
    """A sink failing mid-run: StreamError after the shutdown, the summary lists the error
    and no written file."""
    from edgevision.stream.pipeline import RunConfig, run_stream

    orig = Mp4Sink.write

    def write(self, image, pts):
        if self.frames >= 3:
            self.error = f"output {self.target}: disk on fire"
            raise StreamError(self.error)
        orig(self, image, pts)

    monkeypatch.setattr(Mp4Sink, "write", write)
    cfg = RunConfig(
        ["test://ball?size=32x24&fps=30&frames=60"],
        "stub",
        out=str(tmp_path / "o.mp4"),
        summary=str(tmp_path / "s.json"),
    )
    t = time.monotonic()
    with pytest.raises(StreamError, match="disk on fire"):
        run_stream(cfg, plugin=stub_module.make(), progress=False)
    assert time.monotonic() - t < 30
    s = json.loads((tmp_path / "s.json").read_text())
    assert any("disk on fire" in e for e in s["errors"]) and s["written"] == []
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".*partial"))


# ------------------------------------------------------------------ signals
@pytest.mark.parametrize(
    ("first", "second", "gap"),
    [
        (signal.SIGINT, signal.SIGINT, 0.05),
        (signal.SIGINT, signal.SIGINT, 0.3),
        (signal.SIGTERM, signal.SIGTERM, 0.1),
    ],
    ids=["SIGINT-50ms", "SIGINT-300ms", "SIGTERM-100ms"],
)
def test_second_signal_during_shutdown_is_ignored(tmp_path, stub_env, first, second, gap):
    out, meta, summary = tmp_path / "o.mp4", tmp_path / "o.jsonl", tmp_path / "s.json"
    p = _start(
        [
            "test://ball?size=64x48&fps=30",
            "--out",
            str(out),
            "--meta",
            str(meta),
            "--summary",
            str(summary),
        ],
        stub_env,
    )
    _wait_lines(p, meta, 10)
    p.send_signal(first)
    time.sleep(gap)
    if p.poll() is None:
        p.send_signal(second)
    stdout, err = _finish(p, 90, "two signals")
    assert p.returncode == 130, err
    assert "Traceback" not in err
    n = _lines(meta)
    assert n >= 10
    assert count_frames(out) == n  # finalised, under its name
    assert not list(tmp_path.glob(".*partial"))
    assert json.loads(summary.read_text())["interrupted"] is True


def test_third_sigint_forces_exit(tmp_path, stub_env):
    meta = tmp_path / "o.jsonl"
    p = _start(
        ["test://ball?size=64x48&fps=30", "--out", str(tmp_path / "o.mp4"), "--meta", str(meta)],
        stub_env,
    )
    _wait_lines(p, meta, 10)
    for _ in range(3):
        p.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _, err = _finish(p, 60, "three SIGINTs")
    assert p.returncode == 130, err


# ------------------------------------------------------------------ kill -9
@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_kill_9_leaves_a_playable_partial_file(tmp_path, stub_env, ext):
    """MP4 is fragmented (a fragment a second) and Matroska needs no index: after kill -9
    the partial file plays up to the last fragment."""
    out, meta = tmp_path / f"o.{ext}", tmp_path / "o.jsonl"
    p = _start(["test://ball?size=64x48&fps=30", "--out", str(out), "--meta", str(meta)], stub_env)
    _wait_lines(p, meta, 75)  # 2.5 s of video: at least two whole fragments
    p.kill()
    p.communicate(timeout=30)
    partial = tmp_path / f".o.{ext}.partial"
    assert partial.is_file() and not out.exists()
    assert count_frames(partial) >= 30


def test_run_stream_puts_signal_handlers_back(stub_module):
    """An in-process run (the CLI called from Python, a notebook) leaves SIGINT/SIGTERM as it
    found them: later child processes must not inherit them ignored."""
    from edgevision.stream.pipeline import RunConfig, run_stream

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    run_stream(
        RunConfig(["test://ball?size=32x24&frames=3"], "stub"),
        plugin=stub_module.make(),
        progress=False,
    )
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_wedged_output_pipeline_is_an_error_not_a_hang(tmp_path):
    """A pipeline that stops taking frames without posting an error (here a sink waiting an
    hour for the second frame's time) ends in StreamError after ``stall_s``."""

    class Wedged(Mp4Sink):
        def _elements(self, w: int, h: int) -> list:
            return [self._appsrc(w, h, w * h * 3 * 2), make_element("fakesink", sync=True)]

    sink = Wedged(tmp_path / "o.mp4", fps=10)
    sink.stall_s = 1.0
    frame = np.zeros((24, 32, 3), np.uint8)
    t = time.monotonic()
    with pytest.raises(StreamError, match="took no frame for 1 s"):
        for i in range(10):
            sink.write(frame, 0.0 if i == 0 else 3600.0 + i)
    assert time.monotonic() - t < 20
    with pytest.raises(StreamError):
        sink.close()
    assert not sink.complete
