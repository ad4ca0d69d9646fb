"""The YOLOv8n speed reference (architecture size) and the detection speed page end to end."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def test_reference_matches_yolov8n_size(one_torch_thread):
    from edgevision.bench.flops import torch_flops
    from edgevision.bench.reference import YOLOV8N_PARAMS, YOLOv8nReference

    m = YOLOv8nReference().eval()
    # Ultralytics counts the 16 fixed DFL weights as parameters; ours are a buffer
    assert sum(p.numel() for p in m.parameters()) + 16 == YOLOV8N_PARAMS
    gflops = torch_flops(m, (1, 3, 640, 640)).gflops
    assert 8.5 <= gflops <= 8.9, gflops  # YOLOv8n: 8.7 GFLOPs at 640
    with torch.no_grad():
        out = m(torch.zeros(1, 3, 320, 320))
    # (40² + 20² + 10²) positions, 4 box + 1 objectness + 80 classes
    assert out.shape == (1, 2100, 85)
    # class priors: nothing passes a 0.25 score threshold on a blank image
    assert float(out[0, :, 4].max()) < 0.05


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
