"""YOLO (anchor-based, 3-scale) decoding + class-aware NMS in numpy; no torch.

The detection models (``yolov5*``, ``yolo_ret_*``) export one tensor ``predictions`` of
shape ``(N, A, 5 + C)``: per anchor position the **sigmoid** of the raw outputs
``tx, ty, tw, th, objectness, class_0 .. class_{C-1}``. Positions are ordered level by level
(strides 8, 16, 32), then anchor, then row, then column. The box decode is YOLOv5's::

    cx = (2·σ(tx) − 0.5 + gx) · stride        w = (2·σ(tw))² · anchor_w

so the anchors (``spec.model_kwargs["anchors"]``, pixels of the network input) and strides
travel in the model's metadata and this module needs nothing else. Decoding touches only the
candidates above the score threshold, NMS is the vectorised class-aware
:func:`~edgevision.postprocess.nms.batched_nms`, and boxes are mapped back through the
letterbox with :func:`~edgevision.postprocess.letterbox.boxes_to_original`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.postprocess.letterbox import boxes_to_original
from edgevision.postprocess.nms import batched_nms
from edgevision.results import Detections

__all__ = [
    "DEFAULT_ANCHORS",
    "STRIDES",
    "cluster_nms",
    "decode_yolo",
    "grid_and_anchors",
    "yolo_nms_postprocess",
    "yolo_postprocess",
]

STRIDES: tuple[int, int, int] = (8, 16, 32)
"""Strides of the three output levels, in input pixels."""

DEFAULT_ANCHORS: tuple[tuple[float, ...], ...] = (
    (10, 13, 16, 30, 33, 23),
    (30, 61, 62, 45, 59, 119),
    (116, 90, 156, 198, 373, 326),
)
"""YOLOv5's COCO anchors ``(w, h)`` pairs per level in pixels of a 640 input; training
replaces them with anchors fitted to the data (``model_kwargs["anchors"]``)."""


def check_input_size(size: Sequence[int], stride: int = max(STRIDES)) -> tuple[int, int]:
    """``(H, W)`` checked to be positive multiples of ``stride``.

    Raises:
        ValueError: a side is not a multiple of ``stride`` (the grid would not line up).
    """
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise ValueError(
            f"input size {h}x{w} must be positive multiples of the largest stride {stride} "
            f"(e.g. {max(stride, round(h / stride) * stride)}x{max(stride, round(w / stride) * stride)})"
        )
    return h, w


@lru_cache(maxsize=16)
def grid_and_anchors(
    input_size: tuple[int, int],
    anchors: tuple[tuple[float, ...], ...],
    strides: tuple[int, ...] = STRIDES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-position cell offsets, anchor sizes and strides for an input size (cached).

    Returns:
        ``(grid (A, 2) float32 gx, gy; anchor_wh (A, 2) float32 pixels; stride (A, 1)
        float32)`` in the output order (level, anchor, row, column).
    """
    h, w = check_input_size(input_size, max(strides))
    grids, whs, sts = [], [], []
    for lvl, s in enumerate(strides):
        ny, nx = h // s, w // s
        a = np.asarray(anchors[lvl], np.float32).reshape(-1, 2)
        yy, xx = np.meshgrid(
            np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij"
        )
        g = np.stack([xx, yy], -1).reshape(1, -1, 2).repeat(len(a), 0).reshape(-1, 2)
        grids.append(g)
        whs.append(np.repeat(a, ny * nx, axis=0))
        sts.append(np.full((len(g), 1), s, np.float32))
    return np.concatenate(grids), np.concatenate(whs), np.concatenate(sts)


def decode_yolo(
    pred: np.ndarray, grid: np.ndarray, anchor_wh: np.ndarray, stride: np.ndarray
) -> np.ndarray:
    """Sigmoid outputs ``(K, >=4)`` of positions -> ``(K, 4)`` float32 xyxy input pixels."""
    xy = (pred[:, :2] * 2.0 - 0.5 + grid) * stride
    wh = (pred[:, 2:4] * 2.0) ** 2 * anchor_wh
    return np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)


def cluster_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float = 0.45,
    *,
    max_det: int = 0,
    matrix_limit: int = 1024,
) -> np.ndarray:
    """Class-aware greedy NMS computed with matrix operations (Cluster-NMS, Zheng et al. 2021).

    One ``(K, K)`` IoU matrix of the score-sorted boxes (zero across classes and on and
    below the diagonal); then ``keep_j = max_i(keep_i · IoU_ij) <= thr`` is iterated from
    ``keep = 1`` until it stops changing. The fixed point is exactly the greedy NMS result
    (same boxes as :func:`~edgevision.postprocess.nms.batched_nms`), reached in a few
    iterations (the length of the longest suppression chain) instead of one Python step per
    kept box. Above ``matrix_limit`` boxes it falls back to the greedy loop (memory).

    Args:
        boxes: ``(K, 4)`` xyxy.
        scores: ``(K,)``.
        class_ids: ``(K,)`` integer classes.
        iou_threshold: suppress when IoU ``>`` this (0–1).
        max_det: keep at most this many (``0``: all).

    Returns:
        ``(M,)`` int64 indices into ``boxes``, by decreasing score.
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0, np.int64)
    if n > matrix_limit:
        return batched_nms(boxes, scores, class_ids, iou_threshold, max_det=max_det)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    b = np.asarray(boxes, np.float32)[order]
    c = np.asarray(class_ids).reshape(-1)[order]
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    wh = np.clip(
        np.minimum(b[:, None, 2:], b[None, :, 2:]) - np.maximum(b[:, None, :2], b[None, :, :2]),
        0,
        None,
    )
    inter = wh[..., 0] * wh[..., 1]
    # suppression test without division: inter > thr * union
    sup = inter > iou_threshold * (area[:, None] + area[None, :] - inter)
    sup &= c[:, None] == c[None, :]
    sup = np.triu(sup, k=1)
    keep = np.ones(n, bool)
    for _ in range(n):
        new = ~(sup & keep[:, None]).any(0)
        if np.array_equal(new, keep):
            break
        keep = new
    out = order[keep]
    return (out[:max_det] if max_det > 0 else out).astype(np.int64)


def anchors_of(spec: Any) -> tuple[tuple[float, ...], ...]:
    anchors = (getattr(spec, "model_kwargs", None) or {}).get("anchors") or DEFAULT_ANCHORS
    try:
        out = tuple(tuple(float(v) for v in lvl) for lvl in anchors)
    except (TypeError, ValueError):
        raise ModelFileError(f"model metadata: malformed anchors {anchors!r}") from None
    if len(out) != len(STRIDES) or any(len(a) % 2 or not a for a in out):
        raise ModelFileError(
            f"model metadata: anchors must be {len(STRIDES)} lists of (w, h) pairs, got {anchors!r}"
        )
    return out


def yolo_postprocess(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Any],
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_det: int = 300,
    max_candidates: int = 3000,
) -> list[Detections]:
    """Engine outputs of a batch -> one :class:`Detections` per image (original pixels).

    Args:
        outputs: engine outputs; ``outputs[0]`` is ``(N, A, 5 + C)`` float32 sigmoid scores
            (see the module docstring).
        spec: the model's :class:`~edgevision.config.ModelSpec` (classes, anchors).
        transforms: one :class:`~edgevision.preprocess.Transform` per image (letterbox).
        conf_threshold: keep boxes with ``objectness · class score >= conf_threshold``.
        iou_threshold: class-aware NMS IoU threshold (0–1).
        max_det: most boxes per image after NMS.
        max_candidates: most boxes per image entering NMS (highest scores first).

    Returns:
        ``Detections`` with ``boxes (K, 4)`` float32 xyxy in original-image pixels,
        ``scores (K,)`` in 0–1, ``class_ids (K,)`` int64; ordered by decreasing score.

    Raises:
        ModelFileError: the output does not match the spec's classes, anchors or input size.
    """
    pred = np.asarray(outputs[0])
    names = list(spec.class_names)
    if pred.ndim != 3 or pred.shape[2] != 5 + len(names):
        raise ModelFileError(
            f"YOLO output must be (N, A, {5 + len(names)}) for {len(names)} classes, got {pred.shape}"
        )
    if len(transforms) != pred.shape[0]:
        raise ValueError(f"{pred.shape[0]} outputs but {len(transforms)} transforms")
    anchors = anchors_of(spec)
    results: list[Detections] = []
    for p, t in zip(pred, transforms):
        try:
            grid, awh, st = grid_and_anchors(tuple(t.input_size), anchors)
        except ValueError as e:
            raise ModelFileError(str(e)) from None
        if len(grid) != len(p):
            raise ModelFileError(
                f"YOLO output has {len(p)} positions, input {t.input_size} with "
                f"{sum(len(a) // 2 for a in anchors)} anchors gives {len(grid)}"
            )
        idx = np.flatnonzero(p[:, 4] >= conf_threshold)  # obj * cls <= obj: cheap pre-filter
        cand = p[idx]
        cls = cand[:, 5:].argmax(1) if len(cand) else np.zeros(0, np.int64)
        score = cand[:, 4] * cand[np.arange(len(cand)), 5 + cls] if len(cand) else cand[:, 4]
        ok = score >= conf_threshold
        idx, cand, cls, score = idx[ok], cand[ok], cls[ok], score[ok]
        if len(score) > max_candidates:
            top = np.argpartition(-score, max_candidates - 1)[:max_candidates]
            idx, cand, cls, score = idx[top], cand[top], cls[top], score[top]
        boxes = decode_yolo(cand, grid[idx], awh[idx], st[idx])
        keep = cluster_nms(boxes, score, cls, iou_threshold, max_det=max_det)
        boxes = boxes_to_original(boxes[keep], t)
        results.append(Detections(boxes, score[keep], cls[keep], names, tuple(t.orig_size)))
    return results


def yolo_nms_postprocess(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Any],
    *,
    max_det: int = 300,
) -> list[Detections]:
    """Outputs of an in-graph NMS export (:mod:`edgevision.export.yolo`) ->
    one :class:`Detections` per image: gather the selected boxes, sort by score, undo the
    letterbox. Thresholds were fixed at export (``spec.extra["nms"]``).

    Args:
        outputs: ``boxes (N, A, 4)`` xyxy input pixels, ``scores (N, C, A)``,
            ``selected (K, 3)`` int64 ``(image, class, box)``.
        spec: the model spec.
        transforms: one per image.
        max_det: most boxes per image.
    """
    if len(outputs) != 3:
        raise ModelFileError(f"in-graph NMS model must have 3 outputs, got {len(outputs)}")
    boxes, scores, sel = (np.asarray(o) for o in outputs)
    sel = sel.reshape(-1, 3).astype(np.int64)
    names = list(spec.class_names)
    if scores.ndim != 3 or scores.shape[1] != len(names):
        raise ModelFileError(f"scores must be (N, {len(names)}, A), got {scores.shape}")
    out = []
    for i, t in enumerate(transforms):
        rows = sel[sel[:, 0] == i]
        sc = scores[i, rows[:, 1], rows[:, 2]]
        order = np.argsort(-sc, kind="stable")[:max_det]
        rows, sc = rows[order], sc[order]
        b = boxes_to_original(boxes[i, rows[:, 2]], t)
        out.append(Detections(b, sc, rows[:, 1], names, tuple(t.orig_size)))
    return out
