"""YOLO loss and the torch box utilities it uses."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from edgevision.losses.detection import YoloLoss  # noqa: E402
from edgevision.models.layers.box_ops import (  # noqa: E402
    bbox_iou,
    box_iou,
    cxcywh_to_xyxy,
    decode_ssd,
    decode_yolo,
    encode_ssd,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)


def test_box_conversions_round_trip():
    b = torch.tensor([[1.0, 2.0, 5.0, 10.0]])
    assert torch.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    assert torch.allclose(xywh_to_xyxy(xyxy_to_xywh(b)), b)
    assert xyxy_to_cxcywh(b).tolist() == [[3.0, 6.0, 4.0, 8.0]]


def test_iou_family_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    assert box_iou(a, b).item() == pytest.approx(1 / 3, abs=1e-6)
    assert bbox_iou(a, b, kind="iou").item() == pytest.approx(1 / 3, abs=1e-6)
    # enclosing box 3x2 = 6, union 6 -> GIoU = IoU
    assert bbox_iou(a, b, kind="giou").item() == pytest.approx(1 / 3, abs=1e-6)
    far = torch.tensor([[4.0, 0.0, 6.0, 2.0]])
    assert bbox_iou(a, far, kind="giou").item() == pytest.approx(-1 / 3, abs=1e-6)
    # CIoU of same-shape boxes = IoU - centre distance² / diagonal² of the enclosing box
    assert bbox_iou(a, b, kind="ciou").item() == pytest.approx(1 / 3 - 1 / 13, abs=1e-5)
    assert bbox_iou(a, a, kind="ciou").item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        bbox_iou(a, b, kind="xiou")


def test_anchor_encode_decode():
    anchors = torch.tensor([[10.0, 10.0, 4.0, 8.0]])
    boxes = torch.tensor([[7.0, 5.0, 13.0, 17.0]])
    assert torch.allclose(decode_ssd(encode_ssd(boxes, anchors), anchors), boxes, atol=1e-5)
    raw = torch.zeros(1, 4)  # sigmoid 0.5 -> centre of cell + 0.5, size = anchor
    out = decode_yolo(raw, torch.tensor([[2.0, 3.0]]), torch.tensor([[10.0, 20.0]]), 8)
    assert out.tolist() == [[(0.5 + 2) * 8, (0.5 + 3) * 8, 10.0, 20.0]]


def _preds(n=2, nc=3, size=64):
    return [
        torch.zeros(n, 3, size // s, size // s, 5 + nc, requires_grad=True) for s in (8, 16, 32)
    ]


def _loss(nc=3, **kw):
    anchors = torch.tensor(
        [
            [[8, 8], [16, 16], [24, 24]],
            [[32, 32], [48, 48], [64, 64]],
            [[96, 96], [128, 128], [160, 160]],
        ],
        dtype=torch.float32,
    )
    return YoloLoss(anchors, (8, 16, 32), nc, input_size=(64, 64), **kw)


def test_loss_finite_with_and_without_targets():
    loss = _loss()
    preds = _preds()
    empty = loss(preds, torch.zeros(0, 6))
    assert torch.isfinite(empty) and loss.last["box"] == 0 and loss.last["cls"] == 0
    empty.backward()
    t = torch.tensor([[0, 1, 20.0, 20.0, 12.0, 14.0], [1, 2, 40.0, 30.0, 30.0, 20.0]])
    preds = _preds()
    val = loss(preds, t)
    assert torch.isfinite(val) and loss.last["box"] > 0 and loss.last["cls"] > 0
    val.backward()
    assert all(p.grad is not None for p in preds)


def test_loss_decreases_when_predicting_the_target():
    loss = _loss(nc=1, box_loss="giou")
    t = torch.tensor([[0, 0, 20.0, 20.0, 16.0, 16.0]])
    p = _preds(n=1, nc=1)
    # optimise the raw maps directly: the loss must go down a lot
    opt = torch.optim.Adam(p, lr=0.1)
    first = None
    for _ in range(60):
        opt.zero_grad()
        v = loss(p, t)
        first = first if first is not None else v.item()
        v.backward()
        opt.step()
    assert v.item() < 0.3 * first


def test_class_weights_scale_the_classification_term():
    t = torch.tensor([[0, 1, 20.0, 20.0, 12.0, 14.0]])
    a, b = _loss(), _loss(class_weights=[1.0, 1.0, 1.0])
    p = _preds()
    assert a(p, t).item() == pytest.approx(b(p, t).item())
    with pytest.raises(ValueError, match="class_weights"):
        _loss(class_weights=[1.0])
    with pytest.raises(ValueError, match="box_loss"):
        _loss(box_loss="l1")
    assert math.isfinite(a.last["obj"])
