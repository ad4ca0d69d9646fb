"""evaluate() says which sequences it scored (NAME prefix before the first '_'), in the table
and the JSON, and scores the sequences a split selector keeps; tiny CamVid-like folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgevision.config import ModelSpec
from edgevision.errors import DataError
from edgevision.evaluate import evaluate
from edgevision.io import write_image
from edgevision.results import Detections, SemanticMask

CLASSES = ["road", "car"]
NAMES = ["0001TP_006690", "0016E5_07959", "0016E5_07961", "0016E5_07963"]


def make_semantic(root: Path, names=NAMES, split: str = "val") -> Path:
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    (root / "dataset.yaml").write_text(yaml.safe_dump({"classes": CLASSES, "ignore_index": 255}))
    for n in names:
        lab = np.zeros((6, 8), np.uint8)
        lab[:, 4:] = 1
        img = np.zeros((6, 8, 3), np.uint8)
        img[..., 0] = lab * 100
        write_image(root / "images" / split / f"{n}.png", img)
        write_image(root / "labels" / split / f"{n}.png", lab)
    return root


class Oracle:
    def __init__(self) -> None:
        self.spec = ModelSpec(name="oracle", task="semantic", class_names=list(CLASSES))

    def __call__(self, image: np.ndarray) -> SemanticMask:
        return SemanticMask((image[..., 0] // 100).astype(np.int64), CLASSES)


def test_report_lists_the_sequences_scored(tmp_path):
    report = evaluate(Oracle(), make_semantic(tmp_path), "val", progress=False)
    assert report.sequences == {"0001TP": 1, "0016E5": 3}
    assert "sequences: 0001TP 1, 0016E5 3" in report.table()
    assert json.loads(report.to_json())["sequences"] == {"0001TP": 1, "0016E5": 3}


def test_max_images_counts_only_the_images_scored(tmp_path):
    report = evaluate(Oracle(), make_semantic(tmp_path), "val", max_images=2, progress=False)
    assert report.sequences == {"0001TP": 1, "0016E5": 1}


def test_selector_scores_only_the_kept_sequences(tmp_path):
    make_semantic(tmp_path)
    only = evaluate(Oracle(), tmp_path, "val:0016E5", progress=False)
    assert (only.num_images, only.sequences, only.split) == (3, {"0016E5": 3}, "val:0016E5")
    assert "[val:0016E5]: 3 images" in only.table()
    without = evaluate(Oracle(), tmp_path, "val-0016E5", progress=False)
    assert without.sequences == {"0001TP": 1} and without.metrics["miou"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="no sequence '0006R0' in split 'val'"):
        evaluate(Oracle(), tmp_path, "val:0006R0", progress=False)


def test_names_without_a_prefix_are_listed_as_such(tmp_path):
    report = evaluate(Oracle(), make_semantic(tmp_path, ["a", "b"]), "val", progress=False)
    assert report.sequences == {"": 2}
    assert "sequences: (no SEQUENCE_ prefix) 2" in report.table()


class NoBoxes:
    def __init__(self) -> None:
        self.spec = ModelSpec(name="det", task="detect", class_names=["Car"])

    def __call__(self, image: np.ndarray) -> Detections:
        return Detections.empty(["Car"], image.shape[:2])


def test_coco_eval_lists_and_selects_sequences(tmp_path):
    pytest.importorskip("faster_coco_eval")
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    images, anns = [], []
    for i, n in enumerate(NAMES):
        write_image(tmp_path / "images" / "train" / f"{n}.jpg", np.zeros((6, 8, 3), np.uint8))
        images.append({"id": i + 1, "file_name": f"{n}.jpg", "height": 6, "width": 8})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 3, 3]})
    coco = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "Car"}]}
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps(coco))
    full = evaluate(NoBoxes(), tmp_path, "train", progress=False)
    assert full.sequences == {"0001TP": 1, "0016E5": 3}
    held = evaluate(NoBoxes(), tmp_path, "train:0001TP", progress=False)
    assert (held.num_images, held.sequences) == (1, {"0001TP": 1})
