"""Panoptic fusion: centres, grouping by offsets, classes by vote, stuff segments."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.postprocess.panoptic import find_centres, fuse_panoptic, panoptic_fusion
from edgevision.preprocess import preprocess


def _two_objects():
    """8x12 map: class 0 stuff, two class-1 objects with exact offsets to their centres."""
    sem = np.zeros((8, 12), dtype=np.int64)
    sem[1:4, 1:5] = 1
    sem[4:7, 7:11] = 1
    heat = np.zeros((8, 12), dtype=np.float32)
    heat[2, 3], heat[5, 9] = 0.9, 0.8
    heat[2, 2] = 0.5  # a shoulder next to the first peak: not a local maximum
    yy, xx = np.mgrid[0:8, 0:12].astype(np.float32)
    cy = np.where(xx < 6, 2.0, 5.0)
    cx = np.where(xx < 6, 3.0, 9.0)
    offset = np.stack([cy - yy, cx - xx])
    return sem, heat, offset


def test_find_centres_keeps_local_maxima_above_threshold_by_score():
    _, heat, _ = _two_objects()
    assert find_centres(heat, threshold=0.1, top_k=10).tolist() == [[2, 3], [5, 9]]
    assert find_centres(heat, threshold=0.85, top_k=10).tolist() == [[2, 3]]
    assert find_centres(heat, threshold=0.1, top_k=1).tolist() == [[2, 3]]


def test_a_plateau_of_tied_maxima_is_one_centre_near_its_middle():
    # INT8 heads tie neighbouring pixels at the peak: one object must keep one centre
    sem, heat, offset = _two_objects()
    heat[2, 3] = heat[2, 4] = heat[3, 4] = 0.9  # an L-shaped plateau
    heat[5, 8] = heat[5, 9] = heat[5, 10] = 0.8  # a row of three
    assert find_centres(heat, threshold=0.1, top_k=10).tolist() == [[2, 4], [5, 9]]
    seg, classes, _ = fuse_panoptic(sem, heat, offset, [1])
    assert classes == [0, 1, 1]
    # two equal maxima that do not touch stay two centres
    heat2 = np.zeros((8, 12), dtype=np.float32)
    heat2[2, 2] = heat2[2, 5] = 0.7
    assert find_centres(heat2, threshold=0.1, top_k=10).tolist() == [[2, 2], [2, 5]]


def test_fusion_makes_one_segment_per_object_and_per_stuff_class():
    sem, heat, offset = _two_objects()
    seg, classes, is_thing = fuse_panoptic(sem, heat, offset, [1])
    assert classes == [0, 1, 1] and is_thing == [False, True, True]
    assert (seg[sem == 0] == 1).all()
    assert set(np.unique(seg[1:4, 1:5])) == {2} and set(np.unique(seg[4:7, 7:11])) == {3}


def test_thing_pixels_without_a_centre_are_void_and_small_segments_dropped():
    sem, heat, offset = _two_objects()
    seg, classes, _ = fuse_panoptic(sem, np.zeros_like(heat), offset, [1])
    assert classes == [0] and (seg[sem == 1] == 0).all()
    seg, classes, _ = fuse_panoptic(sem, heat, offset, [1], min_area=12)
    assert classes == [0]  # both objects have 12 pixels: not more than min_area


def test_panoptic_fusion_returns_masks_at_original_size():
    sem, heat, offset = _two_objects()
    logits = np.stack([(sem == 0), (sem == 1)]).astype(np.float32)[None]
    spec = ModelSpec(
        name="efficientps_mobilenetv2",
        task="panoptic",
        class_names=["road", "car"],
        input_size=(32, 48),
        postprocess="panoptic_fusion",
        model_kwargs={"thing_classes": ["car"]},
    )
    _, transforms = preprocess([np.zeros((16, 24, 3), np.uint8)], spec, (32, 48))
    (pm,) = panoptic_fusion([logits, heat[None, None], offset[None]], spec, transforms)
    assert pm.segment_map.shape == (16, 24) and len(pm) == 3
    assert pm.is_thing.tolist() == [False, True, True]
    assert pm.class_map[4, 4] == 1 and pm.class_map[0, 0] == 0
    bad = ModelSpec(**{**spec.__dict__, "model_kwargs": {"thing_classes": ["bus"]}})
    with pytest.raises(ModelFileError, match="bus"):
        panoptic_fusion([logits, heat[None, None], offset[None]], bad, transforms)
    with pytest.raises(ModelFileError, match="logits, center, offset"):
        panoptic_fusion([logits], spec, transforms)
