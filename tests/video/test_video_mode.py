"""YolactEdge video mode: warping, partial feature transform, keyframe policies, sessions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.errors import ConfigError  # noqa: E402
from edgevision.models.flow.warp import warp  # noqa: E402
from edgevision.registry import create_model  # noqa: E402
from edgevision.results import InstanceMasks  # noqa: E402
from edgevision.video import (  # noqa: E402
    AdaptiveKeyframes,
    FeatFlowNet,
    FixedKeyframes,
    VideoSession,
    parse_keyframes,
    partial_features,
    resize_flow,
)

TINY = {
    "width_mult": 0.35,
    "fpn_channels": 32,
    "proto_width": 32,
    "num_protos": 8,
    "flow_width": 16,
}


@pytest.fixture(scope="module")
def synth_video(synth_videos):
    """One 128x128 training video with strong motion and exact flow."""
    return synth_videos(seed=2, size=(128, 128), videos=1, frames=3, speed=0.1, pan=0.08)


def _model(size=(128, 128), **kw):
    return create_model(
        "yolact_mobilenetv2_320",
        class_names=list("abcd"),
        input_size=size,
        video=True,
        **{**TINY, **kw},
    )


def _calibrate_bn(model, batches):
    """Random conv weights with BatchNorm statistics of real frames: features with structure."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    with torch.no_grad():
        for x in batches:
            model(x)
    return model.eval()


def test_warp_shifts_by_the_flow():
    feat = torch.zeros(1, 1, 8, 8)
    feat[0, 0, 3, 5] = 1.0
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 2.0  # cur(x) = key(x + 2)
    out = warp(feat, flow)
    assert out[0, 0, 3, 3] == pytest.approx(1.0) and out.sum() == pytest.approx(1.0)
    assert torch.allclose(warp(feat, torch.zeros_like(flow)), feat, atol=1e-6)
    up = resize_flow(flow, (16, 16))
    assert up.shape == (1, 2, 16, 16) and torch.allclose(up[:, 0], torch.full((1, 16, 16), 4.0))
    with pytest.raises(ValueError):
        warp(feat, torch.zeros(1, 2, 4, 4))


def test_featflownet_shapes():
    net = FeatFlowNet(24, width=16)
    f8, f16, f32 = net(torch.randn(2, 24, 13, 19), torch.randn(2, 24, 13, 19))
    assert f8.shape == (2, 2, 13, 19) and f16.shape == (2, 2, 7, 10) and f32.shape == (2, 2, 4, 5)


def test_known_flow_warp_is_closer_than_unwarped(synth_video, one_torch_thread):
    from edgevision.data.flow import FlowPairs
    from edgevision.video.pairs import pair_batch

    m = _model()
    pairs = FlowPairs(synth_video, "train")
    key, cur, flow, _ = pair_batch([pairs[0], pairs[1]], m.spec)
    _calibrate_bn(m, [torch.cat([key, cur])])
    with torch.no_grad():
        ck, cc = m.lower(key), m.lower(cur)
        k4, k5 = m.upper(ck)
        _, t4, t5 = m.fpn.top_down(ck, k4, k5)
        kf = {"t4": t4, "p4": m.fpn.smooth_level(1, t4), "p5": m.fpn.smooth_level(2, t5)}
        true = m.fpn(cc, *m.upper(cc))
        sizes = (cc.shape[-2:], true[1].shape[-2:], true[2].shape[-2:])
        gt = [resize_flow(flow, s) for s in sizes]  # flow is cur -> key at input size
        zero = [torch.zeros_like(f) for f in gt]
        warped = partial_features(m, kf, cc, gt)
        unwarped = partial_features(m, kf, cc, zero)
    assert float(flow.abs().mean()) > 1.0  # the frames really move
    for lvl in range(4):  # P3 (recomputed from C3 + warped T4), warped P4, P5, derived P6
        err_w = float((warped[lvl] - true[lvl]).pow(2).mean())
        err_u = float((unwarped[lvl] - true[lvl]).pow(2).mean())
        assert err_w < err_u, (lvl, err_w, err_u)


def test_featflownet_training_learns_flow(synth_video, one_torch_thread):
    from edgevision.train.featflownet import train_featflownet

    m = _model()
    rows = train_featflownet(m, synth_video, steps=40, batch_size=2, lr=3e-3, seed=0)
    first = np.mean([r["epe"] for r in rows[:5]])
    last = np.mean([r["epe"] for r in rows[-5:]])
    assert last < 0.8 * first, (first, last)
    assert all(p.requires_grad for p in m.parameters())  # unfrozen afterwards
    # cosine: the LR decays to 0 over the steps (the last step barely moves the weights)
    before = {k: v.clone() for k, v in m.flownet.state_dict().items()}
    rows = train_featflownet(
        m, synth_video, steps=2, batch_size=2, lr=3e-3, schedule="cosine", augment=True
    )
    assert len(rows) == 2 and any(
        not torch.equal(before[k], v) for k, v in m.flownet.state_dict().items()
    )


def test_session_computes_only_the_cheap_part_on_non_keyframes(one_torch_thread):
    m = _model(size=(64, 64))
    calls = {"upper": 0, "protonet": 0, "flownet": 0, "lower": 0}
    m.protonet.register_forward_hook(
        lambda *a: calls.__setitem__("protonet", calls["protonet"] + 1)
    )
    m.flownet.register_forward_hook(lambda *a: calls.__setitem__("flownet", calls["flownet"] + 1))
    m.backbone_lower.register_forward_hook(
        lambda *a: calls.__setitem__("lower", calls["lower"] + 1)
    )
    for stage in m.backbone_upper:
        stage.register_forward_hook(lambda *a: calls.__setitem__("upper", calls["upper"] + 1))
    s = VideoSession(m, keyframes="fixed:5", reuse_protos=True, conf_threshold=0.0, max_det=5)
    rng = np.random.default_rng(0)
    keys = []
    for _ in range(11):
        res = s(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
        assert isinstance(res, InstanceMasks) and res.masks.shape[1:] == (48, 80)
        keys.append(s.last.keyframe)
    assert keys == [True, False, False, False, False] * 2 + [True]
    n_up = len(m.backbone_upper)
    assert calls["lower"] == 11 and calls["upper"] == 3 * n_up and calls["protonet"] == 3
    assert calls["flownet"] == 8 and s.counts["non_keyframes"] == 8
    assert "backbone_upper" not in s.last.ms or s.last.keyframe
    # a frame-size change starts a new keyframe
    s(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
    assert not s.last.keyframe
    s(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert s.last.keyframe


def test_session_recompute_protos_mode_and_short_video(one_torch_thread):
    m = _model(size=(64, 64))
    s = VideoSession(m, keyframes="fixed:5", reuse_protos=False)
    img = np.zeros((64, 64, 3), np.uint8)  # no objects at all
    for _ in range(3):  # shorter than one keyframe interval
        res = s(img)
        assert isinstance(res, InstanceMasks)
    assert s.counts["protonet"] == 3 and s.counts["backbone_upper"] == 1
    s.reset()
    s(img)
    assert s.last.keyframe


def test_per_frame_mode_matches_plain_forward(one_torch_thread):
    from edgevision.postprocess.yolact import yolact_postprocess
    from edgevision.preprocess import preprocess

    m = _model(size=(64, 64)).eval()
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    res = VideoSession(m, keyframes="none", conf_threshold=0.0, max_det=3)(img)
    x, t = preprocess([img], m.spec)
    with torch.no_grad():
        outs = [o.numpy() for o in m.export_adapter()(torch.from_numpy(x))]
    ref = yolact_postprocess(outs, m.spec, t, conf_threshold=0.0, max_det=3)[0]
    assert np.allclose(res.boxes, ref.boxes, atol=1e-4) and np.array_equal(res.masks, ref.masks)


def test_policies_and_refusals():
    assert isinstance(parse_keyframes("fixed:3"), FixedKeyframes)
    assert parse_keyframes("fixed").interval == 5
    assert parse_keyframes("adaptive:7").max_interval == 7
    for bad in ("fixed:0", "fixed:x", "sometimes", "adaptive:-1"):
        with pytest.raises(ConfigError):
            parse_keyframes(bad)
    p = AdaptiveKeyframes(max_interval=4, motion_threshold=0.05, score_drop=0.5)
    assert p.promote(1, 0.1) and not p.promote(1, 0.01)
    assert p.wants_keyframe(3) and not p.wants_keyframe(1)
    full = InstanceMasks(
        np.array([[0, 0, 4, 4]], np.float32),
        np.array([0.9], np.float32),
        np.array([0]),
        ["a"],
        (8, 8),
        masks=np.ones((1, 8, 8), bool),
    )
    p.observe(True, full)
    p.observe(False, InstanceMasks.empty(["a"], (8, 8)))  # objects lost -> next is a keyframe
    assert p.wants_keyframe(1)
    # a model without FeatFlowNet is refused for video mode, fine for per-frame mode
    plain = create_model(
        "yolact_mobilenetv2_320",
        class_names=["a"],
        **{k: v for k, v in TINY.items() if k != "flow_width"},
    )
    with pytest.raises(ConfigError, match="FeatFlowNet"):
        VideoSession(plain, keyframes="fixed:5")
    VideoSession(plain, keyframes="none")
    with pytest.raises(ConfigError):
        VideoSession(torch.nn.Conv2d(1, 1, 1))


def test_adaptive_session_promotes_on_motion(one_torch_thread):
    m = _model(size=(64, 64))
    s = VideoSession(m, keyframes=AdaptiveKeyframes(max_interval=100, motion_threshold=1e-9))
    img = np.zeros((64, 64, 3), np.uint8)
    s(img)
    with torch.no_grad():
        m.flownet.pred8.bias.fill_(1.0)  # any motion at all crosses the tiny threshold
    s(img)
    assert s.last.keyframe and s.last.promoted and s.last.motion > 0
    assert s.counts["backbone_upper"] == 2 and s.counts["backbone_lower"] == 2  # C3 reused


def test_propagate_instances_moves_masks_with_the_flow():
    """cur(x) = key(x + flow(x)): a uniform backward flow of (-5, +3) moves a mask by (+5, -3);
    boxes follow the warped mask; a flow letterboxed to the input maps back to pixels."""
    from edgevision.preprocess import resize_image
    from edgevision.video.propagate import flow_to_original, propagate_instances

    masks = np.zeros((2, 60, 80), bool)
    masks[0, 20:30, 10:20] = True
    masks[1, 0:4, 0:4] = True  # leaves the image
    key = InstanceMasks(
        np.array([[10, 20, 20, 30], [0, 0, 4, 4]], np.float32),
        np.array([0.9, 0.5], np.float32),
        np.array([1, 2]),
        list("abc"),
        (60, 80),
        masks=masks,
    )
    flow = np.zeros((60, 80, 2), np.float32)
    flow[..., 0], flow[..., 1] = -5.0, 3.0
    out = propagate_instances(key, flow)
    assert out.masks[0, 17:27, 15:25].all() and out.masks[0].sum() == 100
    np.testing.assert_allclose(out.boxes[0], [15, 17, 25, 27])
    assert out.masks[1].sum() == 4 * 1 and out.scores.tolist() == pytest.approx([0.9, 0.5])
    # rigid: the median flow under the mask, so a flow that differs at the border is ignored
    bent = flow.copy()
    bent[20:30, 19] = (-9.0, 3.0)
    rig = propagate_instances(key, bent, rigid=True)
    assert rig.masks[0, 17:27, 15:25].all() and rig.masks[0].sum() == 100
    flow[..., 0] = 50.0  # everything samples from outside the frame: masks vanish, box moves
    gone = propagate_instances(key, flow)
    assert not gone.masks[1].any()
    np.testing.assert_allclose(gone.boxes[1], [-50, -3, -46, 1])
    # stride-8 flow of a letterboxed 60x80 frame in a 64x64 input: vectors in input pixels
    _, t = resize_image(np.zeros((60, 80, 3), np.uint8), (64, 64), "letterbox")
    f8 = np.zeros((2, 8, 8), np.float32)
    f8[0] = 1.0  # one stride-8 pixel = 8 input pixels = 8 / scale original pixels
    fo = flow_to_original(f8, t)
    assert fo.shape == (60, 80, 2)
    np.testing.assert_allclose(fo[..., 0], 8.0 / t.scale[1], rtol=1e-5)
    np.testing.assert_allclose(fo[..., 1], 0.0, atol=1e-6)


def test_splat_instances_moves_masks_forward():
    """Forward splatting: a square moved by an integer flow lands exactly; the box follows;
    what leaves the image is dropped; scores and classes stay."""
    from edgevision.results import InstanceMasks
    from edgevision.video.propagate import splat_instances

    m = np.zeros((2, 40, 50), bool)
    m[0, 10:20, 10:20] = True
    m[1, 30:38, 44:50] = True
    key = InstanceMasks(np.array([[10, 10, 20, 20], [44, 30, 50, 38]], np.float32),
                        np.array([0.9, 0.4]), np.array([0, 1]), ["a", "b"], (40, 50), masks=m)  # fmt: skip
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    out = splat_instances(key, flow)
    want = np.zeros((40, 50), bool)
    want[8:18, 13:23] = True
    assert (out.masks[0] == want).all()
    assert out.boxes[0].tolist() == [13, 8, 23, 18]
    assert out.masks[1].sum() == 8 * 3  # 3 of its 6 columns left the image
    assert out.scores.tolist() == pytest.approx([0.9, 0.4]) and out.class_ids.tolist() == [0, 1]
    with pytest.raises(ValueError, match="flow is"):
        splat_instances(key, flow[:10])


def test_session_propagate_runs_only_lower_and_flow_on_non_keyframes(one_torch_thread):
    m = _model(size=(64, 64))
    calls = {"protonet": 0, "head": 0}
    m.protonet.register_forward_hook(
        lambda *a: calls.__setitem__("protonet", calls["protonet"] + 1)
    )
    m.head.register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1))
    s = VideoSession(m, keyframes="fixed:3", propagate=True, conf_threshold=0.0, max_det=5)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    results, infos = [], []
    for _ in range(4):
        results.append(s(frame))
        infos.append(s.last)
    assert [i.keyframe for i in infos] == [True, False, False, True]
    assert calls["protonet"] == 2 and s.counts["propagate"] == 2
    assert s.counts["backbone_upper"] == 2 and s.counts["head"] == 2
    assert len(results[1]) == len(results[0]) and results[1].masks.shape == (
        len(results[0]),
        48,
        80,
    )
    assert set(infos[1].ms) == {"preprocess", "backbone_lower", "flow", "warp"}
    # a static frame: zero-ish flow keeps the keyframe's masks where they were
    same = (results[1].masks == results[0].masks).mean() if len(results[0]) else 1.0
    assert same > 0.9


def test_pair_batch_flow_is_in_input_pixels_on_the_input_grid():
    # frames smaller than the input and stretched unevenly (x 1.5, y 2): warping the key
    # input with the pair's flow must reproduce the current input, so the flow's units and
    # grid match the network input (the vertical component was once scaled twice)
    import cv2

    from edgevision.config import ModelSpec
    from edgevision.data.flow import FlowSample
    from edgevision.models.flow.warp import warp
    from edgevision.video.pairs import pair_batch

    rng = np.random.default_rng(0)
    big = cv2.resize(rng.integers(0, 256, (8, 10, 3)).astype(np.float32), (40, 32))
    im1 = np.clip(big[:24, :32], 0, 255).astype(np.uint8)
    dx, dy = 2, 3  # image0(x) = image1(x + (dx, dy))
    im0 = np.clip(big[dy : dy + 24, dx : dx + 32], 0, 255).astype(np.uint8)
    flow = np.broadcast_to(np.array([dx, dy], np.float32), (24, 32, 2)).copy()
    s = FlowSample("v", 0, im0, im1, flow, np.ones((24, 32), bool), 1)
    spec = ModelSpec(name="m", task="instance", class_names=["a"], input_size=(48, 48),
                     resize="stretch")  # fmt: skip
    key, cur, f, valid = pair_batch([s], spec)
    assert f.shape == (1, 2, 48, 48) and valid.shape == (1, 1, 48, 48)
    assert torch.allclose(f[0, 0], torch.tensor(dx * 1.5)) and torch.allclose(
        f[0, 1], torch.tensor(dy * 2.0)
    )
    inner = (slice(None), slice(None), slice(4, 36), slice(4, 40))
    err = float((warp(key, f) - cur)[inner].abs().mean())
    err0 = float((key - cur)[inner].abs().mean())
    assert err < 0.25 * err0, (err, err0)


def _textured(h, w, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def test_session_dis_propagation_moves_masks_without_any_network(one_torch_thread):
    from edgevision.data.flow import warp_backward
    from edgevision.video.core import DisFlow

    # DIS flow of a known shift (cur(x) = key(x + d)) is that shift, in the frame's pixels
    big = _textured(200, 240, seed=1)
    d = np.array([3.0, -2.0], np.float32)
    flow_true = np.broadcast_to(d, (*big.shape[:2], 2)).copy()
    for side in (320, 120):  # full size, and computed shrunk then scaled back
        dis = DisFlow(max_side=side)
        moved = warp_backward(big, flow_true)
        f = dis(dis.grey(moved), dis.grey(big), big.shape[:2])
        assert f.shape == (200, 240, 2)
        np.testing.assert_allclose(np.median(f[30:-30, 30:-30].reshape(-1, 2), 0), d, atol=0.4)
    with pytest.raises(ValueError, match="preset"):
        DisFlow("slowest")

    torch.manual_seed(0)
    plain = create_model(
        "yolact_mobilenetv2_320",
        class_names=list("abcd"),
        input_size=(64, 64),
        **{k: v for k, v in TINY.items() if k != "flow_width"},
    )  # no FeatFlowNet: DIS propagation needs none
    calls = {"lower": 0}
    plain.backbone_lower.register_forward_hook(
        lambda *a: calls.__setitem__("lower", calls["lower"] + 1)
    )
    with pytest.raises(ConfigError, match="FeatFlowNet"):
        VideoSession(plain, keyframes="fixed:3", propagate=True)
    with pytest.raises(ConfigError, match="propagate must be"):
        VideoSession(plain, keyframes="fixed:3", propagate="lucas-kanade")
    s = VideoSession(plain, keyframes="fixed:3", propagate="dis", conf_threshold=0.0, max_det=5)
    base = _textured(96, 128, seed=2)
    shift = np.array([2.0, 1.0], np.float32)  # the scene moves by this much per frame
    frames = [warp_backward(base, np.broadcast_to(-shift * t, (96, 128, 2)).copy())
              for t in range(4)]  # fmt: skip
    results = [s(f) for f in frames]
    infos = [s.counts["keyframes"], s.counts["non_keyframes"]]
    assert infos == [2, 2] and calls["lower"] == 2 and s.counts["flow"] == 2
    assert set(s.last.ms) >= {"preprocess", "backbone_lower"}  # frame 3 is a keyframe again
    key = results[0]
    assert len(key) > 0
    checked = 0
    for t in (1, 2):  # the keyframe's masks, moved by t * shift (chained DIS flows)
        m = results[t].masks
        assert m.shape == key.masks.shape
        for i in range(len(key)):
            k = key.masks[i].astype(np.float32)
            exp = warp_backward(k[..., None], np.broadcast_to(-shift * t, (96, 128, 2)).copy())
            exp = exp[..., 0] > 0.5 if exp.ndim == 3 else exp > 0.5
            inner = np.s_[8:-8, 8:-8]
            if exp[inner].sum() < 20:
                continue
            agree = (m[i][inner] == exp[inner]).mean()
            stay = (m[i][inner] == key.masks[i][inner]).mean()
            assert agree > 0.97 and agree >= stay, (t, i, agree, stay)
            checked += 1
    assert checked >= 2


def test_dis_residual_and_adaptive_promotion_on_it(one_torch_thread):
    """The warp residual is ~0 where the flow explains the frame (at any speed) and grows
    with what it cannot explain (a new object); the adaptive policy promotes on it."""
    from edgevision.data.flow import warp_backward
    from edgevision.video.core import DisFlow

    dis = DisFlow()
    base = _textured(96, 128, seed=3)
    shift = np.array([3.0, -1.0], np.float32)
    moved = warp_backward(base, np.broadcast_to(shift, (96, 128, 2)).copy())
    g0, g1 = dis.grey(base), dis.grey(moved)
    assert dis.residual(g1, g0, np.broadcast_to(shift, (96, 128, 2)).copy()) < 0.02
    popped = moved.copy()
    popped[20:60, 30:90] = (255, 0, 255)  # a new, flat object covering 20 % of the frame
    r = dis.residual(dis.grey(popped), g0, np.broadcast_to(shift, (96, 128, 2)).copy())
    assert 0.1 < r < 0.3
    # the flow of another size is resized to the grey image's
    half = np.broadcast_to(shift * 2, (192, 256, 2)).copy()
    assert dis.residual(g1, g0, half) < 0.02

    p = AdaptiveKeyframes(max_interval=50, motion_threshold=1.0, residual_threshold=0.05,
                          anticipate=False)  # fmt: skip
    assert p.uses_residual and p.promote(1, 0.0, 0.06) and not p.promote(1, 0.0, 0.04)
    assert not p.promote(1, 0.0, None) and not p.wants_keyframe(1)
    # anticipation: 0.02 then 0.035 extrapolates to 0.05 -> the next frame is a keyframe
    # before any flow is computed; a keyframe clears it
    a = AdaptiveKeyframes(max_interval=50, motion_threshold=1.0, residual_threshold=0.049)
    assert not a.promote(1, 0.0, 0.02) and not a.wants_keyframe(1)  # 2 x 0.02 = 0.04
    assert not a.promote(2, 0.0, 0.035) and a.wants_keyframe(2)  # 0.035 + 0.015 = 0.05
    a.observe(True, InstanceMasks.empty(["a"], (8, 8)))
    assert not a.wants_keyframe(0)
    assert not a.promote(1, 0.4, None) and not a.wants_keyframe(1)  # motion: 0.8 < 1.0
    assert not a.promote(2, 0.75, None) and a.wants_keyframe(2)  # 0.75 + 0.35 = 1.1
    a.reset()
    assert not a.wants_keyframe(1)
    assert "anticipated" in a.describe() and "residual>0.049" in a.describe()
    assert not AdaptiveKeyframes(residual_threshold=None).uses_residual
    with pytest.raises(ConfigError, match="residual_threshold"):
        AdaptiveKeyframes(residual_threshold=1.5)

    torch.manual_seed(0)
    plain = create_model(
        "yolact_mobilenetv2_320",
        class_names=list("abcd"),
        input_size=(64, 64),
        **{k: v for k, v in TINY.items() if k != "flow_width"},
    )
    s = VideoSession(plain, keyframes=p, propagate="dis", conf_threshold=0.0, max_det=5)
    s(base)
    s(moved)  # explained by the flow: propagated
    assert not s.last.keyframe and s.last.residual is not None and s.last.residual < 0.05
    s(popped)  # a new object: promoted to a keyframe, its residual kept
    assert s.last.keyframe and s.last.promoted and s.last.residual > 0.05

    class OldPolicy(FixedKeyframes):  # written before the residual: two-argument promote
        def promote(self, since_key, motion):
            return False

    old = VideoSession(plain, keyframes=OldPolicy(3), propagate="dis", conf_threshold=0.0)
    old(base)
    old(moved)
    assert not old.last.keyframe and old.last.residual is None
