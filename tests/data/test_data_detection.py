"""load_detection_split: COCO folders, YOLO-txt folders and dataset YAMLs give the same boxes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgevision.data.detection import (
    detection_format,
    load_detection_split,
    read_dataset_yaml_file,
    yolo_label_path,
)
from edgevision.errors import DataError


@pytest.fixture(scope="module")
def yolo_dir(synth_dir, coco_to_yolo, tmp_path_factory) -> Path:
    return coco_to_yolo(synth_dir, tmp_path_factory.mktemp("yolo") / "ds")


def _boxes(split) -> dict[str, list[tuple[int, list[float]]]]:
    """``{image stem: [(category name, bbox), ...]}`` of a split, non-crowd, sorted."""
    names = {c["id"]: c["name"] for c in split.gt["categories"]}
    stems = {im["id"]: Path(im["file_name"]).stem for im in split.gt["images"]}
    out: dict[str, list] = {s: [] for s in stems.values()}
    for a in split.gt["annotations"]:
        if not a.get("iscrowd"):
            out[stems[a["image_id"]]].append((names[a["category_id"]], list(a["bbox"])))
    return {k: sorted(v) for k, v in out.items()}


def _assert_same_boxes(a, b) -> None:
    ba, bb = _boxes(a), _boxes(b)
    assert ba.keys() == bb.keys() and sum(map(len, ba.values())) > 0
    for stem in ba:
        assert [n for n, _ in ba[stem]] == [n for n, _ in bb[stem]], stem
        np.testing.assert_allclose(
            [b for _, b in ba[stem]], [b for _, b in bb[stem]], atol=0.01, err_msg=stem
        )


def test_yolo_folder_equals_its_coco_source(synth_dir, yolo_dir):
    coco = load_detection_split(synth_dir, "train")
    yolo = load_detection_split(yolo_dir, "train")
    assert (coco.format, yolo.format) == ("coco", "yolo")
    assert yolo.class_names == coco.class_names
    _assert_same_boxes(coco, yolo)
    # every file_name is found from image_dir, and sizes come from the image headers
    im = yolo.gt["images"][0]
    assert yolo.image_path(im).is_file() and (im["height"], im["width"]) == (64, 80)


def test_dataset_yaml_mixes_coco_files_anywhere_and_yolo_lists(synth_dir, yolo_dir, tmp_path):
    # COCO annotations outside any layout, YOLO images from a .txt list, Ultralytics names
    ann = tmp_path / "elsewhere" / "val_boxes.json"
    ann.parent.mkdir()
    shutil.copy(synth_dir / "annotations" / "instances_val.json", ann)
    lst = tmp_path / "train_list.txt"
    images = sorted((yolo_dir / "images" / "train").iterdir())
    lst.write_text("".join(f"{p}\n" for p in images))
    names = load_detection_split(synth_dir, "val").class_names
    cfg = tmp_path / "sets" / "street.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        yaml.safe_dump(
            {
                "path": "..",  # relative to the YAML's folder
                "train": "train_list.txt",
                "val": {
                    "annotations": "elsewhere/val_boxes.json",
                    "images": str(synth_dir / "images/val"),
                },
                "names": dict(enumerate(names)),
                "nc": len(names),
                "download": "https://example.invalid/never-fetched.zip",
            }
        )
    )
    train = load_detection_split(cfg, "train")
    val = load_detection_split(cfg, "val")
    assert (train.format, val.format) == ("yolo", "coco")
    assert train.class_names == val.class_names == names
    _assert_same_boxes(train, load_detection_split(synth_dir, "train"))
    _assert_same_boxes(val, load_detection_split(synth_dir, "val"))
    spec = read_dataset_yaml_file(cfg)
    assert spec.root == cfg.parent / ".." and set(spec.splits) == {"train", "val"}


def test_yaml_of_image_folders_and_sequence_selectors(yolo_dir, tmp_path):
    cfg = tmp_path / "data.yaml"
    cfg.write_text(
        f"path: {yolo_dir}\ntrain: [images/train]\nval: images/val\nnames: [a, b, c, d]\n"
    )
    full = load_detection_split(cfg, "train")
    stems = [Path(im["file_name"]).stem for im in full.gt["images"]]
    seq = stems[0].split("_")[0]
    only = load_detection_split(cfg, f"train:{seq}")
    assert 0 < len(only.gt["images"]) <= len(stems)
    assert all(Path(im["file_name"]).stem.startswith(seq) for im in only.gt["images"])
    kept = {im["id"] for im in only.gt["images"]}
    assert all(a["image_id"] in kept for a in only.gt["annotations"])


def test_formats_of_folders(synth_dir, yolo_dir, tmp_path):
    assert detection_format(synth_dir, "train") == "coco"
    assert detection_format(yolo_dir, "val") == "yolo"
    sem = tmp_path / "sem"
    (sem / "images/train").mkdir(parents=True)
    (sem / "labels/train").mkdir(parents=True)
    (sem / "labels/train/a.png").write_bytes(b"")
    assert detection_format(sem, "train") is None  # PNG masks are not YOLO labels
    with pytest.raises(DataError, match=r"split 'train' not found in .*no COCO annotations"):
        load_detection_split(sem, "train")


def test_yolo_label_path_is_the_ultralytics_rule():
    p = Path("/d/images/train/images/x.jpg")
    assert yolo_label_path(p) == Path("/d/images/train/labels/x.txt")
    with pytest.raises(DataError, match="no 'images' folder"):
        yolo_label_path(Path("/d/pics/x.jpg"))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("train: images/train\n", "YOLO splits need class names"),
        ("train: images/train\nnames: {0: a, 2: b}\n", r"ids must be 0\.\.1"),
        ("train: images/train\nnames: [a, b]\nnc: 3\n", "nc 3 != 2 names"),
        ("names: [a]\n", "no split"),
        ("train: nowhere/\nnames: [a]\n", "no image folder or .txt image list"),
        ("path: missing\ntrain: x\nnames: [a]\n", "field 'path' not found"),
        ("train: [images/train\n", "invalid YAML"),
        ("val: {images: images/val}\nnames: [a]\n", "exactly 'annotations' and 'images'"),
    ],
)
def test_bad_yaml_is_one_clear_error(yolo_dir, tmp_path, text, pattern):
    cfg = tmp_path / "d.yaml"
    cfg.write_text(f"path: {yolo_dir}\n{text}" if not text.startswith("path") else text)
    with pytest.raises(DataError, match=pattern):
        load_detection_split(cfg, "val" if text.startswith("val") else "train")


def test_unknown_split_lists_the_splits(yolo_dir, tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text(f"path: {yolo_dir}\ntrain: images/train\nval: images/val\nnames: [a, b, c, d]\n")
    with pytest.raises(DataError, match=r"no split 'test' \(splits: train, val\)"):
        load_detection_split(cfg, "test")


def test_coco_categories_must_match_the_yaml_names(synth_dir, tmp_path):
    cfg = tmp_path / "d.yaml"
    val = {"annotations": "annotations/instances_val.json", "images": "images/val"}
    cfg.write_text(yaml.safe_dump({"path": str(synth_dir), "val": val, "names": ["x", "y"]}))
    with pytest.raises(DataError, match=r"categories .* differ from the names \['x', 'y'\]"):
        load_detection_split(cfg, "val")


def test_yolo_folder_needs_names_and_valid_labels(yolo_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(yolo_dir, bad)
    (bad / "data.yaml").unlink()
    with pytest.raises(DataError, match="no class names for the YOLO folder"):
        load_detection_split(bad, "train")
    (bad / "data.yaml").write_text("names: [a, b, c, d]\n")
    txt = sorted((bad / "labels/train").glob("*.txt"))[0]
    txt.write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DataError, match=rf"{txt.name}:1: class id 7 not in \[0, 4\)"):
        load_detection_split(bad, "train")


def test_coco_folder_is_read_as_before(synth_dir):
    det = load_detection_split(synth_dir, "val")
    raw = json.loads((synth_dir / "annotations/instances_val.json").read_text())
    assert det.gt["images"] == raw["images"] and det.gt["annotations"] == raw["annotations"]
    assert det.image_dir == synth_dir / "images/val"
