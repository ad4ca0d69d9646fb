"""``edgevision report streaming``: four scenarios in fresh processes, one table."""

from __future__ import annotations

import pytest

from edgevision.cli.main import main

pytestmark = [pytest.mark.gst, pytest.mark.slow]


def test_report_runs_all_scenarios(tiny_video, stub_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(stub_dir))
    out = tmp_path / "streaming.md"
    rc = main(["report", "streaming", "evstub:make", "--video", str(tiny_video), "--out",
               str(out), "--work", str(tmp_path / "w"), "--live-seconds", "1.5",
               "--long-frames", "200"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = out.read_text()
    for row in ("| 1 stream, file, MP4 out | 24 |", "| 4 streams, files, batched | 96 |",
                "| live test://ball @ 60 FPS, leaky |", "| long run, 200 frames | 200 |"):  # fmt: skip
        assert row in text
    assert "RSS growth < 50 MB over 200 frames" in text and "edgevision run" in text
    assert (tmp_path / "w" / "one.mp4").stat().st_size > 0


def test_bad_arguments(capsys):
    assert main(["report", "streaming", "evstub:make", "--long-frames", "5"]) == 2
    assert "--long-frames" in capsys.readouterr().err
