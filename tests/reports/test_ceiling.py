"""The machine's measured FP32 3x3-convolution throughput in ONNX Runtime."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from edgevision.reports.ceiling import conv_ceiling


def test_ceiling_is_positive_and_per_shape():
    c = conv_ceiling(1, shapes=[(16, 24, 32)], depth=2, runs=2, warmup=1)
    assert c.gflops_per_s > 0 and list(c.per_shape) == ["16x24x32"] and c.threads == 1
