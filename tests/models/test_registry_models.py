"""Every registered model builds from the registry, runs on a tiny input and exports."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgevision.registry import create_model, get_entry, list_models  # noqa: E402

# small constructor overrides per model so the sweep stays fast on 2 cores
TINY_KWARGS: dict[str, dict] = {
    "deeplabv3plus_mobilenetv2": {"width_mult": 0.35, "aspp_channels": 16},
    "ddrnet23_slim": {"planes": 8, "spp_planes": 16, "head_planes": 16},
    "espnet": {"p": 1, "q": 1},
    "liteseg_mobilenetv2": {"width_mult": 0.35, "daspp_channels": 16},
}


@pytest.mark.parametrize("name", list_models())
def test_builds_runs_and_declares_components(name):
    m = create_model(name, class_names=["a", "b", "c"], **TINY_KWARGS.get(name, {})).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, 64, 96))
    if m.spec.task == "semantic":
        # logits at the model's native resolution: the input divided by an integer stride
        n, c, h, w = out.shape
        assert (n, c) == (2, 3) and 64 % h == 0 and 96 % w == 0 and 64 // h == 96 // w
    entry = get_entry(name)
    for comp in entry.components:
        assert any(k.startswith(comp + ".") for k in m.state_dict()), comp


def test_mobilenetv2_truncation_and_output_stride():
    from edgevision.models.backbones import MobileNetV2

    full = MobileNetV2(width_mult=0.5)
    assert full.strides == {"c1": 2, "c2": 4, "c3": 8, "c4": 16, "c5": 32}
    feats = full(torch.randn(1, 3, 64, 64))
    assert feats["c5"].shape[-1] == 2 and feats["c3"].shape[1] == full.out_channels["c3"]
    os16 = MobileNetV2(width_mult=0.5, output_stride=16)
    assert os16.strides["c5"] == 16 and os16(torch.randn(1, 3, 64, 64))["c5"].shape[-1] == 4
    trunc = MobileNetV2(width_mult=0.5, truncate=4)  # drops 320 and the three 160 blocks
    assert "c5" not in trunc.out_channels and trunc.out_channels["c4"] == 48
    with pytest.raises(ValueError):
        MobileNetV2(truncate=17)
