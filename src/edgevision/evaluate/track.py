"""Tracking metrics (MOTA, IDF1, ID switches) over YouTube-VIS videos, with ``motmetrics``.

Each video runs through a fresh tracker (:mod:`edgevision.track`); per frame, ground-truth
objects (their YTVIS annotation ids are the true identities) and tracked hypotheses (their
``track_ids``) are matched by box IoU >= ``iou`` (class-agnostic, as in MOTChallenge), and
``motmetrics`` accumulates the CLEAR-MOT and identity metrics. Videos written by
``edgevision data synth`` with a ``motion_range`` carry their motion factor (``motion`` in the
JSON); metrics are then also given per motion factor. The distance matrix is computed here
(``motmetrics.distances.iou_matrix`` calls ``np.asfarray``, gone in NumPy 2).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.ytvis import YtvisDataset, ytvis_layout
from edgevision.errors import DataError, EdgeVisionError, require_dir
from edgevision.evaluate.api import EvalReport, PredictorLike, _progress
from edgevision.evaluate.video import load_ytvis_json
from edgevision.postprocess.boxes import box_iou
from edgevision.results import Detections
from edgevision.track import create_tracker

__all__ = ["MOT_METRICS", "evaluate_tracking", "mot_distances"]

MOT_METRICS = (
    "mota",
    "idf1",
    "num_switches",
    "num_frames",
    "num_objects",
    "num_false_positives",
    "num_misses",
    "num_unique_objects",
    "mostly_tracked",
)
"""``motmetrics`` metrics reported (counts are ints, the rest 0–1 with MOTA <= 1)."""


def mot_distances(gt_boxes: np.ndarray, hyp_boxes: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """``(G, H)`` motmetrics distances ``1 - IoU`` of ``xyxy`` boxes, ``nan`` below ``iou``."""
    d = 1.0 - box_iou(gt_boxes, hyp_boxes).astype(np.float64)
    d[d > 1.0 - iou] = np.nan
    return d


def _metrics(accs: list[Any], names: list[str]) -> dict[str, dict[str, float | int]]:
    import motmetrics as mm

    df = mm.metrics.create().compute_many(
        accs, metrics=list(MOT_METRICS), names=names, generate_overall=True
    )
    out: dict[str, dict[str, float | int]] = {}
    for name, row in df.iterrows():
        m: dict[str, float | int] = {
            k: (int(row[k]) if k.startswith(("num_", "mostly")) else float(row[k]))
            for k in MOT_METRICS
        }
        m["switches_per_100_frames"] = 100.0 * m["num_switches"] / max(int(m["num_frames"]), 1)
        out[str(name)] = m
    return out


def evaluate_tracking(
    predictor: PredictorLike,
    data_dir: str | os.PathLike[str],
    split: str = "val",
    *,
    tracker: str = "bytetrack",
    tracker_options: Mapping[str, Any] | None = None,
    iou: float = 0.5,
    max_videos: int = 0,
    progress: bool = True,
) -> EvalReport:
    """Run ``predictor`` and a tracker over every video of a YouTube-VIS split; score ids.

    Args:
        predictor: maps an ``(H, W, 3)`` uint8 RGB frame to :class:`Detections` (or
            :class:`~edgevision.results.InstanceMasks`); has ``.spec``.
        data_dir: dataset folder (``annotations/ytvis_{split}.json``, ``videos/{split}/``;
            e.g. from ``edgevision data synth``).
        split: split name.
        tracker: tracker name (:func:`edgevision.track.list_trackers`).
        tracker_options: :class:`~edgevision.track.TrackerConfig` fields to change.
        iou: least box IoU for a hypothesis to count as a ground-truth object.
        max_videos: only the first ``N`` videos (0: all).
        progress: a progress bar on stderr.

    Returns:
        An :class:`EvalReport` whose ``metrics["tracking"]`` holds ``overall`` and
        ``per_video`` metrics (:data:`MOT_METRICS` plus ``switches_per_100_frames``),
        ``by_motion`` (when the videos carry a motion factor), ``tracker_ms`` (mean and max
        cost of ``update`` per frame) and the settings.

    Raises:
        DataError: a missing or malformed video set.
        EdgeVisionError: the model does not return boxes.
    """
    import motmetrics as mm

    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    root = Path(data_dir)
    require_dir(root, "dataset folder")
    opts = dict(tracker_options or {})
    create_tracker(tracker, **opts)  # an unknown name or option fails before any video is read
    ann, vroot = ytvis_layout(root, split)
    ds = YtvisDataset(ann, vroot)
    motion = {v["id"]: v.get("motion") for v in load_ytvis_json(ann)["videos"]}
    n = len(ds) if max_videos <= 0 else min(max_videos, len(ds))
    if n == 0:
        raise DataError(f"{ann}: no videos")
    accs, names, costs = [], [], []
    frames = 0
    for i in _progress(range(n), n, "tracking", progress):
        sample = ds[i]
        trk = create_tracker(tracker, **opts)
        acc = mm.MOTAccumulator(auto_id=True)
        for t in range(len(sample)):
            frame = sample.read_frame(t)
            r = predictor(frame)
            if not isinstance(r, Detections):
                raise EdgeVisionError(
                    f"tracking needs a detection or instance model, got {type(r).__name__}"
                )
            t0 = time.perf_counter()
            out = trk.update(r, t, image=frame)
            costs.append((time.perf_counter() - t0) * 1e3)
            gt = sample.targets[t]
            ids = out.track_ids if out.track_ids is not None else np.zeros(0, np.int64)
            acc.update(
                sample.track_ids[t].tolist(),
                ids.tolist(),
                mot_distances(gt.boxes, out.boxes, iou),
            )
        frames += len(sample)
        accs.append(acc)
        names.append(str(sample.video_id))
    per = _metrics(accs, names)
    result: dict[str, Any] = {
        "tracker": tracker,
        "tracker_options": opts,
        "iou": iou,
        "overall": per.pop("OVERALL"),
        "per_video": per,
        "tracker_ms": {
            "mean": round(float(np.mean(costs)), 4),
            "max": round(float(np.max(costs)), 4),
        },
    }
    levels = sorted({m for m in (motion.get(int(v)) for v in names) if m is not None})
    if levels:
        result["by_motion"] = {}
        for m in levels:
            sel = [k for k, v in enumerate(names) if motion.get(int(v)) == m]
            result["by_motion"][str(m)] = _metrics([accs[k] for k in sel], [names[k] for k in sel])[
                "OVERALL"
            ]
    spec = predictor.spec
    return EvalReport(
        task=str(spec.task),
        split=split,
        num_images=frames,
        metrics={"tracking": result},
        model=str(getattr(spec, "name", "")),
        data_dir=str(root),
    )
