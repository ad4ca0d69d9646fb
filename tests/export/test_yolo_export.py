"""YOLO export adapter: the in-graph NMS variant agrees with the numpy post-processing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.registry import create_model  # noqa: E402

TINY_RET = {"neck_channels": 16, "rfcr_channels": 8}


def test_in_graph_nms_export_matches_numpy_path(tmp_path, one_torch_thread):
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx
    from edgevision.export.yolo import export_onnx_nms
    from edgevision.runtime import Predictor, load_engine

    torch.manual_seed(0)
    # one class: the in-graph NMS scores every class of a position (multi-label), the numpy
    # path its best class only; with one class both are the same set
    m = create_model("yolo_ret_m075", class_names=["a"], input_size=(64, 64), **TINY_RET)
    with torch.no_grad():
        for conv in m.head.m:
            conv.bias.view(3, -1)[:, 4] = 3.0
    rep = export_onnx_nms(
        m, tmp_path / "nms.onnx", conf_threshold=0.3, iou_threshold=0.5, max_det=1000
    )
    assert [c["output"] for c in rep.checks][:2] == ["boxes", "scores"]
    export_onnx(m, tmp_path / "plain.onnx")
    img = np.random.default_rng(0).uniform(0, 255, (90, 120, 3)).astype(np.uint8)
    a = Predictor(load_engine(tmp_path / "nms.onnx", threads=1))(img)
    b = Predictor(
        load_engine(tmp_path / "plain.onnx", threads=1),
        conf_threshold=0.3,
        iou_threshold=0.5,
        max_det=1000,
    )(img)
    assert len(a) > 0 and a.image_size == (90, 120)
    # same detections up to the order of equal scores: compare the score multisets per class
    sa, sb = np.sort(a.scores), np.sort(b.scores)
    assert len(sa) == len(sb) and np.allclose(sa, sb, atol=1e-4)
