"""The YOLOv8n speed reference: the architecture's size, output layout and class priors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def test_reference_matches_yolov8n_size(one_torch_thread):
    from edgevision.bench.flops import torch_flops
    from edgevision.reports.reference import YOLOV8N_PARAMS, YOLOv8nReference

    m = YOLOv8nReference().eval()
    # Ultralytics counts the 16 fixed DFL weights as parameters; ours are a buffer
    assert sum(p.numel() for p in m.parameters()) + 16 == YOLOV8N_PARAMS
    gflops = torch_flops(m, (1, 3, 640, 640)).gflops
    assert 8.5 <= gflops <= 8.9, gflops  # YOLOv8n: 8.7 GFLOPs at 640
    with torch.no_grad():
        out = m(torch.zeros(1, 3, 320, 320))
    # (40² + 20² + 10²) positions, 4 box + 1 objectness + 80 classes
    assert out.shape == (1, 2100, 85)
    # class priors: nothing passes a 0.25 score threshold on a blank image
    assert float(out[0, :, 4].max()) < 0.05
