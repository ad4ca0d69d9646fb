from __future__ import annotations

import numpy as np

from edgevision.config import ModelSpec
from edgevision.postprocess import get_postprocessor, postprocess
from edgevision.preprocess import Transform


def test_semantic_argmax_resizes_logits_to_original():
    spec = ModelSpec(
        name="m",
        task="semantic",
        class_names=["a", "b", "c"],
        input_size=(8, 8),
        postprocess="semantic_argmax",
    )
    logits = np.zeros((1, 3, 8, 8), np.float32)
    logits[0, 2, :, 4:] = 5.0  # right half is class 2
    logits[0, 1, :, :4] = 5.0  # left half class 1
    t = Transform((16, 32), (8, 8), (0.5, 0.25), (0, 0))
    for mode in ("labels", "logits"):
        (res,) = postprocess([logits], spec, [t], upsample=mode, with_confidence=True)
        assert res.class_map.shape == (16, 32)
        assert (res.class_map[:, :14] == 1).all() and (res.class_map[:, 18:] == 2).all()
        assert res.confidence is not None and res.confidence.shape == (16, 32)
        assert res.confidence.min() > 0.3 and res.confidence.max() <= 1.0
        assert res.class_names == ["a", "b", "c"]


def test_native_resolution_output_maps_through_letterbox():
    spec = ModelSpec(
        name="m",
        task="semantic",
        class_names=["a", "b"],
        input_size=(64, 64),
        resize="letterbox",
        postprocess="semantic_argmax",
    )
    # 1/4-resolution logits of a letterboxed 32x64 (HxW) image: content rows 16..48 of 64
    logits = np.zeros((1, 2, 16, 16), np.float32)
    logits[0, 1, 4:12, 8:] = 3.0  # right half of the content is class 1
    t = Transform((32, 64), (64, 64), (1.0, 1.0), (16, 0))
    (res,) = postprocess([logits], spec, [t])
    assert res.class_map.shape == (32, 64)
    assert (res.class_map[:, 34:] == 1).all() and (res.class_map[:, :30] == 0).all()


def test_unknown_postprocessor_is_a_clear_error():
    import pytest

    from edgevision.errors import ModelFileError

    with pytest.raises(ModelFileError, match="unknown postprocessor 'nope'"):
        get_postprocessor("nope")
