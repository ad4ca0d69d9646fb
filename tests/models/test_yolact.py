"""YOLACT: registry variants, outputs vs priors, ONNX export, Predictor -> InstanceMasks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.errors import ConfigError  # noqa: E402
from edgevision.postprocess.yolact import make_priors  # noqa: E402
from edgevision.registry import create_model, get_entry, list_models  # noqa: E402

TINY = {"width_mult": 0.35, "fpn_channels": 16, "proto_width": 16, "num_protos": 4}


def test_registered_variants():
    names = list_models("yolact*")
    assert {"yolact_r50", "yolact_r101", "yolact_mobilenetv2", "yolact_mobilenetv2_320"} <= set(
        names
    )
    for n in names:
        e = get_entry(n)
        assert e.task == "instance" and e.postprocess == "yolact"


@pytest.mark.parametrize("backbone", ["mobilenetv2", "resnet18"])
def test_forward_shapes_match_priors(backbone, one_torch_thread):
    from edgevision.models.instance.yolact import build_yolact

    m = build_yolact(
        num_classes=3,
        backbone=backbone,
        width_mult=0.25,
        fpn_channels=16,
        proto_width=16,
        num_protos=4,
    ).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, 64, 96))
    p = len(make_priors((64, 96)))
    assert out["loc"].shape == (2, p, 4) and out["conf"].shape == (2, p, 4)
    assert out["coef"].shape == (2, p, 4) and out["coef"].abs().max() <= 1
    assert out["proto"].shape == (2, 16, 24, 4) and out["proto"].min() >= 0
    assert out["seg"].shape == (2, 3, 8, 12)
    # the split used by video mode gives the same result as the plain forward
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 96)
        c3 = m.lower(x)
        ref = m.predict(m.fpn(c3, *m.upper(c3)))["loc"]
        assert torch.allclose(ref, m(x)["loc"])


def test_r50_builds_with_paper_layout():
    m = create_model("yolact_r50", class_names=["a"])
    assert m.spec.input_size == (550, 550)
    assert m.backbone_upper[-1][-1].body[-1][0].out_channels == 2048  # C5 of ResNet-50
    with pytest.raises(ValueError):
        from edgevision.models.instance.yolact import build_yolact

        build_yolact(num_classes=1, backbone="vgg16")


def test_onnx_export_predictor_and_detect_only(tmp_path, one_torch_thread):
    from edgevision import Predictor
    from edgevision.export import export_onnx
    from edgevision.results import Detections, InstanceMasks
    from edgevision.runtime import load_engine

    m = create_model("yolact_mobilenetv2_320", class_names=["a", "b"], input_size=(64, 96), **TINY)
    rep = export_onnx(m, tmp_path / "y.onnx")
    assert {c["output"] for c in rep.checks} == {"boxes", "scores", "coeffs", "protos"}
    pred = Predictor(load_engine(tmp_path / "y.onnx", threads=1), conf_threshold=0.0, max_det=7)
    img = np.random.default_rng(0).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    res = pred(img)
    assert isinstance(res, InstanceMasks) and len(res) == 7 and res.masks.shape == (7, 50, 80)
    assert np.all(res.boxes[:, 2] <= 80) and np.all(np.diff(res.scores) <= 0)
    # detection-only graph: no ProtoNet, Detections out
    adapter = m.eval().export_adapter(detect_only=True)
    with torch.no_grad():
        outs = [o.numpy() for o in adapter(torch.randn(1, 3, 64, 96))]
    assert len(outs) == 2
    from edgevision.postprocess.yolact import yolact_postprocess
    from edgevision.preprocess import Transform

    (det,) = yolact_postprocess(
        outs,
        m.spec,
        [Transform((64, 96), (64, 96), (1.0, 1.0), (0, 0))],
        masks=False,
        conf_threshold=0.0,
    )
    assert type(det) is Detections and len(det) > 0


def test_export_adapter_keeps_eval_mode():
    m = create_model("yolact_mobilenetv2_320", class_names=["a"], **TINY).eval()
    a = m.export_adapter()
    a.train(True)
    a.train(False)
    assert not a.training and not m.training


def test_loss_matching_and_parts(one_torch_thread):
    from edgevision.losses.yolact import InstanceTargets, YolactLoss

    m = create_model("yolact_mobilenetv2_320", class_names=["a", "b"], input_size=(64, 64), **TINY)
    crit = YolactLoss(2, anchor_scales=m.anchor_scales, aspect_ratios=m.aspect_ratios)
    pri = crit.priors((64, 64), torch.device("cpu"))
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.6]])
    cls, gt = crit.match(pri, boxes, torch.tensor([1]))
    assert (cls == 2).sum() >= 1 and set(cls.unique().tolist()) <= {-1, 0, 2}
    # empty image: every prior is background
    cls0, _ = crit.match(pri, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert (cls0 == 0).all()
    masks = torch.zeros(1, 64, 64)
    masks[0, 6:38, 6:32] = 1
    t = InstanceTargets(
        [boxes, torch.zeros(0, 4)],
        [torch.tensor([1]), torch.zeros(0, dtype=torch.long)],
        [masks, torch.zeros(0, 64, 64)],
    )
    out = m(torch.randn(2, 3, 64, 64))
    loss = crit(out, t)
    assert torch.isfinite(loss) and set(crit.last) == {"box", "cls", "mask", "semantic"}
    assert all(v > 0 for v in crit.last.values())
    loss.backward()
    assert m.protonet.post[-2].weight.grad.abs().sum() > 0  # masks train the prototypes


def test_bad_kwargs_raise():
    with pytest.raises(ConfigError):
        create_model("yolact_mobilenetv2", class_names=["a"], no_such_arg=1)
