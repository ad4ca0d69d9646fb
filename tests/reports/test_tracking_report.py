"""``edgevision report tracking``: the page from synthetic videos, a tiny model; bad input."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402


@pytest.mark.slow
def test_tracking_page(tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt):
    pytest.importorskip("onnxruntime")
    ck = tiny_yolact_ckpt(tmp_path / "v.pt", video=False)
    md, work = tmp_path / "tracking.md", tmp_path / "w"
    rc = main(["report", "tracking", str(ck), "--out", str(md), "--work", str(work),
               "--motions", "1,2", "--videos", "1", "--frames", "3", "--threads", "1",
               "--bench-frames", "20"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    page = md.read_text()
    assert page.count("| bytetrack |") == 3 and page.count("| iou |") == 3  # 2 levels + cost
    assert "edgevision report tracking" in page and "IDF1" in page
    assert "ByteTrack at the default motion" in page
    r = json.loads((work / "tracking.json").read_text())
    assert sorted(r["levels"]) == ["1", "2"]
    assert r["levels"]["2"]["iou"]["overall"]["num_frames"] == 3


def test_bad_arguments_are_one_line(tmp_path, capsys):
    for extra, msg in (
        (["--motions", "a,b"], "--motions must be numbers"),
        (["--motions", "0"], "each > 0"),
    ):
        assert main(["report", "tracking", "m.onnx", "--out", str(tmp_path / "t.md"), *extra]) == 2
        assert msg in capsys.readouterr().err
