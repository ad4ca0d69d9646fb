"""``edgevision report detection-speed``: the page end to end; a missing checkpoint."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_detection_speed_page(synth_images, tmp_path, one_torch_thread):
    from edgevision.checkpoint import save_checkpoint
    from edgevision.cli.main import main
    from edgevision.registry import create_model
    from edgevision.train.detection import load_split

    data = synth_images(seed=5, size=(64, 64), train=4, val=2)
    names = load_split(data, "train").class_names
    ckpt = save_checkpoint(
        tmp_path / "det.pt", create_model("yolov5n", class_names=names, input_size=(64, 64))
    )
    md = tmp_path / "speed.md"
    argv = [
        "report", "detection-speed", str(ckpt), "--data", str(data), "--out", str(md),
        "--work", str(tmp_path / "w"), "--input", "64x64", "--runs", "2", "--blocks", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    text = md.read_text()
    assert "YOLOv8n-architecture reference FP32" in text and "det INT8" in text
    assert "edgevision report detection-speed" in text and "Targets:" in text
    res = json.loads((tmp_path / "w" / "detection_speed.json").read_text())
    assert [r["engine_ms"] > 0 for r in res["rows"]] == [True] * 3
    assert res["ratio_vs_ref_engine"] > 0 and res["post_share_100"] > 0
    assert 0 <= res["rows"][2]["ap50"] <= 1


def test_detection_speed_rejects_a_missing_checkpoint(tmp_path, capsys):
    from edgevision.cli.main import main

    rc = main(["report", "detection-speed", str(tmp_path / "nope.pt"), "--data", str(tmp_path)])
    assert rc != 0 and "nope.pt" in capsys.readouterr().err
