"""YoloFolder on tiny generated fixtures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgevision.data.yolo import YoloFolder
from edgevision.errors import DataError


@pytest.fixture
def yolo_dir(tmp_path):
    root = tmp_path / "yolo"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    for n in ("a", "b"):
        cv2.imwrite(str(root / "images/train" / f"{n}.jpg"), np.zeros((40, 100, 3), np.uint8))
    (root / "labels/train/a.txt").write_text("1 0.5 0.5 0.2 0.5\n\n0 0.1 0.25 0.2 0.5\n")
    return root


def test_boxes_in_pixels(yolo_dir):
    ds = YoloFolder(yolo_dir, "train", ["car", "person"])
    assert len(ds) == 2 and ds.names == ["a", "b"]
    t = ds[0].target
    np.testing.assert_allclose(t.boxes, [[40, 10, 60, 30], [0, 0, 20, 20]])
    assert t.class_ids.tolist() == [1, 0] and t.image_size == (40, 100)
    assert t.class_names == ["car", "person"]
    assert len(ds[1].target) == 0  # no label file = no objects


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("1 0.5 0.5 0.2", "expected 5 values"),
        ("1 0.5 0.5 0.2 0.2 0.3 0.4", "polygon/segment labels are not supported"),
        ("2 0.5 0.5 0.2 0.2", r"class id 2 not in \[0, 2\)"),
        ("x 0.5 0.5 0.2 0.2", "not numbers"),
        ("0 0.5 1.5 0.2 0.2", "normalised"),
    ],
)
def test_malformed_line_names_file_and_line(yolo_dir, line, pattern):
    (yolo_dir / "labels/train/b.txt").write_text(f"0 0.5 0.5 0.1 0.1\n{line}\n")
    ds = YoloFolder(yolo_dir, "train", ["car", "person"])
    with pytest.raises(DataError, match=rf"b\.txt:2: .*{pattern}"):
        ds[1]


def test_missing_split(yolo_dir):
    with pytest.raises(DataError, match="split 'val'"):
        YoloFolder(yolo_dir, "val", ["car"])
