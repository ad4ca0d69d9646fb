"""NMS variants against brute-force per-pair references on random boxes (several seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.postprocess.nms import batched_nms, fast_nms, nms


def iou_pair(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_nms(boxes, scores, classes, thr, max_det=0):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if all(classes[i] != classes[k] or iou_pair(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep[:max_det] if max_det else keep


def ref_fast_nms(boxes, scores, classes, thr, top_k):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    if top_k:
        seen: dict[int, int] = {}
        cand = []
        for i in order:
            seen[classes[i]] = seen.get(classes[i], 0) + 1
            if seen[classes[i]] <= top_k:
                cand.append(i)
        order = cand
    keep = []
    for pos, j in enumerate(order):
        higher = [i for i in order[:pos] if classes[i] == classes[j]]
        if all(iou_pair(boxes[i], boxes[j]) <= thr for i in higher):
            keep.append(j)
    return keep


def clustered_boxes(seed: int, n: int = 120):
    """Boxes around a few centres, so that many overlap (NMS has work to do)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(20, 180, (6, 2))
    c = centres[rng.integers(0, 6, n)] + rng.normal(0, 6, (n, 2))
    wh = rng.uniform(15, 40, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(np.float32)
    scores = rng.random(n).astype(np.float32)
    classes = rng.integers(0, 3, n)
    return boxes, scores, classes


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_reference(seed, thr):
    boxes, scores, _ = clustered_boxes(seed)
    keep = nms(boxes, scores, thr)
    assert keep.dtype == np.int64
    assert keep.tolist() == ref_nms(boxes, scores, [0] * len(boxes), thr)
    assert 0 < len(keep) < len(boxes)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_batched_nms_matches_reference(seed):
    boxes, scores, classes = clustered_boxes(seed)
    keep = batched_nms(boxes, scores, classes, 0.5)
    assert keep.tolist() == ref_nms(boxes, scores, classes.tolist(), 0.5)
    # class-aware keeps at least as many as class-agnostic
    assert len(keep) >= len(nms(boxes, scores, 0.5))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("top_k", [0, 10])
def test_fast_nms_matches_reference(seed, top_k):
    boxes, scores, classes = clustered_boxes(seed)
    keep = fast_nms(boxes, scores, classes, 0.5, top_k=top_k)
    assert keep.tolist() == ref_fast_nms(boxes, scores, classes.tolist(), 0.5, top_k)
    # Fast NMS never keeps a box that greedy NMS removes... it removes the same or more
    assert set(keep.tolist()) <= set(batched_nms(boxes, scores, classes, 0.5).tolist())
    agnostic = fast_nms(boxes, scores, None, 0.5, top_k=top_k)
    assert agnostic.tolist() == ref_fast_nms(boxes, scores, [0] * len(boxes), 0.5, top_k)


def test_max_det_and_order():
    boxes, scores, classes = clustered_boxes(7)
    full = batched_nms(boxes, scores, classes, 0.5)
    assert batched_nms(boxes, scores, classes, 0.5, max_det=3).tolist() == full[:3].tolist()
    assert nms(boxes, scores, 0.5, max_det=2).tolist() == nms(boxes, scores, 0.5)[:2].tolist()
    assert len(fast_nms(boxes, scores, classes, 0.5, max_det=4)) == 4
    assert np.all(np.diff(scores[full]) <= 0)  # by decreasing score


def test_hand_case_and_threshold_is_strict():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    # IoU(box0, box1) = 0.5 exactly: suppressed only when IoU > threshold
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.49).tolist() == [0, 2]
    assert batched_nms(boxes, scores, [0, 1, 0], 0.1).tolist() == [0, 1, 2]
    # greedy vs fast: box 2 is suppressed by box 1 that was itself suppressed (fast only)
    chain = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]], np.float32)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(chain, s, 0.2).tolist() == [0, 2]
    assert fast_nms(chain, s, None, 0.2).tolist() == [0]


def test_empty_and_bad_input():
    for fn in (
        lambda b, s: nms(b, s, 0.5),
        lambda b, s: fast_nms(b, s, None, 0.5),
        lambda b, s: batched_nms(b, s, np.zeros(0), 0.5),
    ):
        out = fn(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        assert out.shape == (0,) and out.dtype == np.int64
    with pytest.raises(ValueError, match="same length"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="class_ids"):
        batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3), 0.5)
