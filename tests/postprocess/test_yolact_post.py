"""YOLACT numpy post-processing: priors, box decoding, mask assembly, Fast NMS -> InstanceMasks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.postprocess import get_postprocessor
from edgevision.postprocess.letterbox import boxes_to_input, boxes_to_original
from edgevision.postprocess.yolact import (
    assemble_masks,
    decode_boxes,
    level_sizes,
    make_priors,
    masks_at_original,
    yolact_detect,
    yolact_postprocess,
)
from edgevision.preprocess import Transform
from edgevision.results import Detections, InstanceMasks


def _spec(size=(64, 64)) -> ModelSpec:
    return ModelSpec(
        name="yolact_mobilenetv2_320",
        task="instance",
        class_names=["a", "b"],
        input_size=size,
        postprocess="yolact",
    )


def test_priors_order_and_count():
    assert level_sizes((64, 96)) == [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]
    assert level_sizes((100, 150))[0] == (13, 19)  # stride-2 convs round up
    p = make_priors((64, 96))
    assert p.shape == (3 * (96 + 24 + 6 + 2 + 1), 4)
    # first three priors: cell (0, 0) of P3, aspect ratios 1, 1/2, 2 -> same centre
    assert np.allclose(p[:3, :2], [[0.5 / 12, 0.5 / 8]] * 3)
    w, h = p[:3, 2] * 96, p[:3, 3] * 64  # anchors are in input pixels: 24 px at P3
    assert np.allclose(w / h, [1.0, 0.5, 2.0]) and np.allclose(np.sqrt(w * h), 24.0)
    assert np.allclose(p[3, :2], [1.5 / 12, 0.5 / 8])  # next column


def test_decode_inverts_ssd_encoding():
    pri = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    box = np.array([[0.35, 0.25, 0.65, 0.85]], np.float32)  # cx .5 cy .55 w .3 h .6
    cx, cy = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    bw, bh = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    d = np.stack(
        [
            (cx - pri[:, 0]) / (0.1 * pri[:, 2]),
            (cy - pri[:, 1]) / (0.1 * pri[:, 3]),
            np.log(bw / pri[:, 2]) / 0.2,
            np.log(bh / pri[:, 3]) / 0.2,
        ],
        1,
    )
    assert np.allclose(decode_boxes(d, pri), box, atol=1e-6)


def test_mask_assembly_linear_combination_sigmoid_and_crop():
    protos = np.zeros((8, 8, 2), np.float32)
    protos[..., 0] = 10.0  # prototype 0 everywhere on
    coeffs = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0, 0, 1, 1]], np.float32)
    m = assemble_masks(protos, coeffs, boxes)
    assert m.shape == (8, 8, 2)
    assert np.all(m[:4, :4, 0] > 0.99) and np.all(m[4:, :, 0] == 0) and np.all(m[:, 4:, 0] == 0)
    assert np.all(m[..., 1] < 0.01)


@pytest.mark.parametrize(
    "t",
    [
        Transform((360, 480), (320, 320), (320 / 360, 320 / 480), (0, 0)),  # stretch
        Transform((90, 200), (64, 64), (0.32, 0.32), (18, 0)),  # letterbox, padded rows
        Transform((64, 64), (64, 64), (1.0, 1.0), (0, 0)),  # identity
    ],
)
def test_masks_at_original_match_a_full_resize_cropped_to_the_boxes(t):
    """Computing each detection around its box only gives the masks of the plain method:
    assemble every mask, resize the content region to the original size, threshold, crop."""
    import cv2

    from edgevision.postprocess.letterbox import map_to_original

    rng = np.random.default_rng(1)
    k, (h, w) = 12, (t.input_size[0] // 4, t.input_size[1] // 4)
    protos = np.stack(  # smooth prototypes, so that few pixels sit near the threshold
        [cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.5)
         for _ in range(4)], axis=2)  # fmt: skip
    coeffs = rng.standard_normal((k, 4)).astype(np.float32) * 4
    c0, c1 = rng.uniform(0, 1, (k, 2)), rng.uniform(0, 1, (k, 2))
    bn = np.concatenate([np.minimum(c0, c1), np.maximum(c0, c1)], 1).astype(np.float32)
    bn[0] = [0, 0, 1, 1]  # the whole input
    bn[1] = [0.5, 0.5, 0.5001, 0.5001]  # holds no output pixel centre
    iy, ix = t.input_size
    boxes = boxes_to_original(bn * np.array([ix, iy, ix, iy], np.float32), t)
    oh, ow = t.orig_size

    got = masks_at_original(protos, coeffs, bn, boxes, t, 0.5)
    full = map_to_original(assemble_masks(protos, coeffs, bn), t).transpose(2, 0, 1)
    xs, ys = np.arange(ow) + 0.5, np.arange(oh) + 0.5
    inx = (xs[None] >= boxes[:, 0:1]) & (xs[None] <= boxes[:, 2:3])
    iny = (ys[None] >= boxes[:, 1:2]) & (ys[None] <= boxes[:, 3:4])
    want = (full > 0.5) & iny[:, :, None] & inx[:, None, :]
    assert got.shape == want.shape == (k, oh, ow) and got.dtype == bool
    assert not got[1].any() and want[0].sum() > 0 and want.sum() > 100
    # warpAffine samples on a 1/32-pixel grid: at most a few pixels right at 0.5 may differ
    assert (got != want).sum() <= max(2, want.sum() // 2000), (got != want).sum()
    assert not (got & ~(iny[:, :, None] & inx[:, None, :])).any()  # nothing outside a box


def _outputs(size=(64, 64), k=2):
    pri = make_priors(size)
    n = len(pri)
    loc = np.zeros((1, n, 4), np.float32)
    scores = np.zeros((1, n, 3), np.float32)
    scores[0, :, 0] = 1.0
    coeffs = np.zeros((1, n, k), np.float32)
    protos = np.zeros((1, size[0] // 4, size[1] // 4, k), np.float32)
    protos[0, ..., 0] = 10.0
    return pri, [loc, scores, coeffs, protos]


def test_postprocess_one_object_to_original_pixels():
    pri, outs = _outputs()
    # a P3 prior (8x8 grid, 24 px anchors) at row 3, column 3, aspect ratio 1
    i = 3 * (3 * 8 + 3)
    outs[1][0, i] = [0.1, 0.0, 0.9]
    outs[2][0, i] = [1.0, 0.0]
    # a duplicate, lower-scored box on the same object: removed by Fast NMS
    outs[1][0, i + 1] = [0.2, 0.0, 0.8]
    outs[2][0, i + 1] = [1.0, 0.0]
    outs[0][0, i + 1] = [0.0, 0.0, 0.0, 0.5]
    t = Transform((128, 256), (64, 64), (0.5, 0.25), (0, 0))
    (res,) = yolact_postprocess(outs, _spec(), [t], iou_threshold=0.5)
    assert isinstance(res, InstanceMasks)
    assert len(res) == 1 and res.class_ids[0] == 1 and res.scores[0] == pytest.approx(0.9)
    cx, cy, w, h = pri[i]
    assert np.allclose(
        res.boxes[0],
        [(cx - w / 2) * 256, (cy - h / 2) * 128, (cx + w / 2) * 256, (cy + h / 2) * 128],
        atol=1e-3,
    )
    assert res.masks.shape == (1, 128, 256)
    x1, y1, x2, y2 = res.boxes[0]
    ys, xs = np.nonzero(res.masks[0])
    assert xs.min() >= x1 - 1 and xs.max() <= x2 and ys.min() >= y1 - 1 and ys.max() <= y2
    assert res.masks[0, int(cy * 128), int(cx * 256)]
    # detection-only mode
    (det,) = yolact_postprocess(outs[:2], _spec(), [t], masks=False)
    assert type(det) is Detections and len(det) == 1


def test_postprocess_empty_and_bad_inputs():
    _, outs = _outputs()
    t = Transform((64, 64), (64, 64), (1.0, 1.0), (0, 0))
    (res,) = get_postprocessor("yolact")(outs, _spec(), [t])
    assert isinstance(res, InstanceMasks) and len(res) == 0 and res.masks.shape == (0, 64, 64)
    with pytest.raises(ModelFileError, match="priors"):
        yolact_postprocess(outs, _spec(), [Transform((64, 64), (96, 64), (1.5, 1.0), (0, 0))])
    with pytest.raises(ModelFileError, match="detection-only"):
        yolact_postprocess(outs[:2], _spec(), [t])
    with pytest.raises(ModelFileError):
        yolact_postprocess([outs[0], outs[1][..., :2]], _spec(), [t])


def test_detect_keeps_the_coefficients_of_the_kept_boxes():
    """The re-detection pass (no prototypes): the same boxes, scores and classes as the full
    postprocessing, and the coefficients that make its masks."""
    rng = np.random.default_rng(3)
    _, outs = _outputs(k=3)
    n = outs[0].shape[1]
    outs[0][0] = rng.normal(0, 0.5, (n, 4))
    logits = rng.normal(0, 2, (n, 3))
    outs[1][0] = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    outs[2][0] = rng.uniform(-1, 1, (n, 3))
    outs[3][0] = rng.uniform(0, 2, outs[3].shape[1:])
    t = Transform((48, 80), (64, 64), (0.8, 0.8), (12, 0))
    (full,) = yolact_postprocess(outs, _spec(), [t], conf_threshold=0.3, max_det=20)
    det, coeffs = yolact_detect(outs[:3], _spec(), t, conf_threshold=0.3, max_det=20)
    assert type(det) is Detections and 0 < len(det) == len(full) <= 20
    np.testing.assert_array_equal(det.boxes, full.boxes)
    np.testing.assert_array_equal(det.scores, full.scores)
    np.testing.assert_array_equal(det.class_ids, full.class_ids)
    assert coeffs.shape == (len(det), 3) and coeffs.dtype == np.float32
    iy, ix = t.input_size
    bn = boxes_to_input(det.boxes, t) / np.array([ix, iy, ix, iy], np.float32)
    remade = masks_at_original(outs[3][0], coeffs, bn.clip(0, 1), det.boxes, t)
    assert (remade != full.masks).mean() < 0.01  # box round trip: at most edge pixels move
    with pytest.raises(ModelFileError, match="coeffs"):
        yolact_detect(outs[:2], _spec(), t)


def test_boxes_to_input_inverts_boxes_to_original():
    t = Transform((48, 80), (64, 64), (0.8, 0.8), (12, 0))
    b = np.array([[1.0, 2.0, 30.0, 40.0], [0.0, 0.0, 80.0, 48.0]], np.float32)
    np.testing.assert_allclose(boxes_to_original(boxes_to_input(b, t), t), b, atol=1e-4)
    np.testing.assert_allclose(boxes_to_input(b, t)[1], [0, 12, 64, 50.4], atol=1e-4)


def test_postprocess_imports_without_torch():
    code = "import sys, edgevision.postprocess.yolact; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_top_k_preselection_keeps_what_fast_nms_would_see():
    """Decoding only each class's top_k candidates changes nothing: Fast NMS over them
    keeps the same boxes as over all candidates (ties in score included)."""
    from edgevision.postprocess.nms import fast_nms
    from edgevision.postprocess.yolact import _top_k_per_class

    rng = np.random.default_rng(3)
    n = 3000
    xy = rng.uniform(0, 200, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1).astype(np.float32)
    score = rng.choice(np.linspace(0.05, 1, 40), n).astype(np.float32)  # many ties
    cls = rng.integers(0, 5, n)
    idx = np.flatnonzero(score >= 0.1)
    for top_k in (1, 7, 50, 5000):
        sub = _top_k_per_class(idx, score, cls, top_k)
        assert np.all(np.diff(sub) > 0) and np.isin(sub, idx).all()
        assert np.bincount(cls[sub], minlength=5).max() <= top_k
        full = idx[fast_nms(boxes[idx], score[idx], cls[idx], 0.5, top_k=top_k, max_det=60)]
        pre = sub[fast_nms(boxes[sub], score[sub], cls[sub], 0.5, top_k=top_k, max_det=60)]
        assert np.array_equal(full, pre), top_k
