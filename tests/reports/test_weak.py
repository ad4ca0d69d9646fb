"""``edgevision report weak``: (a)-(d) trained and tabulated; the agreement page's notes."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from edgevision.cli.main import main


def test_report_trains_four_ways_and_writes_table_and_figure(
    synth_images, tmp_path, one_torch_thread
):
    from edgevision.reports.weak import label_quality

    data = synth_images(seed=4, size=(64, 64), train=4, val=2)
    truth = data / "annotations" / "instances_train.json"
    q = label_quality(truth, truth)
    assert q["recall"] == q["precision"] == 1.0 and q["mean_iou"] == pytest.approx(1.0)
    md = tmp_path / "weak.md"
    rc = main(
        ["report", "weak", "--data", str(data), "--out", str(md), "--work", str(tmp_path / "w"),
         "--rounds", "1", "--epochs", "1", "--batch-size", "4", "--input", "64x64",
         "--set", "model_kwargs={width_mult: 0.35, fpn_channels: 32, proto_width: 32, "
         "num_protos: 8, anchor_scales: [10, 19, 32, 45, 58]}", "--set", "warmup_iters=1"]
    )  # fmt: skip
    assert rc == 0
    text = md.read_text()
    for stage in ("(a) fully supervised", "(b) weak: connected components",
                  "(c) weak: + splitting", "(d) + self-training round 1"):  # fmt: skip
        assert f"| {stage} |" in text
    assert "edgevision report weak" in text and "Target: (d) >= 85 %" in text
    assert md.with_suffix(".png").stat().st_size > 5000


def test_agreement_page_names_every_start_of_a_resumed_run(tmp_path):
    from edgevision.reports.weak import _training_lines

    model = tmp_path / "round0" / "model"
    model.mkdir(parents=True)
    (tmp_path / "weak.json").write_text(
        json.dumps({"command": "edgevision train --weak B", "train": {"epochs": 34},
                    "rounds": [{}]})
    )  # fmt: skip
    runs = model / "runs.jsonl"
    runs.write_text(json.dumps({"start_epoch": 0, "epochs": 60, "command": "edgevision A"}) + "\n")
    one = " ".join(_training_lines(str(model / "best.pt")))
    assert "edgevision train --weak B" in one and "started" not in one
    with runs.open("a") as f:
        f.write(json.dumps({"start_epoch": 20, "epochs": 34, "command": None}) + "\n")
    two = " ".join(_training_lines(str(model / "best.pt")))
    assert (
        "started 2 times" in two and "from epoch 0 with 60 epochs planned (`edgevision A`)" in two
    )
    assert "from epoch 20 with 34 epochs planned" in two
