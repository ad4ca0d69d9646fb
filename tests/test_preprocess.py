from __future__ import annotations

import numpy as np
import pytest

from edgevision.config import ModelSpec
from edgevision.postprocess.letterbox import boxes_to_original, map_to_original
from edgevision.preprocess import preprocess


def _spec(**kw):
    base = dict(
        name="m",
        task="detect",
        class_names=["a"],
        input_size=(64, 64),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )
    return ModelSpec(**{**base, **kw})


def test_stretch_normalise_and_colour_order():
    img = np.zeros((32, 16, 3), np.uint8)
    img[..., 0] = 200  # red channel in RGB
    x, (t,) = preprocess(img, _spec(resize="stretch", mean=(100, 0, 0), std=(2, 1, 1)))
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    assert np.allclose(x[0, 0], 50.0) and np.allclose(x[0, 1], 0.0)
    assert t.scale == (2.0, 4.0) and t.pad == (0, 0)
    x, _ = preprocess(img, _spec(color_order="BGR"))
    assert np.allclose(x[0, 2], 200.0) and np.allclose(x[0, 0], 0.0)


def test_letterbox_round_trip_of_boxes_and_maps():
    img = np.full((50, 100, 3), 7, np.uint8)  # wide image -> padding top/bottom
    x, (t,) = preprocess(img, _spec(resize="letterbox", input_size=(64, 64)))
    assert t.pad == (16, 0) and t.scale == (0.64, 0.64)
    assert np.allclose(x[0, :, 0, 0], 114) and np.allclose(x[0, :, 32, 32], 7)
    boxes_in = np.array([[0, 16, 64, 48]], np.float32)  # the whole content in input pixels
    np.testing.assert_allclose(boxes_to_original(boxes_in, t), [[0, 0, 100, 50]], atol=1e-4)
    label = np.zeros((64, 64), np.int64)
    label[16:48, 32:] = 3
    back = map_to_original(label, t, nearest=True)
    assert back.shape == (50, 100) and (back[:, 51:] == 3).all() and (back[:, :49] == 0).all()


def test_batch_of_different_sizes_and_bad_input():
    x, ts = preprocess([np.zeros((10, 20, 3), np.uint8), np.zeros((30, 5, 3), np.uint8)], _spec())
    assert x.shape == (2, 3, 64, 64) and [t.orig_size for t in ts] == [(10, 20), (30, 5)]
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((10, 10, 3), np.float32), _spec())


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_table_normalisation_equals_the_direct_formula(resize, order):
    # the lookup-table path must give exactly (v - mean) * (1 / std) per channel, in the
    # spec's colour order, for every byte value and for a non-contiguous input view
    from edgevision.preprocess import resize_image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    img[0, :, :] = np.arange(60)[:, None] * 4 + np.arange(3)  # cover many byte values
    view = np.ascontiguousarray(img[:, ::-1])[:, ::-1]  # == img, negative strides
    spec = _spec(
        resize=resize,
        color_order=order,
        input_size=(48, 64),
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
    )
    x, (t,) = preprocess(view, spec)
    r, _ = resize_image(img, (48, 64), resize, spec.pad_value)
    if order == "BGR":
        r = r[..., ::-1]
    mean = np.asarray(spec.mean, np.float32)
    inv_std = 1.0 / np.asarray(spec.std, np.float32)
    expected = ((r.astype(np.float32) - mean) * inv_std).transpose(2, 0, 1)
    assert x.shape == (1, 3, 48, 64) and x.flags.c_contiguous
    np.testing.assert_array_equal(x[0], expected)


def test_bgr_input_gives_the_rgb_tensor():
    """``bgr=True`` reorders channels inside the lookup: the same tensor as the RGB image."""
    import numpy as np

    from edgevision.config import ModelSpec
    from edgevision.preprocess import preprocess

    rgb = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for order in ("RGB", "BGR"):
        spec = ModelSpec(name="t", task="semantic", class_names=["a"], input_size=(32, 32),
                         color_order=order, mean=(10.0, 100.0, 200.0), std=(1.0, 2.0, 3.0))  # fmt: skip
        want, _ = preprocess(rgb, spec)
        got, _ = preprocess(bgr, spec, bgr=True)
        assert np.array_equal(got, want)
        assert not np.array_equal(preprocess(bgr, spec)[0], want)
