"""CocoDataset: round trip of the synth output, mask encodings, and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.data.coco import CocoDataset, coco_layout, decode_segmentation
from edgevision.data.semantic import SemanticFolder
from edgevision.data.synth import THING_CLASSES
from edgevision.errors import DataError
from edgevision.results import InstanceMasks, rle_encode


def test_round_trip_against_semantic_labels(synth_dir):
    ann, img_dir = coco_layout(synth_dir, "train")
    coco = CocoDataset(ann, img_dir)
    sem = SemanticFolder(synth_dir, "train")
    assert len(coco) == len(sem) == 6
    assert coco.class_names == list(THING_CLASSES) and coco.category_ids == [1, 2, 3, 4]
    n = 0
    for s, ss in zip(coco, sem):
        assert s.file_name.startswith(ss.name)
        assert np.array_equal(s.image, ss.image)
        t = s.target
        assert isinstance(t, InstanceMasks) and len(t) > 0 and len(s.crowd) == 0
        assert t.image_size == (64, 80)
        # instance masks are disjoint and, painted with their class, give the semantic mask
        assert t.masks.sum(axis=0).max() == 1
        painted = np.zeros((64, 80), np.int64)
        for m, c in zip(t.masks, t.class_ids):
            painted[m] = c + 1
        assert np.array_equal(painted, ss.mask)
        # boxes are the exact mask extents (pixel-corner coordinates)
        for m, box in zip(t.masks, t.boxes):
            ys, xs = np.nonzero(m)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        n += len(t)
    assert n == len(json.loads(ann.read_text())["annotations"])


def test_detections_only(synth_dir):
    coco = CocoDataset(*coco_layout(synth_dir, "val"), masks=False)
    s = coco[0]
    assert not isinstance(s.target, InstanceMasks) and len(s.target) > 0
    assert s.annotation_ids.shape == (len(s.target),)


def _square(h=10, w=12):
    m = np.zeros((h, w), bool)
    m[2:5, 3:7] = True
    return m


def test_three_mask_encodings_agree():
    from faster_coco_eval.core import mask as mask_api

    m = _square()
    poly = [[3, 2, 7, 2, 7, 5, 3, 5]]  # pixel-corner coordinates
    rle = mask_api.encode(np.asfortranarray(m.astype(np.uint8)))
    compressed = {"size": rle["size"], "counts": rle["counts"].decode()}
    for segm in (poly, rle_encode(m), compressed):
        assert np.array_equal(decode_segmentation(segm, 10, 12), m), segm
    assert not decode_segmentation([], 10, 12).any()


def _write(tmp_path: Path, data) -> tuple[Path, Path]:
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    cv2.imwrite(str(img_dir / "a.png"), np.zeros((10, 12, 3), np.uint8))
    ann = tmp_path / "ann.json"
    ann.write_text(data if isinstance(data, str) else json.dumps(data))
    return ann, img_dir


def _valid() -> dict:
    return {
        "images": [{"id": 5, "file_name": "a.png", "height": 10, "width": 12}],
        "annotations": [
            {
                "id": 1,
                "image_id": 5,
                "category_id": 7,
                "bbox": [3, 2, 4, 3],
                "iscrowd": 0,
                "segmentation": [[3, 2, 7, 2, 7, 5, 3, 5]],
            },
            {
                "id": 2,
                "image_id": 5,
                "category_id": 3,
                "bbox": [0, 0, 12, 10],
                "iscrowd": 1,
                "segmentation": rle_encode(np.ones((10, 12), bool)),
            },
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
    }


def test_hand_written_file_with_crowd(tmp_path):
    ds = CocoDataset(*_write(tmp_path, _valid()))
    assert ds.class_names == ["dog", "cat"] and ds.category_ids == [3, 7]
    s = ds[0]
    assert s.image_id == 5 and len(s.target) == 1 and len(s.crowd) == 1
    assert s.target.class_ids.tolist() == [1]
    assert s.target.boxes.tolist() == [[3, 2, 7, 5]]
    assert np.array_equal(s.target.masks[0], _square())
    assert s.crowd_mask.all()


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.pop("categories"), "missing field 'categories'"),
        (lambda d: d["images"][0].pop("file_name"), r"images\[0\]: missing field 'file_name'"),
        (
            lambda d: d["annotations"][0].update(category_id=99),
            "annotation id 1: unknown category id 99 in field 'category_id'",
        ),
        (lambda d: d["annotations"][0].update(image_id=6), "field 'image_id' 6"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2]), "field 'bbox'"),
        (lambda d: d["annotations"][0].pop("segmentation"), "missing field 'segmentation'"),
        (lambda d: d["images"][0].update(height="10"), "field 'height' must be int"),
        (lambda d: d["categories"].append({"id": 3, "name": "x"}), "duplicate category id 3"),
    ],
)
def test_malformed_json_names_file_and_field(tmp_path, mutate, pattern):
    d = _valid()
    mutate(d)
    with pytest.raises(DataError, match=pattern) as e:
        CocoDataset(*_write(tmp_path, d))
    assert "ann.json" in str(e.value)


@pytest.mark.parametrize(
    ("segm", "pattern"),
    [
        ([[1, 2, 3]], "polygon 0"),
        ({"size": [10, 12]}, "needs 'size' and 'counts'"),
        ({"size": [9, 12], "counts": [108]}, r"RLE size \[9, 12\]"),
        ({"size": [10, 12], "counts": [7, 3]}, "cannot be decoded"),
        ("oops", "polygon list or an RLE dict"),
    ],
)
def test_bad_segmentation_names_annotation(tmp_path, segm, pattern):
    d = _valid()
    d["annotations"][0]["segmentation"] = segm
    ds = CocoDataset(*_write(tmp_path, d))
    with pytest.raises(DataError, match=pattern) as e:
        ds[0]
    assert "annotation id 1" in str(e.value) and "ann.json" in str(e.value)


def test_bad_files(tmp_path):
    ann, img_dir = _write(tmp_path, "{not json")
    with pytest.raises(DataError, match=r"invalid JSON.*ann\.json"):
        CocoDataset(ann, img_dir)
    with pytest.raises(DataError, match="annotation file not found"):
        CocoDataset(tmp_path / "missing.json", img_dir)
    with pytest.raises(DataError, match=r"instances_test\.json"):
        coco_layout(tmp_path, "test")


def test_image_size_mismatch_and_missing_image(tmp_path):
    d = _valid()
    d["images"][0]["width"] = 13
    ds = CocoDataset(*_write(tmp_path, d))
    with pytest.raises(DataError, match=r"'width', 'height'.*a\.png"):
        ds[0]
    d["images"][0]["file_name"] = "gone.png"
    ds = CocoDataset(*_write(tmp_path, d))
    with pytest.raises(DataError, match=r"image not found.*gone\.png"):
        ds[0]
