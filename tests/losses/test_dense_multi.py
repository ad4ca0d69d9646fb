"""The depthseg and panoptic losses: each term masked where its label is missing."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from edgevision.losses.dense_multi import DepthSegLoss, PanopticLoss, masked_ce  # noqa: E402


def test_masked_ce_is_zero_without_labels_and_matches_ce_with_them():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    none = torch.full((1, 4, 4), 255)
    loss = masked_ce(logits, none, 255)
    assert loss.item() == 0.0
    loss.backward()
    assert float(logits.grad.abs().sum()) == 0.0
    labels = torch.randint(0, 3, (1, 4, 4))
    labels[0, 0, 0] = 255
    want = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255)
    assert float(masked_ce(logits, labels, 255)) == pytest.approx(float(want))


def test_masked_ce_with_class_weights_is_torchs_weighted_mean():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    labels = torch.randint(0, 3, (2, 4, 4))
    labels[0, :2] = 255
    w = torch.tensor([0.5, 1.0, 3.0])
    want = torch.nn.functional.cross_entropy(logits, labels, weight=w, ignore_index=255)
    got = masked_ce(logits, labels, 255, w)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    assert float(got) != pytest.approx(float(masked_ce(logits, labels, 255)), rel=1e-3)
    assert float(masked_ce(logits, torch.full((2, 4, 4), 255), 255, w)) == 0.0


@pytest.mark.parametrize("loss_cls", [DepthSegLoss, PanopticLoss])
def test_dense_losses_weight_their_classes(loss_cls):
    with pytest.raises(ValueError, match="class_weights"):
        loss_cls(ignore_index=255, class_weights=[1.0, -1.0])
    torch.manual_seed(1)
    logits = torch.randn(1, 3, 4, 4)
    n = 2 if loss_cls is DepthSegLoss else 6
    target = torch.zeros(1, n, 4, 4)
    target[:, 0] = torch.randint(0, 3, (1, 4, 4)).float()
    rest = (
        (torch.ones(1, 1, 4, 4),) if n == 2 else (torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4))
    )
    w = [0.2, 1.0, 4.0]
    plain = loss_cls(ignore_index=255)((logits, *rest), target)
    weighted = loss_cls(ignore_index=255, class_weights=w)((logits, *rest), target)
    labels = target[:, 0].long()
    assert float(weighted - plain) == pytest.approx(
        float(masked_ce(logits, labels, 255, torch.tensor(w)) - masked_ce(logits, labels, 255)),
        abs=1e-5,
    )


def test_depthseg_loss_masks_depth_where_there_is_no_truth():
    loss_fn = DepthSegLoss(ignore_index=255)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    depth = torch.full((2, 1, 2, 2), 2.0, requires_grad=True)  # half resolution: upsampled
    target = torch.zeros(2, 2, 4, 4)
    target[:, 0] = 1.0
    target[0, 1] = 2.0  # image 0: exact depth; image 1: none
    loss = loss_fn((logits, depth), target)
    assert float(loss) == pytest.approx(
        float(masked_ce(logits, target[:, 0].long(), 255)), abs=1e-6
    )
    target[0, 1, 0, 0] = 2.0 * math.e  # one pixel off by a factor e: |log| = 1
    loss = loss_fn((logits, depth), target)
    ce = float(masked_ce(logits, target[:, 0].long(), 255))
    assert float(loss) - ce == pytest.approx(1 / 16, abs=1e-5)  # mean over image 0's 16 px
    loss.backward()
    assert float(depth.grad[1].abs().sum()) == 0.0  # the image without truth teaches nothing
    # classes missing everywhere (synthetic depth-only data): only the depth term
    target[:, 0] = 255
    assert float(loss_fn((logits, depth), target)) == pytest.approx(1 / 16, abs=1e-5)


def test_panoptic_loss_terms_and_masks():
    loss_fn = PanopticLoss(ignore_index=255, center_weight=1.0, offset_weight=1.0)
    logits = torch.zeros(1, 2, 2, 2)
    center = torch.zeros(1, 1, 2, 2, requires_grad=True)
    offset = torch.zeros(1, 2, 2, 2, requires_grad=True)
    target = torch.zeros(1, 6, 4, 4)
    target[:, 0] = 255  # no class labels: CE term 0
    target[:, 1, 1, 1] = 1.0  # one centre
    target[:, 5] = 1.0  # centre truth known everywhere ...
    target[:, 5, 3, 3] = 0.0  # ... but one pixel
    target[:, 2:4, 0, 0] = 2.0  # one object pixel with offset (2, 2) input px
    target[:, 4, 0, 0] = 1.0
    loss = loss_fn((logits, center, offset), target)
    assert float(loss) == pytest.approx(1 / 15 + 4.0)  # MSE over 15 known px + L1 (2 + 2)
    loss.backward()
    assert float(offset.grad.abs().sum()) > 0
    # offsets are in output pixels: a half-resolution offset of 1 is 2 input pixels
    perfect = torch.ones(1, 2, 2, 2)
    only_offset = PanopticLoss(ignore_index=255, center_weight=0.0, offset_weight=1.0)
    assert float(only_offset((logits, center.detach(), perfect), target)) == pytest.approx(0.0)
