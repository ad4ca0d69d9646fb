"""Depth + segmentation postprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.postprocess.depthseg import depthseg
from edgevision.preprocess import preprocess


def test_depthseg_upsamples_depth_and_labels():
    spec = ModelSpec(
        name="fastdepthseg_mobilenetv2",
        task="depthseg",
        class_names=["a", "b"],
        input_size=(8, 8),
        postprocess="depthseg",
        model_kwargs={"max_depth": 20.0},
    )
    logits = np.zeros((1, 2, 4, 4), np.float32)
    logits[0, 1, :, 2:] = 1.0
    depth = np.full((1, 1, 4, 4), 3.0, np.float32)
    depth[0, 0, :, 2:] = 7.0
    _, transforms = preprocess([np.zeros((16, 16, 3), np.uint8)], spec, (8, 8))
    (r,) = depthseg([logits, depth], spec, transforms)
    assert r.class_map.shape == r.depth.shape == (16, 16)
    assert r.class_map[0, 0] == 0 and r.class_map[0, 15] == 1
    assert r.depth[0, 0] == pytest.approx(3.0) and r.depth[0, 15] == pytest.approx(7.0)
    assert r.depth_range == (0.0, 20.0)
    with pytest.raises(ModelFileError, match="logits, depth"):
        depthseg([logits], spec, transforms)
    with pytest.raises(ModelFileError, match="depth output"):
        depthseg([logits, depth[:, 0]], spec, transforms)
