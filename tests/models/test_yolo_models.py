"""YOLOv5-style and YOLO-ReT detectors: shapes, options, export + runtime round trip."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.registry import create_model, get_entry  # noqa: E402

DETECTORS = ["yolov5n", "yolov5s", "yolo_ret_m075", "yolo_ret_m100", "yolo_ret_m140"]
TINY_RET = {"neck_channels": 16, "rfcr_channels": 8}


@pytest.mark.parametrize("name", DETECTORS)
def test_registered_as_detectors(name):
    e = get_entry(name)
    assert e.task == "detect" and e.postprocess == "yolo" and e.resize == "letterbox"
    assert e.input_size[0] % 32 == 0 and e.input_size[1] % 32 == 0


@pytest.mark.parametrize(
    "name,kw",
    [
        ("yolov5n", {"stem": "focus"}),
        ("yolov5n", {"stem": "conv6x6"}),
        ("yolo_ret_m075", {**TINY_RET, "neck": "none", "rfcr": False, "truncate": 0}),
        ("yolo_ret_m075", {**TINY_RET, "neck": "panet", "shortcut": False}),
        ("yolo_ret_m075", {**TINY_RET, "neck": "fpn", "truncate": 3}),
    ],
)
def test_train_and_eval_outputs(name, kw, one_torch_thread):
    m = create_model(name, class_names=["a", "b", "c"], **kw)
    x = torch.randn(2, 3, 64, 96)
    raw = m.train()(x)
    # raw maps per level: (N, na, H/s, W/s, 5 + C) at strides 8, 16, 32
    assert [tuple(r.shape) for r in raw] == [(2, 3, 8, 12, 8), (2, 3, 4, 6, 8), (2, 3, 2, 3, 8)]
    with torch.no_grad():
        y = m.eval()(x)
    assert y.shape == (2, 3 * (96 + 24 + 6), 8)
    assert float(y.min()) >= 0 and float(y.max()) <= 1  # sigmoid scores


def test_focus_and_conv6x6_stems_differ_only_in_stem():
    a = create_model("yolov5n", stem="focus")
    b = create_model("yolov5n", stem="conv6x6")
    ka = {k for k in a.state_dict() if not k.startswith("backbone.stem")}
    kb = {k for k in b.state_dict() if not k.startswith("backbone.stem")}
    assert ka == kb
    assert a.spec.model_kwargs["stem"] == "focus"


def test_truncation_and_rfcr_change_the_model():
    base = create_model("yolo_ret_m075", truncate=0, rfcr=False)
    trunc = create_model("yolo_ret_m075", truncate=2, rfcr=False)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(trunc) < n(base)
    rf = create_model("yolo_ret_m075", truncate=2, rfcr=True)
    assert any(k.startswith("rfcr.") for k in rf.state_dict())
    assert not any(k.startswith("rfcr.") for k in trunc.state_dict())
    with pytest.raises(ValueError, match="truncate"):
        create_model("yolo_ret_m075", truncate=4)


def test_rfcr_redistributes_to_every_scale(one_torch_thread):
    from edgevision.models.layers.rfcr import RFCR

    r = RFCR([8, 16, 24, 32], [4, 8, 16, 32], channels=8, out_indices=(1, 2, 3), shortcut=True)
    feats = [torch.randn(1, c, 64 // s, 64 // s) for c, s in zip([8, 16, 24, 32], [4, 8, 16, 32])]
    outs = r(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 24, 8, 8), (1, 32, 4, 4), (1, 40, 2, 2)]
    assert r.out_channels == [24, 32, 40]
    # the stride-32 output depends on the stride-4 input (non-adjacent scales interact)
    feats[0].requires_grad_(True)
    r(feats)[2].sum().backward()
    assert feats[0].grad is not None and float(feats[0].grad.abs().sum()) > 0


def test_bad_anchors_raise():
    with pytest.raises(Exception, match="anchors"):
        create_model("yolov5n", anchors=[[10, 13], [30, 61]])


def test_export_onnx_and_predict_with_letterbox_inverse(tmp_path, one_torch_thread):
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx
    from edgevision.results import Detections
    from edgevision.runtime import Predictor, load_engine

    m = create_model("yolo_ret_m075", class_names=["a", "b"], input_size=(64, 64), **TINY_RET)
    # a head that fires everywhere: large objectness + class-0 biases
    with torch.no_grad():
        for conv in m.head.m:
            b = conv.bias.view(3, -1)
            b[:, 4] = 8.0
            b[:, 5] = 8.0
            b[:, 6] = -8.0
            conv.weight.zero_()
    out = tmp_path / "d.onnx"
    rep = export_onnx(m, out)
    assert all(c["max_abs_err"] < 1e-3 for c in rep.checks)
    pred = Predictor(load_engine(out, threads=1), conf_threshold=0.5, iou_threshold=0.5)
    image = np.zeros((90, 180, 3), np.uint8)  # letterboxed into 64x64 with padding above/below
    det = pred(image)
    assert isinstance(det, Detections) and len(det) > 0
    assert det.image_size == (90, 180)
    assert (det.class_ids == 0).all() and (det.scores > 0.9).all()
    assert det.boxes[:, [0, 2]].min() >= 0 and det.boxes[:, [0, 2]].max() <= 180
    assert det.boxes[:, [1, 3]].min() >= 0 and det.boxes[:, [1, 3]].max() <= 90
    _, times = pred.timed(image)
    assert set(times) == {"preprocess", "inference", "postprocess"}
