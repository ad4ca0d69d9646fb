"""DDRNet-23-slim: structure, outputs per mode, size/FLOPs, gradients, ONNX export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from edgevision.bench.flops import torch_flops  # noqa: E402
from edgevision.models.layers import DAPPM  # noqa: E402
from edgevision.registry import create_model  # noqa: E402

TINY = {"planes": 8, "spp_planes": 16, "head_planes": 16}


def test_full_size_params_flops_and_eval_stride():
    m = create_model("ddrnet23_slim").eval()  # CamVid: 11 classes
    n_params = sum(p.numel() for p in m.parameters())
    assert 5.6e6 <= n_params <= 5.9e6, n_params  # paper: 5.7 M
    # FLOPs = 2 x MACs; the paper's 36.3 "GFLOPs" at 1024x2048 are MACs (= 72.5 GFLOPs here)
    with torch.no_grad():
        out = m(torch.randn(1, 3, 96, 128))
    assert out.shape == (1, 11, 12, 16)  # logits at 1/8
    fc = torch_flops(m.to("meta"), (1, 3, 360, 480))  # counted on meta tensors: instant
    assert 5.9e9 <= fc.flops <= 6.3e9, fc.flops


def test_train_mode_returns_aux_and_odd_sizes_work():
    m = create_model("ddrnet23_slim", class_names=["a", "b", "c"], **TINY).train()
    out = m(torch.randn(2, 3, 70, 90))  # not a multiple of 64
    assert set(out) == {"out", "aux"}
    assert out["out"].shape == out["aux"].shape == (2, 3, 9, 12)  # ceil(H/8), ceil(W/8)
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 70, 90)).shape == (1, 3, 9, 12)
    no_aux = create_model("ddrnet23_slim", aux_head=False, **TINY).train()
    assert isinstance(no_aux(torch.randn(2, 3, 64, 64)), torch.Tensor)
    assert not any(k.startswith("aux_head.") for k in no_aux.state_dict())


def test_backward_gives_finite_grads_everywhere():
    torch.manual_seed(0)
    m = create_model("ddrnet23_slim", class_names=["a", "b", "c"], **TINY).train()
    x = torch.randn(2, 3, 64, 96)
    target = torch.randint(0, 3, (2, 64, 96))
    out = m(x)
    loss = sum(
        w * F.cross_entropy(F.interpolate(out[k], size=(64, 96), mode="bilinear"), target)
        for k, w in (("out", 1.0), ("aux", 0.4))
    )
    loss.backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_dappm_keeps_shape_at_tiny_and_odd_sizes():
    d = DAPPM(16, 8, 12).eval()
    for h, w in ((1, 2), (3, 5), (6, 8)):
        with torch.no_grad():
            assert d(torch.randn(2, 16, h, w)).shape == (2, 12, h, w)


def test_onnx_export_matches_torch_on_two_shapes(tmp_path):
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx

    rep = export_onnx("ddrnet23_slim", tmp_path / "ddr.onnx", input_size=(64, 96), **TINY)
    assert len({tuple(c["input"]) for c in rep.checks}) == 2
    assert all(c["max_abs_err"] < 1e-3 for c in rep.checks)
