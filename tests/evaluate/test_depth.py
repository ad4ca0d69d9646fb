"""Depth metrics: AbsRel, RMSE, delta < 1.25 by hand; missing truth is left out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgevision.evaluate.depth import DepthMetrics


def test_metrics_by_hand_and_missing_truth_is_masked():
    gt = np.array([[2.0, 4.0, 0.0, np.nan]])
    pred = np.array([[3.0, 4.0, 9.0, 9.0]])  # the last two have no truth
    m = DepthMetrics()
    m.update(pred, gt)
    s = m.summarize()
    assert s["abs_rel"] == pytest.approx((0.5 + 0.0) / 2)
    assert s["rmse"] == pytest.approx(math.sqrt((1.0 + 0.0) / 2))
    assert s["delta1"] == pytest.approx(0.5)  # 3/2 = 1.5 fails, 4/4 passes
    assert s["scale"] == pytest.approx(math.exp((math.log(1.5) + 0.0) / 2))


def test_scale_is_the_geometric_mean_ratio_and_delta_is_on_its_edge():
    rng = np.random.default_rng(0)
    gt = rng.uniform(2.0, 40.0, (32, 32))
    for factor in (0.8, 1.0, 1.3):
        m = DepthMetrics()
        m.update(gt * factor, gt)
        assert m.summarize()["scale"] == pytest.approx(factor)
    # a model 25 % too near: a 1 % change of scale moves delta<1.25 by points
    noisy = gt * 0.75 * np.exp(rng.normal(0.0, 0.1, gt.shape))
    d = []
    for f in (0.99, 1.0):
        m = DepthMetrics()
        m.update(noisy * f, gt)
        d.append(m.summarize()["delta1"])
    assert d[1] - d[0] > 0.02


def test_images_are_averaged_and_empty_truth_is_skipped():
    m = DepthMetrics()
    m.update(np.array([[1.0]]), np.array([[1.0]]))
    m.update(np.array([[2.0]]), np.array([[1.0]]))
    m.update(np.array([[5.0]]), np.array([[0.0]]))  # no truth at all: skipped
    s = m.summarize()
    assert s["abs_rel"] == pytest.approx(0.5) and s["delta1"] == pytest.approx(0.5)
    assert math.isnan(DepthMetrics().summarize()["rmse"])
    with pytest.raises(ValueError, match="differ"):
        m.update(np.zeros((1, 2)), np.zeros((2, 1)))
