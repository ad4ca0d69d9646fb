"""Flow files (.flo / .npy), warp_backward and FlowPairs."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.data.flow import FlowPairs, read_flow, warp_backward, write_flow
from edgevision.errors import DataError


@pytest.mark.parametrize("suffix", [".flo", ".npy"])
def test_round_trip(tmp_path, suffix):
    f = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    p = tmp_path / f"x{suffix}"
    write_flow(p, f)
    g = read_flow(p)
    assert g.dtype == np.float32 and np.array_equal(f, g)


def test_flo_layout_is_middlebury(tmp_path):
    f = np.zeros((2, 3, 2), np.float32)
    f[1, 2] = (4.0, -1.5)
    write_flow(tmp_path / "x.flo", f)
    raw = (tmp_path / "x.flo").read_bytes()
    assert raw[:4] == b"PIEH"
    assert np.frombuffer(raw[4:12], "<i4").tolist() == [3, 2]  # width, height
    data = np.frombuffer(raw[12:], "<f4")
    assert data[-2:].tolist() == [4.0, -1.5]  # row-major, interleaved u, v


def test_bad_flow_files(tmp_path):
    (tmp_path / "a.flo").write_bytes(b"NOPE" + bytes(8))
    with pytest.raises(DataError, match=r"bad magic.*a\.flo"):
        read_flow(tmp_path / "a.flo")
    write_flow(tmp_path / "b.flo", np.zeros((4, 4, 2)))
    (tmp_path / "b.flo").write_bytes((tmp_path / "b.flo").read_bytes()[:-4])
    with pytest.raises(DataError, match=r"expected 128.*b\.flo"):
        read_flow(tmp_path / "b.flo")
    with pytest.raises(DataError, match="not found"):
        read_flow(tmp_path / "c.flo")
    (tmp_path / "d.png").write_bytes(b"")
    with pytest.raises(DataError, match="unknown flow file type"):
        read_flow(tmp_path / "d.png")


def test_warp_backward_undoes_a_translation():
    rng = np.random.default_rng(0)
    img_t = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    img_t1 = np.roll(img_t, (2, 3), axis=(0, 1))  # content moves by dx=3, dy=2
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, 2.0
    out = warp_backward(img_t1, flow)
    assert out.shape == img_t.shape and out.dtype == np.uint8
    assert np.array_equal(out[:-2, :-3], img_t[:-2, :-3])


def test_flow_pairs(synth_dir):
    pairs = FlowPairs(synth_dir, "val")
    assert len(pairs) == 3  # 1 video x (4 - 1)
    s = pairs[2]
    assert s.index == 2 and s.video == "val_vid000"
    assert s.image0.shape == s.image1.shape == (64, 80, 3)
    assert s.flow.shape == (64, 80, 2) and s.valid.dtype == bool
    with pytest.raises(DataError, match="video split 'test'"):
        FlowPairs(synth_dir, "test")


def test_pairs_further_apart_have_chained_flow_that_warps(tmp_path):
    """Pairs 2 and 3 frames apart: the chained flow warps frame t+k onto frame t."""
    from edgevision.data.synth import SynthConfig, generate

    cfg = SynthConfig(seed=2, image_size=(96, 128), train_images=0, val_images=0,
                      train_videos=1, val_videos=0, frames=4, max_speed=0.03,
                      write_mp4=False)  # fmt: skip
    generate(tmp_path / "f", cfg, progress=False)
    pairs = FlowPairs(tmp_path / "f", "train", max_gap=3)
    gaps = [pairs[i].gap for i in range(len(pairs))]
    assert gaps == [1, 1, 1, 2, 2, 3]
    for i in range(len(pairs)):
        s = pairs[i]
        f0 = s.image0.astype(np.float32)
        warped = warp_backward(s.image1, s.flow).astype(np.float32)
        err = np.abs(warped - f0).mean(axis=-1)[s.valid].mean()
        err_zero = np.abs(s.image1.astype(np.float32) - f0).mean(axis=-1)[s.valid].mean()
        assert s.valid.mean() > 0.5
        assert err < 2.0 and err < err_zero / 3, (s.gap, err, err_zero)
    with pytest.raises(ValueError):
        FlowPairs(tmp_path / "f", "train", max_gap=0)


def _integer_flow_pair(seed: int = 0):
    """A pair whose exact flow is an integer field: image0(x) = image1(x + flow(x))."""
    from edgevision.data.flow import FlowSample

    rng = np.random.default_rng(seed)
    h, w = 24, 32
    im1 = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:h, 0:w]
    flow = np.stack([(xs % 3) - 1 + 2, (ys % 2) - 1], axis=-1).astype(np.float32)
    tx, ty = xs + flow[..., 0].astype(int), ys + flow[..., 1].astype(int)
    valid = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    im0 = np.zeros_like(im1)
    im0[valid] = im1[ty[valid], tx[valid]]
    return FlowSample("v", 0, im0, im1, flow, valid, 1)


def _consistent(s) -> int:
    """Valid pixels of ``s`` where image0(x) == image1(x + flow(x)); asserts all are."""
    h, w = s.valid.shape
    ys, xs = np.mgrid[0:h, 0:w]
    fx, fy = np.rint(s.flow[..., 0]).astype(int), np.rint(s.flow[..., 1]).astype(int)
    tx, ty = xs + fx, ys + fy
    v = s.valid
    assert ((tx[v] >= 0) & (tx[v] < w) & (ty[v] >= 0) & (ty[v] < h)).all()
    np.testing.assert_array_equal(s.image0[v], s.image1[ty[v], tx[v]])
    return int(v.sum())


def test_augmented_flow_pairs_keep_the_flow_exact():
    from edgevision.data.flow import augment_flow_sample

    s = _integer_flow_pair()
    assert _consistent(s) > 0
    rng = np.random.default_rng(1)
    flips = 0
    for _ in range(20):  # flips and shifts together
        a = augment_flow_sample(s, rng, max_shift=5, vflip_p=0.5, photometric=False)
        assert a.image0.shape == s.image0.shape and a.flow.dtype == np.float32
        n = _consistent(a)  # flips negate the right component; the shift moves the flow
        assert 0 < n <= s.valid.size
        flips += int(not np.array_equal(a.image0, s.image0))
        assert not np.shares_memory(a.flow, s.flow) and not np.shares_memory(a.valid, s.valid)
    assert flips > 0
    shifted = 0
    for _ in range(10):  # shifts alone: the flow gains one non-zero integer vector
        a = augment_flow_sample(s, rng, max_shift=5, flip=False, photometric=False)
        _consistent(a)
        d = a.flow - s.flow
        assert (d == d[0, 0]).all()
        shifted += int(d[0, 0].any())
    assert shifted > 0
    # the input is untouched; photometric jitter changes pixels but not the flow
    fresh = _integer_flow_pair()
    for k in ("image0", "image1", "flow", "valid"):
        np.testing.assert_array_equal(getattr(s, k), getattr(fresh, k))
    b = augment_flow_sample(s, np.random.default_rng(2), max_shift=0, flip=False)
    np.testing.assert_array_equal(b.flow, s.flow)
    assert not np.array_equal(b.image0, s.image0)


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_flow_to_input_grid_and_units(resize):
    # a constant flow on a 24x32 image: on a 48x48 input it must be in input pixels, and
    # padding (letterbox) invalid
    from edgevision.data.flow import flow_to_input
    from edgevision.preprocess import resize_image

    img = np.zeros((24, 32, 3), np.uint8)
    _, t = resize_image(img, (48, 48), resize)
    flow = np.broadcast_to(np.array([3.0, 2.0], np.float32), (24, 32, 2))
    valid = np.ones((24, 32), bool)
    valid[:, :4] = False
    f, v = flow_to_input(flow, valid, t)
    assert f.shape == (48, 48, 2) and v.shape == (48, 48)
    top, left, y1, x1 = t.content_box
    sy, sx = t.scale
    inner = f[top:y1, left:x1]
    np.testing.assert_allclose(inner[..., 0], 3.0 * sx, rtol=1e-5)
    np.testing.assert_allclose(inner[..., 1], 2.0 * sy, rtol=1e-5)
    assert not v[top:y1, left : left + int(4 * sx) - 1].any() and v[top:y1, x1 - 2].all()
    if resize == "letterbox":
        assert top > 0 and not v[:top].any() and not v[y1:].any()
