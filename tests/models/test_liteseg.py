"""LiteSeg-MobileNetV2: structure, output stride, size, gradients, ONNX export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from edgevision.bench.flops import torch_flops  # noqa: E402
from edgevision.models.layers import DASPP  # noqa: E402
from edgevision.registry import create_model  # noqa: E402

TINY = {"width_mult": 0.35, "daspp_channels": 16}


def test_full_size_params_and_eval_stride():
    m = create_model("liteseg_mobilenetv2").eval()
    n_params = sum(p.numel() for p in m.parameters())
    # paper: 4.38 M with 19 classes, including MobileNetV2's unused 1.28 M ImageNet classifier
    assert 3.0e6 <= n_params <= 3.2e6, n_params
    with torch.no_grad():
        out = m(torch.randn(1, 3, 96, 128))
    assert out.shape == (1, 11, 24, 32)  # logits at 1/4
    assert m.backbone.strides["c5"] == 32 and m.backbone.out_channels["c5"] == 1280
    fc = torch_flops(m.to("meta"), (1, 3, 360, 480))  # FLOPs = 2 x MACs
    assert 2.7e9 <= fc.flops <= 3.1e9, fc.flops


def test_daspp_concatenates_input_with_branches():
    d = DASPP(32, 8, 12, rates=(3, 6, 9)).eval()
    assert d.project[0].in_channels == 32 + 8 * 5  # input + 1x1 + 3 dilated + image pooling
    with torch.no_grad():
        assert d(torch.randn(2, 32, 3, 5)).shape == (2, 12, 3, 5)


def test_backward_gives_finite_grads():
    torch.manual_seed(0)
    m = create_model("liteseg_mobilenetv2", class_names=["a", "b", "c"], **TINY).train()
    out = m(torch.randn(2, 3, 64, 96))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 16, 24)
    target = torch.randint(0, 3, (2, 64, 96))
    F.cross_entropy(F.interpolate(out, size=(64, 96), mode="bilinear"), target).backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_onnx_export_matches_torch_on_two_shapes(tmp_path):
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx

    rep = export_onnx("liteseg_mobilenetv2", tmp_path / "ls.onnx", input_size=(64, 96), **TINY)
    assert len({tuple(c["input"]) for c in rep.checks}) == 2
    assert all(c["max_abs_err"] < 1e-3 for c in rep.checks)
