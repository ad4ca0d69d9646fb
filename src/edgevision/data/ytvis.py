"""YouTube-VIS (2019 format) video instance annotations.

JSON: ``videos`` (``id``, ``width``, ``height``, ``file_names`` relative to the video root),
``annotations`` (one per object track: ``video_id``, ``category_id``, per-frame
``segmentations`` / ``bboxes`` / ``areas`` lists with ``null`` where the object is absent) and
``categories``. Each frame's objects become an :class:`~edgevision.results.InstanceMasks`; the
track (annotation) id of each row is returned alongside in :attr:`VideoSample.track_ids`.
Masks are decoded with faster-coco-eval (see :func:`edgevision.data.coco.decode_segmentation`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.coco import (
    annotations_of,
    decode_segmentation,
    entries_by_id,
    load_annotation_file,
    need_field,
)
from edgevision.errors import DataError, require_dir
from edgevision.io import read_image
from edgevision.results import InstanceMasks

__all__ = ["VideoSample", "YtvisDataset", "ytvis_layout"]


@dataclass
class VideoSample:
    """One video with per-frame ground truth.

    Attributes:
        video_id: YouTube-VIS video id.
        frames: frame image paths, in order.
        targets: one :class:`InstanceMasks` per frame (objects present in that frame;
            ``class_ids`` contiguous 0-based, ``masks (N, H, W)`` bool, boxes xyxy pixels).
        track_ids: one ``(N,)`` int64 array per frame: the track (annotation) id of each row
            of ``targets[t]``; the same object has the same id in every frame.
        image_size: ``(H, W)``.
    """

    video_id: int
    frames: list[Path]
    targets: list[InstanceMasks]
    track_ids: list[np.ndarray]
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.frames)

    def read_frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as ``(H, W, 3)`` uint8 RGB."""
        return read_image(self.frames[t])


class YtvisDataset:
    """Videos and per-frame instance tracks from a YouTube-VIS 2019 JSON file.

    Args:
        annotation_file: the JSON file.
        video_root: folder that ``file_names`` entries are relative to.

    Raises:
        DataError: missing/invalid file; missing, mistyped or inconsistent fields (per-frame
            lists whose length differs from the video's ``file_names``); unknown video or
            category ids — naming the file and the field.
    """

    def __init__(
        self, annotation_file: str | os.PathLike[str], video_root: str | os.PathLike[str]
    ) -> None:
        self.annotation_file = Path(annotation_file)
        self.video_root = Path(video_root)
        require_dir(self.video_root, "video folder")
        af = str(self.annotation_file)
        data, self.class_names, self.category_ids = load_annotation_file(self.annotation_file)
        self._cat_index = {cid: k for k, cid in enumerate(self.category_ids)}
        self._videos: list[dict[str, Any]] = []
        index: dict[int, int] = {}
        for w, vid, v in entries_by_id(data, "videos", af):
            names = need_field(v, "file_names", list, w)
            if not names or not all(isinstance(n, str) for n in names):
                raise DataError(f"{w}: field 'file_names' must be a non-empty list of paths")
            index[vid] = len(self._videos)
            self._videos.append(
                {
                    "id": vid,
                    "file_names": names,
                    "height": need_field(v, "height", int, w),
                    "width": need_field(v, "width", int, w),
                }
            )
        self._anns: list[list[dict[str, Any]]] = [[] for _ in self._videos]
        for w, i, a in annotations_of(data, af, "video_id", index, self._cat_index):
            n = len(self._videos[i]["file_names"])
            segs = need_field(a, "segmentations", list, w)
            if len(segs) != n:
                raise DataError(
                    f"{w}: field 'segmentations' has {len(segs)} entries, "
                    f"video {a['video_id']} has {n} frames"
                )
            bbs = a.get("bboxes")
            if bbs is not None and (not isinstance(bbs, list) or len(bbs) != n):
                raise DataError(f"{w}: field 'bboxes' must be a list of {n} entries")
            self._anns[i].append(a)

    @property
    def video_ids(self) -> list[int]:
        return [v["id"] for v in self._videos]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def video_lengths(self) -> list[int]:
        """Frames per video, in dataset order."""
        return [len(v["file_names"]) for v in self._videos]

    @property
    def num_tracks(self) -> int:
        """Object tracks (annotations) over all videos."""
        return sum(map(len, self._anns))

    def __len__(self) -> int:
        return len(self._videos)

    def __iter__(self) -> Iterator[VideoSample]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> VideoSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} videos")
        v = self._videos[i]
        h, w = v["height"], v["width"]
        n = len(v["file_names"])
        per_frame: list[list[tuple[int, int, np.ndarray, list[float] | None]]] = [
            [] for _ in range(n)
        ]
        for a in self._anns[i]:
            bbs = a.get("bboxes") or [None] * n
            for t, seg in enumerate(a["segmentations"]):
                if seg is None:
                    continue
                where = f"{self.annotation_file}: annotation id {a['id']} frame {t}"
                m = decode_segmentation(seg, h, w, where=where)
                bb = bbs[t]
                if bb is not None and (
                    not isinstance(bb, list)
                    or len(bb) != 4
                    or not all(isinstance(x, (int, float)) for x in bb)
                ):
                    raise DataError(f"{where}: field 'bboxes' entry must be [x, y, w, h]")
                per_frame[t].append((a["id"], self._cat_index[a["category_id"]], m, bb))
        targets, tracks = [], []
        for rows in per_frame:
            boxes = np.zeros((len(rows), 4), dtype=np.float32)
            for j, (_, _, m, bb) in enumerate(rows):
                if bb is not None:
                    x, y, bw, bh = (float(q) for q in bb)
                    boxes[j] = (x, y, x + bw, y + bh)
                elif m.any():  # no box given: the mask's extent (pixel-corner coordinates)
                    ys, xs = np.nonzero(m)
                    boxes[j] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            masks = np.stack([r[2] for r in rows]) if rows else np.zeros((0, h, w), dtype=bool)
            targets.append(
                InstanceMasks(
                    boxes,
                    np.ones(len(rows), np.float32),
                    np.array([r[1] for r in rows], dtype=np.int64),
                    self.class_names,
                    (h, w),
                    masks=masks,
                )
            )
            tracks.append(np.array([r[0] for r in rows], dtype=np.int64))
        frames = [self.video_root / f for f in v["file_names"]]
        return VideoSample(v["id"], frames, targets, tracks, (h, w))

    def __repr__(self) -> str:
        return (
            f"YtvisDataset({str(self.annotation_file)!r}: {len(self)} videos, "
            f"{self.num_tracks} tracks, {self.num_classes} classes)"
        )


def ytvis_layout(root: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """``(DIR/annotations/ytvis_{split}.json, DIR/videos/{split})`` of the edgevision layout."""
    from edgevision.errors import require_file

    r = Path(root)
    ann = r / "annotations" / f"ytvis_{split}.json"
    vid = r / "videos" / split
    require_file(ann, f"YouTube-VIS annotations of split {split!r}")
    require_dir(vid, f"video folder of split {split!r}")
    return ann, vid
