"""Boxes from semantic labels (connected components, minimum area, merged-blob splitting)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgevision.data.camvid_boxes import BoxDerivation, derive_camvid_boxes, mask_boxes


def test_components_min_area_and_classes():
    lab = np.zeros((40, 60), np.uint8)
    lab[2:12, 3:13] = 8  # 100 px car
    lab[20:22, 20:22] = 8  # 4 px car: dropped
    lab[25:35, 40:45] = 9  # 50 px pedestrian
    boxes, cls = mask_boxes(lab, [8, 9], BoxDerivation(min_area=20))
    order = np.argsort(cls)
    assert boxes[order].tolist() == [[3, 2, 13, 12], [40, 25, 45, 35]]
    assert cls[order].tolist() == [0, 1]
    empty_b, empty_c = mask_boxes(np.zeros((8, 8), np.uint8), [8], BoxDerivation())
    assert empty_b.shape == (0, 4) and empty_c.shape == (0,)


def test_merged_blob_is_split_but_convex_one_is_not():
    lab = np.zeros((60, 80), np.uint8)
    # two 16x16 squares joined by a thin 2-px bridge: obviously two objects
    lab[10:26, 10:26] = 9
    lab[10:26, 50:66] = 9
    lab[17:19, 26:50] = 9
    counts: dict[str, int] = {}
    boxes, _ = mask_boxes(lab, [9], BoxDerivation(min_area=30), counts=counts)
    assert len(boxes) == 2 and counts["split"] == 1
    xs = sorted(b[0] for b in boxes.tolist())
    assert xs[0] == 10 and xs[1] >= 26
    solid = np.zeros((60, 80), np.uint8)
    solid[10:30, 10:50] = 9
    assert len(mask_boxes(solid, [9], BoxDerivation(min_area=30))[0]) == 1


def test_derive_writes_coco_layout(tmp_path):
    root = tmp_path / "cv"
    for split in ("train",):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for k in range(2):
            lab = np.full((36, 48), 3, np.uint8)
            if k == 0:
                lab[5:20, 5:25] = 8
            cv2.imwrite(
                str(root / "images" / split / f"s_{k}.jpg"), np.zeros((36, 48, 3), np.uint8)
            )
            cv2.imwrite(str(root / "labels" / split / f"s_{k}.png"), lab)
    (root / "dataset.yaml").write_text(
        "classes: [Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, "
        "Pedestrian, Bicyclist]\nignore_index: 11\n"
    )
    stats = derive_camvid_boxes(root, tmp_path / "out", splits=["train"])
    assert stats["train"]["images"] == 2 and stats["train"]["empty"] == 1
    assert stats["train"]["per_class"]["Car"] == 1
    coco = json.loads((tmp_path / "out/annotations/instances_train.json").read_text())
    assert [c["name"] for c in coco["categories"]] == [
        "Car",
        "Pedestrian",
        "Bicyclist",
        "SignSymbol",
    ]
    assert coco["annotations"][0]["bbox"] == [5.0, 5.0, 20.0, 15.0]
    assert (tmp_path / "out/images/train/s_0.jpg").exists()
    assert "Known imperfections" in (tmp_path / "out/README.md").read_text()


def _camvid(root, label_shape=(36, 48), images=2):
    """A CamVid-like folder: ``images`` images of 36x48 in train, labels of ``label_shape``."""
    for sub in ("images/train", "labels/train"):
        (root / sub).mkdir(parents=True)
    for k in range(images):
        cv2.imwrite(str(root / f"images/train/s_{k}.png"), np.zeros((36, 48, 3), np.uint8))
        cv2.imwrite(str(root / f"labels/train/s_{k}.png"), np.full(label_shape, 3, np.uint8))
    (root / "dataset.yaml").write_text(
        "classes: [Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, "
        "Pedestrian, Bicyclist]\n"
    )
    return root


def test_label_of_another_size_than_its_image_is_refused_and_nothing_written(tmp_path):
    from edgevision.errors import DataError

    root = _camvid(tmp_path / "cv", label_shape=(18, 24))
    with pytest.raises(DataError, match=r"label is 24x18 but its image is 48x36.*s_0\.png"):
        derive_camvid_boxes(root, tmp_path / "out", splits=["train"])
    assert not (tmp_path / "out").exists()


def test_empty_split_is_refused_and_nothing_written(tmp_path):
    from edgevision.errors import DataError

    root = _camvid(tmp_path / "cv", images=0)
    with pytest.raises(DataError, match="split 'train' of .* has no images"):
        derive_camvid_boxes(root, tmp_path / "out", splits=["train"])
    assert not (tmp_path / "out").exists()


@pytest.mark.data
def test_real_camvid_boxes(camvid_dir, tmp_path):
    from edgevision.cli.main import main

    rc = main(
        [
            "data",
            "camvid-boxes",
            str(camvid_dir),
            "--out",
            str(tmp_path / "o"),
            "--max-images",
            "10",
        ]
    )
    assert rc == 0
    coco = json.loads((tmp_path / "o/annotations/instances_val.json").read_text())
    assert len(coco["images"]) == 10 and len(coco["annotations"]) > 10
    assert all(a["bbox"][2] > 0 and a["bbox"][3] > 0 for a in coco["annotations"])
    assert main(["data", "camvid-boxes", str(tmp_path / "nope"), "--out", str(tmp_path / "p")]) == 2
