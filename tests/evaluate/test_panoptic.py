"""PQ / SQ / RQ against hand-worked cases (the rules of panopticapi's ``pq_compute``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgevision.evaluate.panoptic import PanopticQuality


def _pq(classes=2, things=(False, True)):
    return PanopticQuality(classes, list(things), ["road", "car"])


def test_perfect_prediction_scores_one():
    gt = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    pq = _pq()
    pq.update(gt, {1: (0, False), 2: (1, False)}, gt * 10, {10: 0, 20: 1})
    s = pq.summarize()
    assert s["pq"] == s["sq"] == s["rq"] == 1.0
    assert s["pq_things"] == s["pq_stuff"] == 1.0


def test_match_fp_and_fn_by_hand():
    # 10 px wide: gt car 2 covers columns 0-5 (6 px), gt car 3 columns 6-9 (4 px)
    gt = np.array([[2] * 6 + [3] * 4])
    # prediction: car 5 on columns 0-4 (IoU 5/6 with car 2), car 6 on columns 5-6
    # (IoU with car 3 = 1/5: no match -> FP; car 3 unmatched -> FN)
    pred = np.array([[5] * 5 + [6] * 2 + [0] * 3])
    pq = _pq()
    pq.update(gt, {2: (1, False), 3: (1, False)}, pred, {5: 1, 6: 1})
    car = pq.summarize()["per_class"]["car"]
    assert (car["tp"], car["fp"], car["fn"]) == (1, 1, 1)
    assert car["sq"] == pytest.approx(5 / 6)
    assert car["rq"] == pytest.approx(1 / (1 + 0.5 + 0.5))
    assert car["pq"] == pytest.approx(5 / 6 / 2)
    s = pq.summarize()
    assert s["pq"] == pytest.approx(car["pq"])  # road never occurs: not averaged
    assert math.isnan(s["pq_stuff"])


def test_void_pixels_leave_the_union_and_mostly_void_predictions_are_not_fp():
    # gt: car 1 on columns 0-3, void (0) on columns 4-9
    gt = np.array([[1] * 4 + [0] * 6])
    # pred car 7 covers columns 0-5: IoU = 4 / (6 + 4 - 4 - 2 void) = 1
    # pred car 8 covers columns 6-9: all on void -> ignored, not a FP
    pred = np.array([[7] * 6 + [8] * 4])
    pq = _pq()
    pq.update(gt, {1: (1, False)}, pred, {7: 1, 8: 1})
    car = pq.summarize()["per_class"]["car"]
    assert (car["tp"], car["fp"], car["fn"]) == (1, 0, 0) and car["sq"] == 1.0


def test_crowd_regions_are_never_fn_and_absorb_predictions():
    gt = np.array([[1] * 5 + [9] * 5])  # 9: a crowd of cars
    pred = np.array([[4] * 5 + [5] * 5])
    pq = _pq()
    pq.update(gt, {1: (1, False), 9: (1, True)}, pred, {4: 1, 5: 1})
    car = pq.summarize()["per_class"]["car"]
    assert (car["tp"], car["fp"], car["fn"]) == (1, 0, 0)


def test_class_mismatch_is_fp_plus_fn():
    gt = np.array([[1, 1, 1, 1]])
    pred = np.array([[3, 3, 3, 3]])
    pq = _pq()
    pq.update(gt, {1: (0, False)}, pred, {3: 1})
    per = pq.summarize()["per_class"]
    assert per["road"]["fn"] == 1 and per["car"]["fp"] == 1
    assert pq.summarize()["pq"] == 0.0


def test_bad_inputs_raise():
    pq = _pq()
    with pytest.raises(ValueError, match="differ"):
        pq.update(np.zeros((2, 2)), {}, np.zeros((3, 2)), {})
    with pytest.raises(ValueError, match="without a segment"):
        pq.update(np.ones((2, 2)), {}, np.zeros((2, 2)), {})
    with pytest.raises(ValueError, match="is_thing"):
        PanopticQuality(3, [True], [])
