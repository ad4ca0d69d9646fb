"""YOLO txt detection labels as :class:`~edgevision.results.Detections` (numpy + OpenCV only).

Layout::

    DIR/images/{split}/NAME.jpg      (any image suffix)
    DIR/labels/{split}/NAME.txt      one object per line: ``cls cx cy w h``, normalised to 0–1

An image without a label file has no objects (the YOLO convention). ``{split}.txt`` with
NAMEs, when present, selects and orders the split as for semantic folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgevision.errors import DataError, require_dir
from edgevision.io import IMAGE_SUFFIXES, read_image
from edgevision.results import Detections

__all__ = ["YoloFolder", "YoloSample", "parse_yolo_labels"]

_TOL = 1e-3


@dataclass
class YoloSample:
    """One image with its boxes.

    Attributes:
        name: sample NAME (file stem).
        image: ``(H, W, 3)`` uint8 RGB.
        target: boxes ``(N, 4)`` float32 xyxy in pixels, ``scores`` 1, ``class_ids`` int64.
    """

    name: str
    image: np.ndarray
    target: Detections


def parse_yolo_labels(
    path: str | os.PathLike[str], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parse a YOLO label file.

    Returns:
        ``(class_ids (N,) int64, boxes (N, 4) float32 normalised cx, cy, w, h)``.

    Raises:
        DataError: ``FILE:LINE`` for a line without exactly 5 numbers, a class id outside
            ``[0, num_classes)``, or coordinates outside 0–1 / non-positive sizes.
    """
    p = Path(path)
    cls: list[int] = []
    boxes: list[list[float]] = []
    for ln, line in enumerate(p.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            kind = " (polygon/segment labels are not supported)" if len(parts) > 5 else ""
            raise DataError(f"{p}:{ln}: expected 5 values 'cls cx cy w h', got {len(parts)}{kind}")
        try:
            c = int(parts[0])
            vals = [float(v) for v in parts[1:]]
        except ValueError:
            raise DataError(f"{p}:{ln}: not numbers: {line.strip()!r}") from None
        if not 0 <= c < num_classes:
            raise DataError(f"{p}:{ln}: class id {c} not in [0, {num_classes})")
        w, h = vals[2], vals[3]
        if not all(-_TOL <= v <= 1 + _TOL for v in vals) or w <= 0 or h <= 0:
            raise DataError(f"{p}:{ln}: box {vals} must be normalised to 0-1 with w, h > 0")
        cls.append(c)
        boxes.append(vals)
    return np.array(cls, dtype=np.int64), np.array(boxes, dtype=np.float32).reshape(-1, 4)


class YoloFolder:
    """Images with YOLO txt labels (see module docstring).

    Args:
        root: dataset folder.
        split: split name.
        class_names: class names, index = YOLO class id.

    Raises:
        DataError: missing root/split folder, a NAME in ``{split}.txt`` without an image.
    """

    def __init__(
        self, root: str | os.PathLike[str], split: str, class_names: Sequence[str]
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.class_names = [str(c) for c in class_names]
        if not self.class_names:
            raise DataError("class_names must not be empty")
        require_dir(self.root, "dataset folder")
        img_dir = self.root / "images" / split
        require_dir(img_dir, f"image folder of split {split!r}")
        self.label_dir = self.root / "labels" / split
        images = {f.stem: f for f in img_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES}
        list_file = self.root / f"{split}.txt"
        if list_file.is_file():
            names = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
            missing = [n for n in names if n not in images]
            if missing:
                raise DataError(
                    f"{list_file} lists {missing[0]!r} but there is no image "
                    f"{img_dir / missing[0]}.*"
                )
        else:
            names = sorted(images)
        self._items = [(n, images[n]) for n in names]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[YoloSample]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> YoloSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        name, img_path = self._items[i]
        image = read_image(img_path)
        h, w = image.shape[:2]
        lab = self.label_dir / f"{name}.txt"
        if lab.is_file():
            cls, nb = parse_yolo_labels(lab, len(self.class_names))
        else:
            cls, nb = np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        cx, cy, bw, bh = nb[:, 0] * w, nb[:, 1] * h, nb[:, 2] * w, nb[:, 3] * h
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        target = Detections(boxes, np.ones(len(cls), np.float32), cls, self.class_names, (h, w))
        return YoloSample(name, image, target)
