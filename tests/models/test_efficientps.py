"""The light EfficientPS: output shapes, the two-way FPN, size at the registry defaults."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgevision.models.layers.fpn import TwoWayFPN  # noqa: E402
from edgevision.registry import create_model  # noqa: E402


def test_outputs_at_quarter_resolution_with_centres_in_0_1():
    m = create_model(
        "efficientps_mobilenetv2",
        class_names=["bg", "a", "b"],
        thing_classes=["a", "b"],
        width_mult=0.35,
        fpn_channels=16,
        head_channels=16,
    ).eval()
    with torch.no_grad():
        logits, center, offset = m(torch.randn(2, 3, 72, 100))  # odd sizes round up
    assert logits.shape == (2, 3, 18, 25)
    assert center.shape == (2, 1, 18, 25) and offset.shape == (2, 2, 18, 25)
    assert float(center.min()) >= 0 and float(center.max()) <= 1
    assert m.spec.task == "panoptic" and m.spec.model_kwargs["thing_classes"] == ["a", "b"]


def test_two_way_fpn_mixes_both_directions():
    fpn = TwoWayFPN((4, 8, 16), channels=8).eval()
    feats = [torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    with torch.no_grad():
        base = fpn(feats)
        # top-down: the coarsest input reaches the finest output
        top = fpn([feats[0], feats[1], feats[2] + 1.0])
        # bottom-up: the finest input reaches the coarsest output
        bottom = fpn([feats[0] + 1.0, feats[1], feats[2]])
    assert [tuple(p.shape) for p in base] == [(1, 8, 16, 16), (1, 8, 8, 8), (1, 8, 4, 4)]
    assert not torch.allclose(base[0], top[0]) and not torch.allclose(base[2], bottom[2])


def test_default_model_is_under_5_mb_fp32():
    m = create_model("efficientps_mobilenetv2")
    assert sum(p.numel() for p in m.parameters()) * 4 < 5e6
