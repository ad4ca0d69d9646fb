"""Numpy YOLO decode + class-aware NMS + letterbox inverse (no torch)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.postprocess import get_postprocessor
from edgevision.postprocess.yolo import (
    DEFAULT_ANCHORS,
    check_input_size,
    grid_and_anchors,
    yolo_postprocess,
)
from edgevision.preprocess import resize_image

ANCHORS = ((8, 8, 16, 16, 24, 24), (32, 32, 48, 48, 64, 64), (96, 96, 128, 128, 160, 160))


def _spec(n=2, size=(64, 64)):
    return ModelSpec(
        name="yolov5n",
        task="detect",
        class_names=[f"c{i}" for i in range(n)],
        input_size=size,
        resize="letterbox",
        postprocess="yolo",
        model_kwargs={"anchors": [list(a) for a in ANCHORS]},
    )


def _place(pred, size, level, anchor, gx, gy, box_xy, box_wh, obj, cls_scores):
    """Write sigmoid outputs that decode to the given centre/size at (level, anchor, gy, gx)."""
    h, w = size
    strides = (8, 16, 32)
    off = 0
    for lvl in range(level):
        off += 3 * (h // strides[lvl]) * (w // strides[lvl])
    s = strides[level]
    ny, nx = h // s, w // s
    idx = off + anchor * ny * nx + gy * nx + gx
    a = np.asarray(ANCHORS[level], np.float32).reshape(-1, 2)[anchor]
    sxy = (np.asarray(box_xy) / s - np.array([gx, gy]) + 0.5) / 2
    swh = np.sqrt(np.asarray(box_wh) / a) / 2
    pred[idx, :2], pred[idx, 2:4], pred[idx, 4] = sxy, swh, obj
    pred[idx, 5:] = cls_scores
    return idx


def test_grid_order_and_counts():
    grid, awh, st = grid_and_anchors((64, 96), ANCHORS)
    assert len(grid) == 3 * (8 * 12 + 4 * 6 + 2 * 3)
    assert tuple(grid[1]) == (1.0, 0.0) and tuple(grid[12]) == (0.0, 1.0)  # x fastest
    assert st[0, 0] == 8 and st[-1, 0] == 32
    assert tuple(awh[0]) == (8.0, 8.0) and tuple(awh[96]) == (16.0, 16.0)


def test_decode_exact_box_identity_transform():
    size = (64, 64)
    spec = _spec(2, size)
    n = len(grid_and_anchors(size, ANCHORS)[0])
    pred = np.zeros((n, 7), np.float32)
    _place(pred, size, 0, 1, 3, 4, (28.0, 36.0), (16.0, 20.0), 0.9, [0.1, 0.8])
    _, t = resize_image(np.zeros((64, 64, 3), np.uint8), size, "letterbox")
    (det,) = yolo_postprocess([pred[None]], spec, [t], conf_threshold=0.25)
    assert len(det) == 1 and det.class_ids[0] == 1
    np.testing.assert_allclose(det.scores, [0.72], atol=1e-5)
    np.testing.assert_allclose(det.boxes[0], [20, 26, 36, 46], atol=1e-3)


def test_letterbox_inverse_maps_to_original_pixels():
    size = (64, 64)
    spec = _spec(1, size)
    n = len(grid_and_anchors(size, ANCHORS)[0])
    pred = np.zeros((n, 6), np.float32)
    # original 100x200 -> scale 0.32, content 32x64 at top 16
    _place(pred, size, 0, 1, 4, 4, (32.0, 32.0), (16.0, 16.0), 0.95, [1.0])
    _, t = resize_image(np.zeros((100, 200, 3), np.uint8), size, "letterbox")
    (det,) = yolo_postprocess([pred[None]], spec, [t])
    assert det.image_size == (100, 200)
    np.testing.assert_allclose(det.boxes[0], [75, 25, 125, 75], atol=0.1)


def test_nms_is_class_aware_and_drops_duplicates():
    size = (64, 64)
    spec = _spec(2, size)
    n = len(grid_and_anchors(size, ANCHORS)[0])
    pred = np.zeros((n, 7), np.float32)
    _place(pred, size, 0, 1, 3, 3, (28.0, 28.0), (16.0, 16.0), 0.9, [1.0, 0.0])
    _place(pred, size, 0, 1, 4, 3, (29.0, 28.0), (16.0, 16.0), 0.8, [1.0, 0.0])  # duplicate
    _place(pred, size, 0, 1, 3, 4, (28.0, 29.0), (16.0, 16.0), 0.7, [0.0, 1.0])  # other class
    _, t = resize_image(np.zeros((64, 64, 3), np.uint8), size, "letterbox")
    (det,) = yolo_postprocess([pred[None]], spec, [t], iou_threshold=0.5)
    assert sorted(det.class_ids.tolist()) == [0, 1]
    np.testing.assert_allclose(sorted(det.scores), [0.7, 0.9], atol=1e-6)
    (none,) = yolo_postprocess([pred[None]], spec, [t], conf_threshold=0.95)
    assert len(none) == 0 and none.boxes.shape == (0, 4)


def test_registered_and_bad_inputs():
    assert get_postprocessor("yolo") is yolo_postprocess
    spec = _spec(2)
    _, t = resize_image(np.zeros((64, 64, 3), np.uint8), (64, 64), "letterbox")
    with pytest.raises(ModelFileError, match=r"\(N, A, 7\)"):
        yolo_postprocess([np.zeros((1, 10, 9), np.float32)], spec, [t])
    with pytest.raises(ModelFileError, match="positions"):
        yolo_postprocess([np.zeros((1, 10, 7), np.float32)], spec, [t])
    with pytest.raises(ValueError, match="multiples of"):
        check_input_size((100, 64))
    _, t2 = resize_image(np.zeros((50, 50, 3), np.uint8), (48, 64), "letterbox")
    with pytest.raises(ModelFileError, match="multiples"):
        yolo_postprocess([np.zeros((1, 10, 7), np.float32)], spec, [t2])
    bad = _spec(2)
    bad.model_kwargs["anchors"] = [[1, 2, 3]]
    with pytest.raises(ModelFileError, match="anchors"):
        yolo_postprocess([np.zeros((1, 10, 7), np.float32)], bad, [t])
    default = _spec(2)
    default.model_kwargs["anchors"] = None
    n = len(grid_and_anchors((64, 64), DEFAULT_ANCHORS)[0])
    assert yolo_postprocess([np.zeros((1, n, 7), np.float32)], default, [t])[0].boxes.shape == (
        0,
        4,
    )


def test_candidate_cap_keeps_the_best():
    size = (64, 64)
    spec = _spec(1, size)
    n = len(grid_and_anchors(size, ANCHORS)[0])
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.3, 0.7, size=(n, 6)).astype(np.float32)
    pred[:, 5] = 1.0
    _, t = resize_image(np.zeros((64, 64, 3), np.uint8), size, "letterbox")
    (a,) = yolo_postprocess(
        [pred[None]], spec, [t], conf_threshold=0.3, max_candidates=5, max_det=5
    )
    assert len(a) <= 5 and a.scores.max() == pytest.approx(pred[:, 4].max(), abs=1e-6)


def test_imports_without_torch():
    code = (
        "import sys; import edgevision.postprocess.yolo; "
        "assert 'torch' not in sys.modules, 'postprocess.yolo imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cluster_nms_equals_greedy_batched_nms():
    from edgevision.postprocess.nms import batched_nms
    from edgevision.postprocess.yolo import cluster_nms

    for seed in range(60):
        r = np.random.default_rng(seed)
        n = int(r.integers(0, 120))
        xy = r.uniform(0, 100, (n, 2))
        b = np.concatenate([xy, xy + r.uniform(1, 50, (n, 2))], 1).astype(np.float32)
        s = r.uniform(0, 1, n).astype(np.float32)
        if seed % 3 == 0:
            s = np.round(s, 1)  # ties keep the input order in both
        c = r.integers(0, 3, n)
        want = batched_nms(b, s, c, 0.5)
        np.testing.assert_array_equal(cluster_nms(b, s, c, 0.5), want)
        np.testing.assert_array_equal(cluster_nms(b, s, c, 0.5, max_det=3), want[:3])
        # the greedy fallback above the matrix limit gives the same
        np.testing.assert_array_equal(cluster_nms(b, s, c, 0.5, matrix_limit=1), want)


def test_in_graph_nms_outputs_are_gathered_and_mapped_back():
    from edgevision.postprocess.yolo import yolo_nms_postprocess

    spec = _spec(2)
    _, t = resize_image(np.zeros((32, 64, 3), np.uint8), (64, 64), "letterbox")  # pad 16 top
    boxes = np.zeros((1, 5, 4), np.float32)
    boxes[0, 1] = [0, 16, 32, 32]
    boxes[0, 3] = [32, 16, 64, 48]
    scores = np.zeros((1, 2, 5), np.float32)
    scores[0, 0, 1], scores[0, 1, 3] = 0.5, 0.9
    sel = np.array([[0, 0, 1], [0, 1, 3]], np.int64)
    (det,) = yolo_nms_postprocess([boxes, scores, sel], spec, [t])
    assert det.class_ids.tolist() == [1, 0] and det.scores.tolist() == pytest.approx([0.9, 0.5])
    np.testing.assert_allclose(det.boxes, [[32, 0, 64, 32], [0, 0, 32, 16]], atol=1e-4)
    with pytest.raises(ModelFileError, match="3 outputs"):
        yolo_nms_postprocess([boxes], spec, [t])
    assert get_postprocessor("yolo_nms") is yolo_nms_postprocess
