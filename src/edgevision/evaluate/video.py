"""Per-frame AP over a YouTube-VIS (2019 format) video set.

Video instance segmentation is scored here frame by frame: every frame of every video
becomes one COCO image, every (instance, frame) where the instance is visible becomes one
COCO annotation, and per-frame :class:`~edgevision.results.InstanceMasks` (or
:class:`~edgevision.results.Detections`) are scored with
:class:`~edgevision.evaluate.coco.CocoEvaluator`. This measures per-frame detection and
mask quality (what a streaming model delivers), not track identity.

Image id mapping (documented contract): videos are taken in the order of the ``videos``
list and frames in order, and image ids count up from 1 —
``image_id = 1 + (frames of all earlier videos) + frame_index``. Use
:meth:`VideoEvaluator.image_id` rather than recomputing it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgevision.errors import DataError
from edgevision.evaluate.coco import CocoEvaluator, load_annotation_json
from edgevision.results import Detections, InstanceMasks

if TYPE_CHECKING:
    from edgevision.evaluate.api import EvalReport

__all__ = [
    "VideoEvaluator",
    "evaluate_video_frames",
    "load_ytvis_json",
    "require_videos",
    "ytvis_to_coco",
]


def load_ytvis_json(gt: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """Read a YouTube-VIS JSON (or deep-copy a dict); see ``load_annotation_json``."""
    return load_annotation_json(gt, "YouTube-VIS", ("videos", "categories"))


def _video_length(v: dict[str, Any], where: str) -> int:
    if "file_names" in v:
        n = len(v["file_names"])
    elif "length" in v:
        n = int(v["length"])
    else:
        raise DataError(f"{where}: video {v.get('id')} has neither file_names nor length")
    return n


def ytvis_to_coco(
    ytvis: str | os.PathLike[str] | dict[str, Any],
) -> tuple[dict[str, Any], dict[tuple[int, int], int]]:
    """Flatten a YouTube-VIS ground truth into a COCO instances dict, one image per frame.

    Per-frame segmentations (uncompressed RLE, compressed RLE or polygons) are passed
    through unchanged; ``None`` marks a frame where the instance is absent (no annotation).
    ``bbox`` and ``area`` come from ``bboxes``/``areas`` when given, else from the mask
    (faster-coco-eval's mask utilities). Boxes-only ground truth (``bboxes`` without
    ``segmentations``) gives annotations without segmentation (``bbox`` evaluation only).

    Args:
        ytvis: path to a ``ytvis_{split}.json`` or its parsed dict (not modified).

    Returns:
        ``(coco, id_map)``: the COCO dict (images carry ``video_id``, ``frame_index`` and
        ``file_name``) and ``{(video_id, frame_index): image_id}``.

    Raises:
        DataError: malformed input (unknown video, per-frame lists of the wrong length).
    """
    where = "YouTube-VIS dict" if isinstance(ytvis, dict) else str(ytvis)
    data = load_ytvis_json(ytvis)
    images: list[dict[str, Any]] = []
    id_map: dict[tuple[int, int], int] = {}
    sizes: dict[int, tuple[int, int, int]] = {}  # video id -> (h, w, length)
    for v in data["videos"]:
        vid = int(v["id"])
        if vid in sizes:
            raise DataError(f"{where}: duplicate video id {vid}")
        n = _video_length(v, where)
        h, w = int(v["height"]), int(v["width"])
        sizes[vid] = (h, w, n)
        names = v.get("file_names") or [""] * n
        for f in range(n):
            image_id = len(images) + 1
            id_map[(vid, f)] = image_id
            images.append(
                {
                    "id": image_id,
                    "height": h,
                    "width": w,
                    "file_name": names[f],
                    "video_id": vid,
                    "frame_index": f,
                }
            )
    annotations: list[dict[str, Any]] = []
    for inst in data["annotations"]:
        vid = int(inst["video_id"])
        if vid not in sizes:
            raise DataError(f"{where}: annotation {inst.get('id')} refers to unknown video {vid}")
        h, w, n = sizes[vid]
        segs = inst.get("segmentations")
        boxes = inst.get("bboxes")
        areas = inst.get("areas")
        per_frame = segs if segs is not None else boxes
        if per_frame is None:
            raise DataError(f"{where}: annotation {inst.get('id')} has no segmentations/bboxes")
        for name, lst in (("segmentations", segs), ("bboxes", boxes), ("areas", areas)):
            if lst is not None and len(lst) != n:
                raise DataError(
                    f"{where}: annotation {inst.get('id')} has {len(lst)} {name} for a "
                    f"{n}-frame video {vid}"
                )
        for f in range(n):
            if per_frame[f] is None:
                continue
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": id_map[(vid, f)],
                "category_id": int(inst["category_id"]),
                "iscrowd": int(inst.get("iscrowd", 0)),
                "instance_id": inst.get("id"),
            }
            if segs is not None:
                ann["segmentation"] = segs[f]
            if boxes is not None and boxes[f] is not None:
                ann["bbox"] = [float(x) for x in boxes[f]]
            if areas is not None and areas[f] is not None:
                ann["area"] = float(areas[f])
            annotations.append(ann)
    coco = {
        "info": {"description": f"per-frame COCO view of {where}"},
        "images": images,
        "annotations": annotations,
        "categories": copy.deepcopy(data["categories"]),
    }
    return coco, id_map


class VideoEvaluator:
    """Per-frame COCO AP over a YouTube-VIS video set.

    Args:
        ytvis_gt: path to ``ytvis_{split}.json`` or its parsed dict.
        iou_types: ``("bbox", "segm")`` (default), ``("segm",)`` or ``("bbox",)``.
        category_ids: COCO (YTVIS) category id of each model class (default ``c + 1``).
        verbose: print the evaluator's AP/AR tables.

    Example:
        >>> ev = VideoEvaluator("annotations/ytvis_val.json")
        >>> ev.add(video_id=1, frame_index=0, result=masks)   # InstanceMasks of that frame
        >>> ev.summarize()["segm"]["AP"]
    """

    def __init__(
        self,
        ytvis_gt: str | os.PathLike[str] | dict[str, Any],
        iou_types: Sequence[str] = ("bbox", "segm"),
        *,
        category_ids: Sequence[int] | None = None,
        verbose: bool = False,
    ) -> None:
        coco, self.id_map = ytvis_to_coco(ytvis_gt)
        self.coco = coco
        self.evaluator = CocoEvaluator(coco, iou_types, category_ids=category_ids, verbose=verbose)
        self.videos: dict[int, int] = {}
        for vid, f in self.id_map:
            self.videos[vid] = max(self.videos.get(vid, 0), f + 1)

    def image_id(self, video_id: int, frame_index: int) -> int:
        """COCO image id of a frame (see the module docstring for the mapping)."""
        key = (int(video_id), int(frame_index))
        if key not in self.id_map:
            if key[0] not in self.videos:
                raise DataError(f"video id {video_id} is not in the ground truth")
            raise DataError(
                f"frame {frame_index} out of range for video {video_id} "
                f"({self.videos[key[0]]} frames)"
            )
        return self.id_map[key]

    def add(self, video_id: int, frame_index: int, result: Detections | InstanceMasks) -> None:
        """Add the prediction for frame ``frame_index`` (0-based) of video ``video_id``."""
        self.evaluator.add(self.image_id(video_id, frame_index), result)

    def summarize(self) -> dict[str, dict[str, Any]]:
        """Per-frame AP/AR over the frames added so far; see :meth:`CocoEvaluator.summarize`."""
        return self.evaluator.summarize()


def require_videos(
    data_dir: str | os.PathLike[str], split: str = "val"
) -> tuple[Any, Any, dict[str, Any]]:
    """``(annotation file, video folder, parsed annotations)`` of a YouTube-VIS split that
    holds at least one video.

    Raises:
        DataError: no such split, or one without videos.
    """
    from edgevision.data.ytvis import ytvis_layout

    ann, vroot = ytvis_layout(data_dir, split)
    gt = load_ytvis_json(ann)
    if not gt.get("videos"):
        raise DataError(f"{ann}: no videos")
    return ann, vroot, gt


def evaluate_video_frames(
    predictor: Any,
    data_dir: str | os.PathLike[str],
    split: str = "val",
    *,
    max_videos: int = 0,
    progress: bool = True,
) -> EvalReport:
    """Per-frame box and mask AP of a detection or instance model over the videos of a
    YouTube-VIS split: every frame is one image, run through ``predictor`` on its own (the
    model's per-frame quality on video, the baseline of ``edgevision video --compare``).

    Args:
        predictor: maps an ``(H, W, 3)`` uint8 RGB frame to
            :class:`~edgevision.results.InstanceMasks` or :class:`Detections`; has ``.spec``.
        data_dir: dataset folder (``annotations/ytvis_{split}.json``, ``videos/{split}/``).
        split: split name.
        max_videos: only the first ``N`` videos (0: all).
        progress: progress on stderr.

    Returns:
        An :class:`~edgevision.evaluate.api.EvalReport` (``num_images``: frames scored;
        ``sequences``: frames per video, keyed ``video<id>``).

    Raises:
        DataError: a missing or malformed video set, a model class the videos do not name.
        EdgeVisionError: the model returns neither boxes nor masks.
    """
    from pathlib import Path

    from edgevision.data.ytvis import YtvisDataset
    from edgevision.errors import EdgeVisionError, require_dir
    from edgevision.evaluate.api import EvalReport, _progress, category_ids_by_name
    from edgevision.tasks import get_task

    root = Path(data_dir)
    require_dir(root, "dataset folder")
    ann, vroot, gt = require_videos(root, split)
    ds = YtvisDataset(ann, vroot)
    n = len(ds) if max_videos <= 0 else min(max_videos, len(ds))
    spec = predictor.spec
    cats = category_ids_by_name(list(spec.class_names), gt.get("categories") or [], str(ann))
    iou_types = get_task(spec.task).coco_types
    if not iou_types:
        raise EdgeVisionError(
            f"per-frame video AP needs a detection or instance model, got a {spec.task} model"
        )
    ev = VideoEvaluator(gt, iou_types, category_ids=cats)
    frames: dict[str, int] = {}
    for i in _progress(range(n), n, f"eval {split} videos", progress):
        sample = ds[i]
        for t in range(len(sample)):
            r = predictor(sample.read_frame(t))
            if not isinstance(r, Detections):
                raise EdgeVisionError(
                    f"per-frame video AP needs a detection or instance model, got "
                    f"{type(r).__name__}"
                )
            ev.add(sample.video_id, t, r)
        frames[f"video{sample.video_id}"] = len(sample)
    return EvalReport(
        task=str(spec.task),
        split=split,
        num_images=sum(frames.values()),
        metrics=ev.summarize(),
        model=str(getattr(spec, "name", "")),
        data_dir=str(root),
        sequences=frames,
    )
