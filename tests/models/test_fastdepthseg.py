"""FastDepthSeg: output shapes, depth range, size at the registry defaults."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgevision.registry import create_model  # noqa: E402


def _tiny(**kw):
    return create_model(
        "fastdepthseg_mobilenetv2",
        class_names=["a", "b", "c"],
        width_mult=0.35,
        head_channels=8,
        **kw,
    ).eval()


def test_outputs_at_half_resolution_and_depth_in_range():
    m = _tiny(max_depth=5.0)
    with torch.no_grad():
        logits, depth = m(torch.randn(2, 3, 70, 98))
    assert logits.shape == (2, 3, 35, 49) and depth.shape == (2, 1, 35, 49)
    assert float(depth.min()) > 0 and float(depth.max()) < 5.0
    assert len(m.decoder) == 4  # + refine = the five NNConv layers
    with pytest.raises(Exception, match="max_depth"):
        _tiny(max_depth=0.0)


def test_default_model_is_under_2_5_mb_fp32():
    m = create_model("fastdepthseg_mobilenetv2")
    assert sum(p.numel() for p in m.parameters()) * 4 < 2.5e6
