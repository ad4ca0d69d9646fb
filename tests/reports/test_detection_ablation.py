"""The ablation command end to end on a tiny synthetic set (train, export, INT8, bench, page)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_ablation_writes_page_and_plot(synth_images, tmp_path, one_torch_thread):
    from edgevision.reports.detection_ablation import main

    data = synth_images(seed=5, size=(64, 64), train=4, val=2)
    md = tmp_path / "det.md"
    rc = main(
        [
            "--data",
            str(data),
            "--out",
            str(tmp_path / "w"),
            "--md",
            str(md),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--input",
            "64x64",
            "--runs",
            "2",
            "--blocks",
            "1",
            "--variants",
            "yolov5n conv6x6",
            "--val-split",
            "train",
            "--set",
            "copy_paste=0.5",
            "--set",
            "photometric=0.5",
        ]
    )
    assert rc == 0
    text = md.read_text()
    # the recipe and the splits reach the training run and the page
    import yaml

    run_cfg = yaml.safe_load(
        (tmp_path / "w" / "runs" / "yolov5n_conv6x6" / "config.yaml").read_text()
    )
    assert run_cfg["copy_paste"] == 0.5 and run_cfg["photometric"] == 0.5
    assert run_cfg["val_split"] == "train"
    assert "recipe `copy_paste=0.5` `photometric=0.5`" in text
    assert "val split `train`" in text and "on `train`" in text
    assert "yolov5n conv6x6" in text and "python -m edgevision.reports.detection_ablation" in text
    assert (tmp_path / "det_ap50_latency.png").stat().st_size > 1000
    rows = json.loads((tmp_path / "w" / "ablation.json").read_text())["rows"]
    assert rows[0]["int8_latency_ms"] > 0 and 0 <= rows[0]["int8_ap50"] <= 1
    assert (tmp_path / "w" / "onnx" / "yolov5n_conv6x6_int8.onnx").is_file()
    assert "YOLOv8n-architecture reference" in text
    ref = json.loads((tmp_path / "w" / "ablation.json").read_text())["reference"]
    assert ref["fp32_latency_ms"] > 0


def test_unknown_variant_is_a_clear_error(tmp_path, capsys):
    from edgevision.reports.detection_ablation import main

    rc = main(["--data", str(tmp_path), "--out", str(tmp_path / "w"), "--variants", "nope"])
    assert rc == 2 and "unknown variants" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "epochs=3"], "the ablation sets epochs itself"),
        (["--set", "nope=1"], "unknown config key 'nope'"),
        (["--set", "copy_paste=2"], "copy_paste must be in [0, 1]"),
        (["--val-split", "nope"], "split 'nope' not found"),
    ],
)
def test_bad_recipe_or_split_fails_before_anything_is_written(
    synth_images, tmp_path, capsys, extra, message
):
    from edgevision.reports.detection_ablation import main

    data = synth_images(seed=5, size=(64, 64), train=4, val=2)
    rc = main(["--data", str(data), "--out", str(tmp_path / "w"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "w").exists()
