"""Fixtures of the video-mode tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def fp32_and_mixed(tmp_path_factory, synth_images):
    """A tiny YOLACT video model's FP32 component folder and a mixed one (INT8, FPN and
    head FP32), shared by the video-mode tests."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgevision.export.yolact import export_components
    from edgevision.quantize.component_folders import quantize_components
    from edgevision.registry import create_model

    torch.manual_seed(0)
    m = create_model("yolact_mobilenetv2_320", class_names=["a", "b"], input_size=(64, 64),
                     video=True, width_mult=0.35, fpn_channels=16, proto_width=16,
                     num_protos=4, flow_width=16).eval()  # fmt: skip
    root = tmp_path_factory.mktemp("components")
    export_components(m, root / "fp32", input_size=(64, 64))
    calib = synth_images(seed=9, size=(64, 64), train=3, val=1)
    quantize_components(root / "fp32", root / "mixed", {"fpn": "fp32", "head": "fp32"},
                        calib_data=calib, calib_size=3, default="int8", threads=1)  # fmt: skip
    return root / "fp32", root / "mixed"
