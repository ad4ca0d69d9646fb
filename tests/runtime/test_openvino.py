"""OpenVINO backend: same outputs as ONNX Runtime on our files, one-line errors, bench."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("openvino")

from edgevision.errors import ConfigError, ModelFileError
from edgevision.runtime import Predictor, load_engine


def test_f32_matches_onnxruntime_and_the_predictor_runs(tiny_onnx):
    ov = load_engine(tiny_onnx, backend="openvino", threads=1)
    ort = load_engine(tiny_onnx, backend="onnxruntime", threads=1)
    assert ov.backend == "openvino" and ov.spec == ort.spec
    x = np.random.default_rng(0).standard_normal((2, 3, *ort.spec.input_size)).astype(np.float32)
    got, ref = ov.run(x), ort.run(x)
    assert [g.shape for g in got] == [r.shape for r in ref]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-3, rtol=1e-3)
    image = np.zeros((40, 50, 3), np.uint8)
    assert type(Predictor(ov)(image)) is type(Predictor(ort)(image))
    d = ov.describe()
    assert d["backend"] == "openvino" and d["precision_hint"] == "f32"


def test_bad_requests_are_one_line_errors(tiny_onnx, tmp_path):
    with pytest.raises(ConfigError, match="unknown OpenVINO precision 'fp8'"):
        load_engine(tiny_onnx, backend="openvino", precision="fp8")
    with pytest.raises(ConfigError, match="do not apply to the openvino backend"):
        load_engine(tiny_onnx, backend="openvino", layer_precision="head=fp32")
    with pytest.raises(ModelFileError, match="needs an .onnx file"):
        load_engine("deeplabv3plus_mobilenetv2", backend="openvino")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load_engine(bad, backend="openvino")


@pytest.mark.slow
def test_bench_cli_runs_the_openvino_backend(tiny_onnx, tmp_path):
    from edgevision.cli.main import main

    out = tmp_path / "b.json"
    argv = ["bench", str(tiny_onnx), "--backend", "openvino", "--runs", "3", "--warmup", "1",
            "--threads", "1", "--no-stages", "--quiet", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    rec = json.loads(out.read_text())
    rec = rec[0] if isinstance(rec, list) else rec
    assert rec["backend"] == "openvino"
    assert main(["bench", str(tiny_onnx), "--ov-precision", "bf16", "--quiet"]) == 2
