"""Pseudo instance labels from semantic masks: splitting, ignore region, confidence, CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgevision.cli.main import main
from edgevision.data.coco import CocoDataset, decode_segmentation
from edgevision.data.pseudo_instances import (
    PseudoLabelConfig,
    component_instances,
    image_pseudo_instances,
)
from edgevision.errors import ConfigError

CFG = PseudoLabelConfig(classes=("thing",), min_area=30)


def _two_circles(gap: int) -> np.ndarray:
    m = np.zeros((80, 120), np.uint8)
    cv2.circle(m, (40, 40), 20, 1, -1)
    cv2.circle(m, (80 - gap, 40), 20, 1, -1)
    return m.astype(bool)


def test_overlapping_circles_split_in_two_with_ignored_line():
    comp = _two_circles(gap=8)  # centres 32 px apart, radius 20: a clear neck
    parts, confs, lines = component_instances(comp, CFG)
    assert len(parts) == 2
    assert np.array_equal(parts[0] | parts[1], comp) and not (parts[0] & parts[1]).any()
    # each part holds one centre
    centres = [(40, 40), (72, 40)]
    assert sorted(int(p[y, x]) * k for k, p in enumerate(parts) for x, y in centres) == [0, 0, 0, 1]
    assert all(0.05 <= c < 1.0 for c in confs)
    assert lines.any() and (lines <= comp).all()
    assert abs(int(np.nonzero(lines)[1].mean()) - 56) <= 3  # the line runs through the neck


def test_elongated_and_convex_shapes_stay_whole():
    bar = np.zeros((40, 200), bool)
    bar[10:30, 10:190] = True  # a ridge of distance maxima, no neck
    assert len(component_instances(bar, CFG)[0]) == 1
    disc = np.zeros((80, 80), np.uint8)
    cv2.circle(disc, (40, 40), 30, 1, -1)
    parts, confs, lines = component_instances(disc.astype(bool), CFG)
    assert len(parts) == 1 and confs == [1.0] and not lines.any()


def test_no_split_option_keeps_components():
    parts, _, _ = component_instances(_two_circles(gap=8), PseudoLabelConfig(("t",), split=False))
    assert len(parts) == 1


def test_image_fragments_void_and_bands_are_ignored():
    label = np.zeros((80, 120), np.int64)
    label[_two_circles(gap=8)] = 1
    label[70:74, 110:114] = 1  # 16 px fragment < min_area
    label[0:5, :] = 9  # void
    insts, ignore = image_pseudo_instances(label, [1], CFG, ignore_index=9)
    assert len(insts) == 2 and all(i.split for i in insts)
    assert ignore[0:5].all() and ignore[70:74, 110:114].all()
    # a band around the outline, the split line, and nothing deep inside an instance
    assert ignore[40, 20] and ignore[40, 56] and not ignore[40, 40]
    assert all(0.05 <= i.confidence <= 1.0 for i in insts)


def test_config_is_checked():
    with pytest.raises(ConfigError, match="no thing classes"):
        PseudoLabelConfig(classes=())
    with pytest.raises(ConfigError, match="neck_ratio"):
        PseudoLabelConfig(classes=("a",), neck_ratio=0)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """Synthetic images with many objects, so that objects of one class often touch."""
    from edgevision.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("crowd") / "ds"
    cfg = SynthConfig(seed=3, image_size=(160, 160), train_images=24, val_images=4,
                      train_videos=0, val_videos=0, min_objects=6, max_objects=10)  # fmt: skip
    generate(out, cfg, progress=False)
    return out


def _recall(truth_json, pseudo_json) -> float:
    """Fraction of true instances matched by a pseudo-instance at mask IoU >= 0.5."""

    def load(path):
        d = json.loads(path.read_text())
        ims = {im["id"]: im for im in d["images"]}
        out: dict[str, list] = {}
        for a in d["annotations"]:
            im = ims[a["image_id"]]
            m = decode_segmentation(a["segmentation"], im["height"], im["width"]).astype(bool)
            out.setdefault(im["file_name"].rsplit(".", 1)[0], []).append(m.ravel())
        return out

    t, p = load(truth_json), load(pseudo_json)
    hit = total = 0
    for k, ts in t.items():
        total += len(ts)
        if k not in p:
            continue
        pm, tm = np.stack(p[k]).astype(np.float32), np.stack(ts).astype(np.float32)
        inter = pm @ tm.T
        iou = inter / (pm.sum(1)[:, None] + tm.sum(1)[None] - inter)
        hit += int((iou.max(0) >= 0.5).sum())
    return hit / total


def test_cli_on_synthetic_set_splitting_recovers_merged_objects(crowded, tmp_path, capsys):
    classes = "circle,rectangle,triangle,star"
    cc, ws = tmp_path / "cc", tmp_path / "ws"
    assert main(["data", "semantic-to-instances", str(crowded), "--out", str(cc),
                 "--classes", classes, "--no-split", "--splits", "train"]) == 0  # fmt: skip
    assert main(["data", "semantic-to-instances", str(crowded), "--out", str(ws),
                 "--classes", classes, "--splits", "train"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "from splits" in out and "wrote" in out
    ann = ws / "annotations" / "instances_train.json"
    data = json.loads(ann.read_text())
    assert all(0 < a["confidence"] <= 1 for a in data["annotations"])
    assert all((ws / im["ignore_file"]).is_file() for im in data["images"])
    # the readers take it as a COCO instance set with masks
    ds = CocoDataset(ann, ws / "images" / "train", masks=True)
    assert len(ds) == 24 and ds.class_names == classes.split(",")
    truth = crowded / "annotations" / "instances_train.json"
    r_cc, r_ws = _recall(truth, cc / "annotations/instances_train.json"), _recall(truth, ann)
    assert r_cc > 0.7 and r_ws > r_cc
    assert "watershed" in (ws / "README.md").read_text()


def test_cli_errors_name_the_class_or_file(crowded, tmp_path, capsys):
    rc = main(["data", "semantic-to-instances", str(crowded), "--out", str(tmp_path / "o"),
               "--classes", "circle,unicorn"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "'unicorn'" in err and "circle" in err
    # a dataset where the requested class never occurs
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(crowded, bare, ignore=shutil.ignore_patterns("videos", "flow"))
    for p in (bare / "labels" / "train").glob("*.png"):
        lab = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        lab[lab == 4] = 0
        cv2.imwrite(str(p), lab)
    for p in (bare / "labels" / "val").glob("*.png"):
        lab = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        lab[lab == 4] = 0
        cv2.imwrite(str(p), lab)
    rc = main(["data", "semantic-to-instances", str(bare), "--out", str(tmp_path / "o2"),
               "--classes", "star"])  # fmt: skip
    assert rc == 2 and "none of the classes star" in capsys.readouterr().err
    # a label id outside the class list names the file
    bad = next((bare / "labels" / "train").glob("*.png"))
    lab = cv2.imread(str(bad), cv2.IMREAD_UNCHANGED)
    lab[0, 0] = 77
    cv2.imwrite(str(bad), lab)
    rc = main(["data", "semantic-to-instances", str(bare), "--out", str(tmp_path / "o3"),
               "--classes", "circle"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and bad.name in err and "77" in err
