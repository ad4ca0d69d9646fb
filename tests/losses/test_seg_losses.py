"""Per-pixel segmentation losses: CE, OHEM CE, focal, the aux wrapper and the factory."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edgevision.errors import ConfigError  # noqa: E402
from edgevision.losses.segmentation import (  # noqa: E402
    CrossEntropy,
    FocalLoss,
    OhemCrossEntropy,
    SegLoss,
    build_loss,
)

C, IGN = 4, 255
W = torch.tensor([0.5, 2.0, 1.0, 3.0])


def _batch(n=2, h=8, w=10, seed=0, ignore_frac=0.2):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, h, w, generator=g)
    target = torch.randint(0, C, (n, h, w), generator=g)
    target[torch.rand(n, h, w, generator=g) < ignore_frac] = IGN
    return logits.requires_grad_(), target


@pytest.mark.parametrize("weight", [None, W])
def test_ce_matches_torch(weight):
    logits, target = _batch()
    ours = CrossEntropy(IGN, weight=weight)(logits, target)
    ref = F.cross_entropy(logits, target, weight=weight, ignore_index=IGN)
    torch.testing.assert_close(ours, ref)
    g1 = torch.autograd.grad(ours, logits)[0]
    g2 = torch.autograd.grad(ref, logits)[0]
    torch.testing.assert_close(g1, g2)


def test_upsamples_logits_to_label_size():
    logits, _ = _batch(h=4, w=5)
    _, target = _batch(h=16, w=20, seed=1)
    ours = CrossEntropy(IGN)(logits, target)
    up = F.interpolate(logits, size=(16, 20), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ours, F.cross_entropy(up, target, ignore_index=IGN))
    ours.backward()
    assert logits.grad is not None and logits.grad.shape == (2, C, 4, 5)


LOSS_FACTORIES = {
    "ce": lambda w=None: CrossEntropy(IGN, weight=w),
    "ohem": lambda w=None: OhemCrossEntropy(IGN, min_kept=10, weight=w),
    "focal": lambda w=None: FocalLoss(IGN, weight=w),
}


@pytest.mark.parametrize("name", sorted(LOSS_FACTORIES))
@pytest.mark.parametrize("weight", [None, W])
def test_all_ignored_gives_zero_with_grad(name, weight):
    logits, _ = _batch(h=3, w=4)
    target = torch.full((2, 6, 8), IGN)
    loss = LOSS_FACTORIES[name](weight)(logits, target)
    assert loss.item() == 0.0 and not math.isnan(loss.item()) and loss.requires_grad
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_focal_gamma_zero_is_ce_and_gamma_two_by_hand():
    logits, target = _batch()
    for w in (None, W):
        torch.testing.assert_close(
            FocalLoss(IGN, gamma=0.0, weight=w)(logits, target),
            CrossEntropy(IGN, weight=w)(logits, target),
        )
    valid = target != IGN
    lp = F.log_softmax(logits, 1).gather(1, target.clamp(max=C - 1).unsqueeze(1)).squeeze(1)
    pt = lp.exp()
    wt = W[target.clamp(max=C - 1)]
    ref = (wt * (1 - pt) ** 2 * -lp)[valid].sum() / wt[valid].sum()
    focal = FocalLoss(IGN, gamma=2.0, weight=W)(logits, target)
    torch.testing.assert_close(focal, ref)
    assert focal < CrossEntropy(IGN, weight=W)(logits, target)


def test_focal_confident_pixel_has_finite_grad():
    logits = torch.zeros(1, C, 1, 2)
    logits[0, 0] = 200.0  # p_t == 1.0 in float32
    logits.requires_grad_()
    target = torch.zeros(1, 1, 2, dtype=torch.long)
    loss = FocalLoss(IGN, gamma=0.5)(logits, target)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and loss.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", sorted(LOSS_FACTORIES))
def test_class_weights_act_as_expected(name):
    logits, target = _batch()
    make = LOSS_FACTORIES[name]
    base = make()(logits, target)
    # a common scale cancels (weighted mean)
    torch.testing.assert_close(make(W)(logits, target), make(W * 7)(logits, target))
    # uniform weights == no weights
    torch.testing.assert_close(make(torch.ones(C))(logits, target), base)
    # weight 0 on every class but 1 == the loss over the pixels of class 1 only
    only1 = torch.tensor([0.0, 1.0, 0.0, 0.0])
    t1 = torch.where(target == 1, target, torch.full_like(target, IGN))
    if name != "ohem":  # OHEM's selection depends on which pixels are valid
        torch.testing.assert_close(make(only1)(logits, target), make()(logits, t1))
    # up-weighting the class with the highest mean loss raises the loss
    per = F.cross_entropy(logits, target, ignore_index=IGN, reduction="none")
    mean_per_class = torch.stack([per[target == c].mean() for c in range(C)])
    w = torch.ones(C)
    w[int(mean_per_class.argmax())] = 5.0
    assert make(w)(logits, target) > base


def test_weight_length_must_match():
    logits, target = _batch()
    with pytest.raises(ValueError, match="3 class weights for 4 classes"):
        CrossEntropy(IGN, weight=[1.0, 1.0, 1.0])(logits, target)
    with pytest.raises(ConfigError, match=">= 0"):
        CrossEntropy(IGN, weight=[1.0, -1.0])


def test_ohem_keeps_min_kept_hardest_and_never_ignored():
    logits, target = _batch(n=2, h=16, w=16, ignore_frac=0.3)
    valid = target != IGN
    ce = F.cross_entropy(logits, target, ignore_index=IGN, reduction="none")
    # thresh tiny: only the min_kept hardest (highest CE = lowest p_true) are kept
    ohem = OhemCrossEntropy(IGN, thresh=1e-9, min_kept=50, min_kept_cap=1.0)
    kept = ohem.kept_mask(logits, target)
    assert kept.sum() == 50 and not (kept & ~valid).any()
    torch.testing.assert_close(ohem(logits, target), ce[valid].topk(50).values.mean())
    # thresh 1: every valid pixel is below it -> plain CE
    all_kept = OhemCrossEntropy(IGN, thresh=1.0, min_kept=1)
    assert torch.equal(all_kept.kept_mask(logits, target), valid)
    torch.testing.assert_close(all_kept(logits, target), CrossEntropy(IGN)(logits, target))
    # a typical thresh keeps at least min_kept, and every pixel with p_true < thresh
    mid = OhemCrossEntropy(IGN, thresh=0.3, min_kept=20, min_kept_cap=1.0)
    kept = mid.kept_mask(logits, target)
    p = F.softmax(logits, 1).gather(1, target.clamp(max=C - 1).unsqueeze(1)).squeeze(1)
    assert kept.sum() >= 20 and torch.equal(kept, valid & (p < 0.3))
    # min_kept larger than the valid pixels: keep them all
    big = OhemCrossEntropy(IGN, thresh=1e-9, min_kept=10**6, min_kept_cap=1.0)
    assert torch.equal(big.kept_mask(logits, target), valid)


def test_ohem_min_kept_scales_for_small_inputs():
    logits, target = _batch(n=2, h=32, w=32, ignore_frac=0.0)
    kept = OhemCrossEntropy(IGN, thresh=1e-9).kept_mask(logits, target)  # default 100000
    assert kept.sum() == math.ceil(2 * 32 * 32 / 16)


def test_ohem_upsampling_and_weights():
    logits, _ = _batch(h=4, w=4)
    _, target = _batch(h=8, w=8, seed=3)
    ohem = OhemCrossEntropy(IGN, thresh=1.0, min_kept=1, weight=W)
    torch.testing.assert_close(ohem(logits, target), CrossEntropy(IGN, weight=W)(logits, target))
    assert ohem.kept_mask(logits, target).shape == (2, 8, 8)


def test_segloss_sums_main_and_aux():
    out, target = _batch(h=8, w=10)
    aux, _ = _batch(h=4, w=5, seed=5)
    ce = CrossEntropy(IGN)
    wrapped = SegLoss(ce, aux_weight=0.4)
    total = wrapped({"out": out, "aux": aux}, target)
    torch.testing.assert_close(total, ce(out, target) + 0.4 * ce(aux, target))
    torch.testing.assert_close(wrapped(out, target), ce(out, target))
    torch.testing.assert_close(wrapped({"out": out}, target), ce(out, target))
    with pytest.raises(ValueError, match="'out'"):
        wrapped({"logits": out}, target)
    with pytest.raises(ValueError, match="aux2"):
        wrapped({"out": out, "aux2": aux}, target)


def test_build_loss():
    logits, target = _batch()
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    loss = build_loss("focal", ignore_index=IGN, class_weights=cw, gamma=0.0, aux_weight=0.0)
    assert isinstance(loss, SegLoss) and isinstance(loss.base, FocalLoss)
    torch.testing.assert_close(
        loss({"out": logits, "aux": logits}, target),
        F.cross_entropy(logits, target, weight=W, ignore_index=IGN),
    )
    ohem = build_loss("ohem", ignore_index=IGN, thresh=0.5, min_kept=7)
    assert ohem.base.thresh == 0.5 and ohem.base.min_kept == 7 and ohem.aux_weight == 0.4
    assert isinstance(build_loss("ce", ignore_index=IGN).base, CrossEntropy)
    with pytest.raises(ConfigError, match="unknown loss 'dice'"):
        build_loss("dice", ignore_index=IGN)
    with pytest.raises(ConfigError, match="gamma.*accepted: thresh"):
        build_loss("ohem", ignore_index=IGN, gamma=2.0)
    with pytest.raises(ConfigError, match="thresh"):
        build_loss("ohem", ignore_index=IGN, thresh=0.0)


def test_bad_shapes():
    logits, target = _batch()
    ce = CrossEntropy(IGN)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        ce(logits[0], target)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ce(logits, target[0])
    with pytest.raises(TypeError, match="integer"):
        ce(logits, target.float())
