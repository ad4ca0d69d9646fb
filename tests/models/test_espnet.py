"""ESPNet v1: ESP module, full-resolution output, size, gradients, ONNX export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from edgevision.bench.flops import torch_flops  # noqa: E402
from edgevision.models.layers import ESPModule  # noqa: E402
from edgevision.registry import create_model  # noqa: E402

TINY = {"p": 1, "q": 1}


def test_full_size_params_and_full_resolution_output():
    m = create_model("espnet").eval()
    n_params = sum(p.numel() for p in m.parameters())
    assert 0.34e6 <= n_params <= 0.37e6, n_params  # paper: 0.364 M (19/20 classes)
    with torch.no_grad():
        out = m(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 11, 64, 96)  # the decoder upsamples back to the input size
    fc = torch_flops(m.to("meta"), (1, 3, 360, 480))  # FLOPs = 2 x MACs
    assert 2.4e9 <= fc.flops <= 2.8e9, fc.flops


def test_esp_module_split_hff_and_residual():
    esp = ESPModule(64, 64)
    assert esp.residual and [c.dilation[0] for c in esp.split] == [1, 2, 4, 8, 16]
    assert sum(c.out_channels for c in esp.split) == 64  # 16 + 4 x 12
    assert esp(torch.randn(2, 64, 9, 11)).shape == (2, 64, 9, 11)
    down = ESPModule(19, 64, stride=2)
    assert not down.residual and down(torch.randn(1, 19, 9, 11)).shape == (1, 64, 5, 6)
    # HFF: with the rate-1 branch silenced, output block k (k >= 2) = block k-1 + branch k
    e = ESPModule(10, 10, residual=False).eval()
    torch.nn.init.zeros_(e.split[0].weight)
    e.act = torch.nn.Identity()  # type: ignore[assignment]
    x = torch.randn(1, 10, 6, 6)
    with torch.no_grad():
        y, r = e(x), e.reduce(x)
        b2, b3 = e.split[1](r), e.split[2](r)
    assert torch.allclose(y[:, 2:4], b2) and torch.allclose(y[:, 4:6], b2 + b3, atol=1e-6)


def test_input_size_must_be_multiple_of_8():
    m = create_model("espnet", **TINY).eval()
    with pytest.raises(ValueError, match="divisible by 8"):
        m(torch.randn(1, 3, 60, 96))


def test_backward_gives_finite_grads():
    torch.manual_seed(0)
    m = create_model("espnet", class_names=["a", "b", "c"], **TINY).train()
    out = m(torch.randn(2, 3, 64, 96))
    target = torch.randint(0, 3, (2, 64, 96))
    F.cross_entropy(out, target).backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_onnx_export_matches_torch_on_two_shapes(tmp_path):
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx

    rep = export_onnx("espnet", tmp_path / "esp.onnx", input_size=(64, 96), **TINY)
    assert len({tuple(c["input"]) for c in rep.checks}) == 2
    assert all(c["max_abs_err"] < 1e-3 for c in rep.checks)


def test_fewer_classes_than_esp_branches():
    m = create_model("espnet", class_names=["a", "b"], **TINY).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32)).shape == (1, 2, 32, 32)
