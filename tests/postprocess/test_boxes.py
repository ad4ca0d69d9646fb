"""Box geometry: IoU against a per-pair reference, conversions, clipping, rescaling."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.postprocess.boxes import (
    box_area,
    box_iou,
    clip_boxes,
    cxcywh_to_xyxy,
    scale_boxes,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)


def random_boxes(rng: np.random.Generator, n: int, size: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def iou_pair(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_area_and_hand_iou():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 10, 30]], np.float32)
    np.testing.assert_allclose(box_area(a), [100, 100, 0])
    iou = box_iou(a[:1], a)
    assert iou.shape == (1, 3) and iou.dtype == np.float32
    np.testing.assert_allclose(iou[0], [1.0, 25 / 175, 0.0], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_iou_matches_pairwise_reference(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 17), random_boxes(rng, 9)
    ref = np.array([[iou_pair(x, y) for y in b] for x in a])
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-6)


def test_box_iou_empty_and_degenerate():
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    z = np.zeros((2, 4), np.float32)
    assert (box_iou(z, z) == 0).all()  # no nan for empty unions
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        box_iou(np.zeros((2, 3)), z)


def test_conversions_round_trip():
    rng = np.random.default_rng(3)
    b = random_boxes(rng, 10)
    np.testing.assert_allclose(xywh_to_xyxy(xyxy_to_xywh(b)), b, atol=1e-4)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b, atol=1e-4)
    np.testing.assert_allclose(xyxy_to_xywh([[1, 2, 4, 8]]), [[1, 2, 3, 6]])
    np.testing.assert_allclose(xyxy_to_cxcywh([[0, 0, 4, 2]]), [[2, 1, 4, 2]])
    assert xywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
    assert xyxy_to_xywh(b).dtype == np.float32


def test_clip_boxes():
    b = np.array([[-5, -3, 50, 20], [10, 10, 20, 20]], np.float32)
    out = clip_boxes(b, (15, 40))  # H=15, W=40
    np.testing.assert_array_equal(out, [[0, 0, 40, 15], [10, 10, 20, 15]])
    assert b[0, 0] == -5  # input untouched


def test_scale_boxes_stretch_and_letterbox():
    b = np.array([[10, 20, 30, 40]], np.float32)
    # stretch: network 100x200 (HxW) -> image 50x100: both axes halve
    np.testing.assert_allclose(scale_boxes(b, (100, 200), (50, 100)), [[5, 10, 15, 20]])
    # letterbox: image 100x200 into 200x200 input: gain 1, top pad 50
    np.testing.assert_allclose(
        scale_boxes([[10, 60, 30, 80]], (200, 200), (100, 200), mode="letterbox"),
        [[10, 10, 30, 30]],
    )
    # letterbox with explicit (left, top) padding and downscale gain 2
    np.testing.assert_allclose(
        scale_boxes([[10, 10, 20, 20]], (100, 100), (100, 200), mode="letterbox", pad=(0, 0)),
        [[20, 20, 40, 40]],
    )
    out = scale_boxes([[-10, 0, 500, 10]], (100, 100), (100, 100), clip=True)
    np.testing.assert_allclose(out, [[0, 0, 100, 10]])
    with pytest.raises(ValueError, match="mode"):
        scale_boxes(b, (1, 1), (1, 1), mode="nope")  # type: ignore[arg-type]
