"""ConfusionMatrix on hand-computable cases: IoU, ignore index, absent classes, merge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevision.evaluate.miou import ConfusionMatrix


def test_hand_computed_iou():
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 2]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    # class 0: tp 3, fn 1, fp 0 -> 3/4; class 1: tp 3, fn 1 (->2), fp 1 -> 3/5;
    # class 2: tp 0, fp 1 -> 0
    np.testing.assert_allclose(cm.iou(), [3 / 4, 3 / 5, 0.0])
    assert cm.miou() == pytest.approx((0.75 + 0.6 + 0.0) / 3)
    assert cm.pixel_accuracy() == pytest.approx(6 / 8)
    assert cm.matrix.tolist() == [[3, 1, 0], [0, 3, 1], [0, 0, 0]]
    np.testing.assert_allclose(cm.class_accuracy(), [0.75, 0.75, np.nan])


def test_ignore_index_in_target_and_prediction():
    target = np.array([[0, 255, 1], [1, 255, 0]])
    pred = np.array([[0, 1, 1], [255, 0, 0]])  # pred 255 = model abstains
    cm = ConfusionMatrix(2, ignore_index=255)
    cm.update(pred, target)
    assert cm.total == 4  # the two ignored target pixels are not counted
    # class 0: tp 2, fp 0, fn 0 -> 1.0 ; class 1: tp 1, abstained 1 (miss), fp 0 -> 0.5
    np.testing.assert_allclose(cm.iou(), [1.0, 0.5])
    assert cm.pixel_accuracy() == pytest.approx(3 / 4)


def test_absent_class_is_nan_and_skipped_by_miou():
    cm = ConfusionMatrix(4, ignore_index=3)
    cm.update(np.array([[0, 1]]), np.array([[0, 1]]))
    iou = cm.iou()
    assert iou[:2].tolist() == [1.0, 1.0]
    assert np.isnan(iou[2]) and np.isnan(iou[3])
    assert cm.miou() == 1.0
    d = cm.to_dict(["a", "b", "c", "void"])
    assert d["per_class_iou"] == {"a": 1.0, "b": 1.0, "c": None, "void": None}
    json.dumps(d, allow_nan=False)  # JSON-safe


def test_empty_matrix():
    cm = ConfusionMatrix(2)
    assert np.isnan(cm.miou()) and np.isnan(cm.pixel_accuracy())
    assert cm.to_dict()["miou"] is None


def test_accumulates_over_images_and_merge():
    rng = np.random.default_rng(0)
    t = [rng.integers(0, 5, (6, 7)) for _ in range(4)]
    p = [rng.integers(0, 5, (6, 7)) for _ in range(4)]
    whole = ConfusionMatrix(5)
    whole.update(np.stack(p), np.stack(t))
    a, b = ConfusionMatrix(5), ConfusionMatrix(5)
    for i in range(2):
        a.update(p[i], t[i])
    for i in range(2, 4):
        b.update(p[i], t[i])
    assert a.merge(b) is a
    np.testing.assert_array_equal(a.matrix, whole.matrix)
    # reference: per-class IoU by sets of pixels
    tt, pp = np.concatenate([x.ravel() for x in t]), np.concatenate([x.ravel() for x in p])
    ref = [((tt == c) & (pp == c)).sum() / ((tt == c) | (pp == c)).sum() for c in range(5)]
    np.testing.assert_allclose(a.iou(), ref)
    with pytest.raises(ValueError, match="merge"):
        a.merge(ConfusionMatrix(4))
    a.reset()
    assert a.total == 0


def test_errors():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="shape"):
        cm.update(np.zeros((2, 3), int), np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="target has ids \\[7\\]"):
        cm.update(np.zeros((1, 2), int), np.array([[0, 7]]))
    with pytest.raises(ValueError, match="prediction has ids \\[5\\]"):
        cm.update(np.array([[0, 5]]), np.zeros((1, 2), int))
    with pytest.raises(ValueError, match="integer"):
        cm.update(np.zeros((1, 2)), np.zeros((1, 2), int))
    with pytest.raises(ValueError, match="class names"):
        cm.to_dict(["a"])
    with pytest.raises(ValueError):
        ConfusionMatrix(0)
    assert cm.total == 0  # failed updates leave no partial counts


def test_failed_update_adds_nothing():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError):
        cm.update(np.array([[255, 9]]), np.array([[0, 1]]))
    assert cm.total == 0 and cm.unassigned.sum() == 0
