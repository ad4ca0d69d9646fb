"""The cost of a tracker's ``update`` per frame, on a synthetic scene of moving boxes.

No model runs: ``objects`` boxes (40–120 px) move at constant velocity with small turns in a
1920×1080 frame and bounce off its edges; every frame each is detected with 1.5 px box noise
and a score in 0.3–0.95 (so ByteTrack's low-score stage has work), 5 % are missed and two
false positives appear. Only :meth:`~edgevision.track.AssociationTracker.update` is timed,
with the frame it needs for its appearance cue (one fixed random 1920×1080 image: the colour
histograms cost the same whatever the pixels).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgevision.results import Detections
from edgevision.track import create_tracker

__all__ = ["bench_tracker", "moving_boxes"]


def moving_boxes(
    objects: int, frames: int, *, seed: int = 0, image_size: tuple[int, int] = (1080, 1920)
) -> list[tuple[Detections, np.ndarray]]:
    """Per frame: detections (``Detections``) and the true object id of each row (``-1``:
    a false positive). Deterministic by ``seed``."""
    rng = np.random.default_rng(seed)
    h, w = image_size
    size = rng.uniform(40, 120, (objects, 2))
    pos = rng.uniform(0, 1, (objects, 2)) * (np.array([w, h]) - size)
    vel = rng.normal(0, 4, (objects, 2))
    out = []
    for _ in range(frames):
        vel = vel @ _rotation(rng.normal(0, 0.03))
        pos += vel
        hi = np.array([w, h]) - size
        bounce = (pos < 0) | (pos > hi)
        vel[bounce] *= -1
        pos = np.clip(pos, 0, hi)
        boxes = np.concatenate([pos, pos + size], 1) + rng.normal(0, 1.5, (objects, 4))
        seen = rng.random(objects) >= 0.05
        fp_xy = rng.uniform(0, 1, (2, 2)) * np.array([w - 80, h - 80])
        fp = np.concatenate([fp_xy, fp_xy + 60], 1)
        all_boxes = np.concatenate([boxes[seen], fp])
        truth = np.concatenate([np.flatnonzero(seen), [-1, -1]])
        scores = np.concatenate([rng.uniform(0.3, 0.95, int(seen.sum())), [0.35, 0.4]])
        dets = Detections(all_boxes, scores, np.zeros(len(truth)), ["object"], (h, w))
        out.append((dets, truth))
    return out


def _rotation(a: float) -> np.ndarray:
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def bench_tracker(
    name: str, *, objects: int = 50, frames: int = 1000, warmup: int = 20, seed: int = 0
) -> dict[str, Any]:
    """Time ``update`` of tracker ``name`` over ``frames`` frames of :func:`moving_boxes`.

    Returns:
        ``{"tracker", "objects", "frames", "ms_per_frame": {"mean", "p50", "p90", "p99",
        "max"}, "cpu_ms_per_frame", "tracks_started"}``: wall-clock percentiles, and the
        mean CPU time of the calling thread (what the tracker costs, without the time it
        waited for a core on a busy machine); ``tracks_started`` close to ``objects`` means
        the ids held. The first ``warmup`` frames are not timed.
    """
    if objects < 1 or frames < 1 or warmup < 0:
        raise ValueError("objects and frames must be >= 1, warmup >= 0")
    scene = moving_boxes(objects, frames + warmup, seed=seed)
    tracker = create_tracker(name)
    image = np.random.default_rng(seed).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    times, cpu = [], []
    for t, (dets, _) in enumerate(scene):
        c0, t0 = time.thread_time(), time.perf_counter()
        tracker.update(dets, t, image=image)
        if t >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
    a = np.asarray(times)
    return {
        "tracker": name,
        "objects": objects,
        "frames": frames,
        "ms_per_frame": {
            "mean": round(float(a.mean()), 4),
            "p50": round(float(np.percentile(a, 50)), 4),
            "p90": round(float(np.percentile(a, 90)), 4),
            "p99": round(float(np.percentile(a, 99)), 4),
            "max": round(float(a.max()), 4),
        },
        "cpu_ms_per_frame": round(float(np.mean(cpu)), 4),
        "tracks_started": tracker.started,
    }
