"""Non-maximum suppression in numpy: greedy NMS, class-aware NMS and YOLACT's Fast NMS.

All functions take ``(N, 4)`` xyxy boxes and ``(N,)`` scores and return the ``int64``
indices of the kept boxes into the input arrays, ordered by decreasing score. A box is
suppressed when its IoU with a kept (greedy) or higher-scored (Fast NMS) box is strictly
greater than ``iou_threshold`` (the torchvision convention). Equal scores keep the input
order (stable sort). No torch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batched_nms", "fast_nms", "nms"]


def _check(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(boxes, dtype=np.float32)
    if b.size == 0:
        b = b.reshape(0, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {b.shape}")
    if len(s) != len(b):
        raise ValueError(f"boxes ({len(b)}) and scores ({len(s)}) must have the same length")
    return b, s


def _check_classes(class_ids: np.ndarray, n: int) -> np.ndarray:
    c = np.asarray(class_ids).reshape(-1).astype(np.int64)
    if len(c) != n:
        raise ValueError(f"boxes ({n}) and class_ids ({len(c)}) must have the same length")
    return c


def _offset_by_class(boxes: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """Shift each class's boxes into its own coordinate range so different classes never
    overlap (torchvision's ``batched_nms`` trick). Computed in float64 to keep precision."""
    if len(boxes) == 0:
        return boxes.astype(np.float64)
    b = boxes.astype(np.float64)
    span = float(b.max() - b.min()) + 1.0
    ranks = np.unique(class_ids, return_inverse=True)[1].reshape(-1)  # dense 0..C-1
    return b + (ranks * span)[:, None]


def _greedy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_det: int):
    """Greedy NMS: per kept box, one vectorised IoU test against all remaining boxes.

    The remaining boxes are carried as compacted coordinate arrays (float64), and the test
    ``iou <= thr`` is evaluated as ``inter <= thr * union`` (no division, no nan).
    """
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    idx = order
    keep: list[int] = []
    while idx.size:
        keep.append(int(idx[0]))
        if max_det > 0 and len(keep) >= max_det:
            break
        w = np.minimum(x2[0], x2[1:]) - np.maximum(x1[0], x1[1:])
        h = np.minimum(y2[0], y2[1:]) - np.maximum(y1[0], y1[1:])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        m = inter <= iou_threshold * (area[0] + area[1:] - inter)
        x1, y1, x2, y2 = x1[1:][m], y1[1:][m], x2[1:][m], y2[1:][m]
        area, idx = area[1:][m], idx[1:][m]
    return np.asarray(keep, dtype=np.int64)


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5, *, max_det: int = 0
) -> np.ndarray:
    """Greedy class-agnostic non-maximum suppression.

    Repeatedly keeps the highest-scored remaining box and drops every remaining box whose
    IoU with it is ``> iou_threshold`` (one vectorised IoU row per kept box).

    Args:
        boxes: ``(N, 4)`` xyxy in pixels.
        scores: ``(N,)`` confidences.
        iou_threshold: suppression threshold in 0–1.
        max_det: stop after this many kept boxes (``0``: no limit).

    Returns:
        ``(K,)`` int64 indices into ``boxes``, by decreasing score.
    """
    b, s = _check(boxes, scores)
    return _greedy(b, s, float(iou_threshold), int(max_det))


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float = 0.5,
    *,
    max_det: int = 0,
) -> np.ndarray:
    """Class-aware greedy NMS: boxes of different classes never suppress each other.

    Uses the coordinate-offset trick: each class is shifted to a disjoint region, then a
    single :func:`nms` runs over all boxes.

    Args:
        boxes: ``(N, 4)`` xyxy in pixels.
        scores: ``(N,)`` confidences.
        class_ids: ``(N,)`` integer class ids.
        iou_threshold: suppression threshold in 0–1.
        max_det: keep at most this many boxes over all classes (``0``: no limit).

    Returns:
        ``(K,)`` int64 indices into ``boxes``, by decreasing score.
    """
    b, s = _check(boxes, scores)
    c = _check_classes(class_ids, len(b))
    return _greedy(_offset_by_class(b, c), s, float(iou_threshold), int(max_det))


def fast_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray | None = None,
    iou_threshold: float = 0.5,
    *,
    top_k: int = 200,
    max_det: int = 0,
) -> np.ndarray:
    """YOLACT's Fast NMS (Bolya et al., 2019): one matrix operation instead of a greedy loop.

    Per class, the ``top_k`` highest-scored boxes are sorted by score; a box is kept when
    its largest IoU with any *higher-scored* box of the same class (the upper triangle of
    the IoU matrix) is ``<= iou_threshold``. Unlike greedy NMS, a box may be removed by a
    box that was itself removed, so Fast NMS keeps the same or fewer boxes. Classes are
    batched as one padded ``(C, top_k, top_k)`` IoU array, as in YOLACT.

    Args:
        boxes: ``(N, 4)`` xyxy in pixels.
        scores: ``(N,)`` confidences.
        class_ids: ``(N,)`` integer class ids; ``None``: class-agnostic.
        iou_threshold: suppression threshold in 0–1.
        top_k: candidates per class before suppression (``0``: all).
        max_det: keep at most this many boxes over all classes (``0``: no limit).

    Returns:
        ``(K,)`` int64 indices into ``boxes``, by decreasing score.
    """
    b, s = _check(boxes, scores)
    c = np.zeros(len(b), np.int64) if class_ids is None else _check_classes(class_ids, len(b))
    if len(b) == 0:
        return np.zeros(0, np.int64)
    # score order (stable), then group by class keeping score order inside each class
    order = np.argsort(-s, kind="stable")
    by_class = np.argsort(c[order], kind="stable")  # positions in `order`
    grouped = c[order][by_class]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[starts, len(grouped)])
    cls = np.repeat(np.arange(len(starts)), sizes)  # dense class index 0..C-1
    rank = np.arange(len(grouped)) - np.repeat(starts, sizes)  # rank inside the class
    sel = rank < top_k if top_k > 0 else np.ones(len(rank), bool)
    k = int(rank[sel].max()) + 1
    # one padded (C, K, 4) block per class; padding boxes are all-zero (IoU 0 with anything)
    padded = np.zeros((len(starts), k, 4), np.float32)
    padded[cls[sel], rank[sel]] = b[order[by_class[sel]]]
    iou = np.triu(_batched_iou(padded), k=1)  # iou[c, i, j] with i ranked above j
    ok = np.zeros((len(starts), k), bool)
    ok[cls[sel], rank[sel]] = True
    ok &= iou.max(axis=1) <= iou_threshold
    pos = by_class[sel][ok[cls[sel], rank[sel]]]  # kept, as positions in score order
    keep = order[np.sort(pos)]
    if max_det > 0:
        keep = keep[:max_det]
    return keep.astype(np.int64)


def _batched_iou(boxes: np.ndarray) -> np.ndarray:
    """``(C, K, 4)`` xyxy -> ``(C, K, K)`` float32 IoU within each of the ``C`` groups."""
    b = np.asarray(boxes, np.float32)
    x1, y1, x2, y2 = (b[..., i] for i in range(4))
    # per coordinate (no (C, K, K, 2) temporaries), in place where possible
    iw = np.minimum(x2[:, :, None], x2[:, None, :])
    iw -= np.maximum(x1[:, :, None], x1[:, None, :])
    np.maximum(iw, 0, out=iw)
    ih = np.minimum(y2[:, :, None], y2[:, None, :])
    ih -= np.maximum(y1[:, :, None], y1[:, None, :])
    np.maximum(ih, 0, out=ih)
    inter = np.multiply(iw, ih, out=iw)
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = np.add(area[:, :, None], area[:, None, :], out=ih)
    union -= inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out
