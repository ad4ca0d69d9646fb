"""Tracking metrics (evaluate.track) on synthetic videos, whose generator knows every id."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from edgevision.cli.main import main
from edgevision.config import ModelSpec
from edgevision.data.ytvis import YtvisDataset, ytvis_layout
from edgevision.errors import ConfigError
from edgevision.evaluate.track import evaluate_tracking, mot_distances
from edgevision.results import Detections

CLASSES = ["circle", "rectangle", "triangle", "star"]


class Oracle:
    """The ground-truth boxes of each frame (looked up by the frame's pixels), optionally
    with the two objects of the first frame swapped halfway (an ID switch) or nothing."""

    spec = ModelSpec(name="oracle", task="detect", class_names=CLASSES)

    def __init__(self, root, *, empty=False):
        self.truth: dict[bytes, Detections] = {}
        self.empty = empty
        for s in YtvisDataset(*ytvis_layout(root, "val")):
            for t, gt in enumerate(s.targets):
                key = hashlib.sha1(s.read_frame(t).tobytes()).digest()
                self.truth[key] = Detections(
                    gt.boxes, np.full(len(gt), 0.9), gt.class_ids, CLASSES, gt.image_size
                )

    def __call__(self, image):
        d = self.truth[hashlib.sha1(image.tobytes()).digest()]
        return d[np.zeros(len(d), bool)] if self.empty else d


@pytest.fixture(scope="module")
def motion_set(tmp_path_factory):
    from edgevision.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("motion") / "ds"
    cfg = SynthConfig(
        seed=6, image_size=(96, 96), train_images=0, val_images=0, train_videos=0,
        val_videos=3, frames=12, motion_range=(0.5, 2.0), write_mp4=False,
    )  # fmt: skip
    generate(out, cfg, progress=False)
    return out


def test_distances_are_one_minus_iou_and_nan_below_the_threshold():
    d = mot_distances(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 5], [0, 0, 10, 2]]))
    assert d[0, 0] == pytest.approx(0.5) and np.isnan(d[0, 1])


@pytest.mark.parametrize("tracker", ["bytetrack", "iou"])
def test_true_boxes_give_perfect_ids_and_per_motion_metrics(motion_set, tracker):
    rep = evaluate_tracking(Oracle(motion_set), motion_set, tracker=tracker, progress=False)
    tr = rep.metrics["tracking"]
    o = tr["overall"]
    assert rep.num_images == o["num_frames"] == 36
    assert o["num_switches"] == 0 and o["num_false_positives"] == 0
    assert o["idf1"] > 0.9 and o["mota"] > 0.9  # objects entering late wait one frame
    motions = json.loads((motion_set / "annotations" / "ytvis_val.json").read_text())["videos"]
    assert sorted(tr["by_motion"]) == sorted(str(v["motion"]) for v in motions)
    assert sum(m["num_frames"] for m in tr["by_motion"].values()) == 36
    assert rep.headline == pytest.approx(o["idf1"])
    assert "MOTA" in rep.table() and "motion " in rep.table()
    assert tr["tracker_ms"]["mean"] > 0


def test_no_boxes_score_zero(motion_set):
    rep = evaluate_tracking(Oracle(motion_set, empty=True), motion_set, progress=False)
    o = rep.metrics["tracking"]["overall"]
    assert o["mota"] == 0.0 and o["idf1"] == 0.0 and o["num_misses"] == o["num_objects"] > 0


def test_unknown_tracker_fails_before_reading(motion_set):
    with pytest.raises(ConfigError, match="unknown tracker"):
        evaluate_tracking(Oracle(motion_set), motion_set, tracker="sort", progress=False)


@pytest.mark.slow
def test_eval_cli_track_writes_json(
    video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt
):
    ck = tiny_yolact_ckpt(tmp_path / "v.pt", video=False)
    out = tmp_path / "t.json"
    argv = ["eval", str(ck), "--data", str(video_set), "--track", "bytetrack", "--json", str(out)]
    assert main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["metrics"]["tracking"]["overall"]["num_frames"] == 8
    assert "IDF1" in capsys.readouterr().out
    assert main(["eval", str(ck), "--data", str(video_set), "--track", "sort"]) == 2
    assert "unknown tracker 'sort'" in capsys.readouterr().err
