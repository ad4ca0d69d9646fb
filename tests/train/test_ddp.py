"""DDP: ``torchrun --nproc_per_node 2`` with gloo on CPU trains, logs once, all-reduces mIoU."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgevision.checkpoint import load_checkpoint, load_model
from edgevision.data.semantic import SemanticFolder
from edgevision.data.synth import SynthConfig, generate
from edgevision.train.hooks import evaluate_confusion
from edgevision.train.seg_data import SegEvalDataset, build_eval_loader

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with gloo",
)


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tmp_path: Path):
    data = tmp_path / "ds"
    cfg = SynthConfig(
        seed=6, image_size=(48, 48), train_images=8, val_images=3, train_videos=0, val_videos=0
    )
    generate(data, cfg, progress=False)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "edgevision",
        "train",
        "deeplabv3plus_mobilenetv2",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--crop",
        "48x48",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
        "--set",
        "log_every=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("trained deeplabv3plus_mobilenetv2") == 1  # rank 0 only
    _, _, extra = load_checkpoint(out / "last.pt")
    state = extra["trainer"]
    # 8 images over 2 processes, batch 2: 2 steps per epoch
    assert (state["world_size"], state["iters_per_epoch"], state["iter"]) == (2, 2, 4)
    assert len(state["rng"]) == 2  # one RNG state per process
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["iter"]) for r in rows] == [
        ("step", "1"),
        ("step", "2"),
        ("epoch", "2"),
        ("step", "3"),
        ("step", "4"),
        ("epoch", "4"),
    ]
    # the mIoU logged by 2 processes (3 val images split 2 + 1, counts all-reduced) equals a
    # single-process evaluation of the final weights
    model = load_model(out / "last.pt")
    spec = model.spec
    folder = SemanticFolder(data, "val")
    loader = build_eval_loader(SegEvalDataset(folder, mean=spec.mean, std=spec.std))
    cm = evaluate_confusion(
        model, loader, num_classes=spec.num_classes, ignore_index=spec.ignore_index
    )
    assert cm.total == 3 * 48 * 48 - sum(int((s.mask == 255).sum()) for s in folder)
    assert float(rows[-1]["miou"]) == pytest.approx(cm.miou(), abs=1e-5)
