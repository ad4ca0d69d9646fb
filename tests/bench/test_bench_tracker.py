"""``edgevision bench --tracker``: a tracker's cost on moving boxes (no timing asserted)."""

from __future__ import annotations

import json

import numpy as np

from edgevision.bench.tracker import bench_tracker, moving_boxes
from edgevision.cli.main import main


def test_scene_is_deterministic_and_marks_false_positives():
    a, b = moving_boxes(10, 5, seed=1), moving_boxes(10, 5, seed=1)
    assert all(np.array_equal(x[0].boxes, y[0].boxes) for x, y in zip(a, b))
    dets, truth = a[0]
    assert len(dets) == len(truth) and (truth == -1).sum() == 2
    assert set(truth[truth >= 0].tolist()) <= set(range(10))


def test_bench_reports_percentiles_and_ids_that_held():
    r = bench_tracker("bytetrack", objects=30, frames=60, warmup=5)
    ms = r["ms_per_frame"]
    assert r["frames"] == 60 and ms["p50"] <= ms["p90"] <= ms["p99"] <= ms["max"]
    assert 30 <= r["tracks_started"] <= 36  # ids held: about one track per object


def test_cli_tracker_mode(tmp_path, capsys):
    out = tmp_path / "t.json"
    argv = ["bench", "--tracker", "iou", "--objects", "5", "--frames", "20", "--json", str(out)]
    assert main(argv) == 0
    assert "iou: 5 objects, 20 frames" in capsys.readouterr().out
    assert json.loads(out.read_text())["machine"]["cores"] >= 1
    assert main(["bench", "m.onnx", "--tracker", "iou"]) == 2
    assert "give no TARGET" in capsys.readouterr().err
    assert main(["bench", "--tracker", "sort"]) == 2
