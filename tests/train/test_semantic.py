"""Semantic training on a Cityscapes folder (train and eval through the CLI) and its
metrics.csv columns."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


def test_cityscapes_is_trainable_and_evaluable(cityscapes_dir, tmp_path, capsys):
    from edgevision.checkpoint import load_checkpoint
    from edgevision.cli.main import main
    from edgevision.data.semantic import CITYSCAPES_CLASSES

    out = tmp_path / "run"
    argv = ["train", "deeplabv3plus_mobilenetv2", "--data", str(cityscapes_dir)]
    argv += ["--out", str(out), "--epochs", "1", "--batch-size", "2", "--crop", "32x48"]
    argv += ["--device", "cpu", "--no-progress", "--set", "warmup_epochs=0"]
    argv += ["--set", "model_kwargs={width_mult: 0.35, aspp_channels: 16}"]
    assert main(argv) == 0
    assert "best val mIoU" in capsys.readouterr().out
    spec, _, _ = load_checkpoint(out / "best.pt")
    assert spec.class_names == list(CITYSCAPES_CLASSES) and spec.ignore_index == 255
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "kind",
        "epoch",
        "iter",
        "lr",
        "loss",
        "miou",
        "pixel_acc",
        "elapsed_s",
    ]
    assert rows[-1]["kind"] == "epoch" and rows[-1]["miou"] != ""

    rep = tmp_path / "r.json"
    argv = ["eval", str(out / "best.pt"), "--data", str(cityscapes_dir), "--json", str(rep)]
    assert main([*argv, "--split", "train:bochum"]) == 0
    report = json.loads(rep.read_text())
    assert report["num_images"] == 2 and report["sequences"] == {"bochum": 2}
    assert 0.0 <= report["metrics"]["miou"] <= 1.0
