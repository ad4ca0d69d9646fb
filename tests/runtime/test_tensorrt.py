"""TensorRT backend: cache keys, per-component layer mapping, Q/DQ checks, clear errors without
a GPU; engine build + parity with ONNX Runtime where TensorRT and a GPU exist (marked)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edgevision.errors import BackendUnavailable, ConfigError, ModelFileError
from edgevision.runtime.tensorrt import (
    cache_key,
    check_symmetric_qdq,
    layer_components,
    parse_layer_precision,
)

KEY = {
    "model_sha256": "ab" * 32,
    "trt_version": "10.3.0",
    "gpu": "Orin sm8.7",
    "precision": "int8",
    "layer_precision": {"head": "fp32"},
    "input_shape": (1, 3, 360, 480),
    "workspace_mb": 2048,
}


def test_cache_key_changes_with_everything_that_changes_the_engine():
    base = cache_key(**KEY)
    assert base == cache_key(**{**KEY, "layer_precision": {"head": "fp32"}})
    for field, other in (("model_sha256", "cd" * 32), ("trt_version", "8.6.1"),
                         ("gpu", "RTX 2080 Ti sm7.5"), ("precision", "fp16"),
                         ("layer_precision", {"head": "fp16"}), ("input_shape", (1, 3, 720, 960)),
                         ("workspace_mb", 1024)):  # fmt: skip
        assert cache_key(**{**KEY, field: other}) != base, field
    assert cache_key(**KEY, calib="/data:100") != base


def test_layer_precision_parsing():
    assert parse_layer_precision("fpn=fp32, head=FP16") == {"fpn": "fp32", "head": "fp16"}
    assert parse_layer_precision({"head": "int8"}) == {"head": "int8"}
    assert parse_layer_precision(None) == {}
    with pytest.raises(ConfigError, match="unknown precision 'bf16'"):
        parse_layer_precision("head=bf16")
    with pytest.raises(ConfigError, match="not COMPONENT=PRECISION"):
        parse_layer_precision("head")


def test_layers_map_to_the_component_of_their_onnx_node():
    nodes = {"/backbone/conv1/Conv": "backbone", "/head/cls/Conv": "head", "/Resize": "(other)"}
    names = ["/backbone/conv1/Conv", "/head/cls/Conv_output_0_cast", "/Resize", "Reformat 3"]
    assert layer_components(names, nodes) == ["backbone", "head", "(other)", "(other)"]


def _qdq_model(zp_type: int, zp: int):
    from onnx import TensorProto, helper

    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zero = helper.make_tensor("z", zp_type, [], [zp])
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0")
    dq = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq0")
    graph = helper.make_graph(
        [q, dq], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[scale, zero],
    )  # fmt: skip
    return helper.make_model(graph)


def test_tensorrt_refuses_asymmetric_qdq(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto

    check_symmetric_qdq(_qdq_model(TensorProto.INT8, 0), tmp_path / "ok.onnx")
    for zp_type, zp in ((TensorProto.UINT8, 128), (TensorProto.INT8, 3)):
        with pytest.raises(ModelFileError, match="activation-type s8 --weight-type s8"):
            check_symmetric_qdq(_qdq_model(zp_type, zp), tmp_path / "u8.onnx")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT here")
def test_without_tensorrt_one_clear_line(tiny_onnx, tmp_path, capsys):
    from edgevision.cli.main import main
    from edgevision.runtime import load_engine

    with pytest.raises(BackendUnavailable, match="pip install tensorrt"):
        load_engine(tiny_onnx, backend="tensorrt")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="needs an .onnx file"):
        load_engine(ckpt, backend="tensorrt")
    with pytest.raises(ConfigError, match="precision do not apply to the onnxruntime backend"):
        load_engine(tiny_onnx, precision="fp16")
    assert main(["bench", str(tiny_onnx), "--backend", "tensorrt", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TensorRT" in err[0]
    assert main(["bench", str(tiny_onnx), "--trt-precision", "fp16", "--quiet"]) == 2
    assert "need --backend tensorrt" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.trt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime_and_is_cached(tiny_onnx, tmp_path, precision):
    from edgevision.runtime import load_engine

    ort = load_engine(tiny_onnx, backend="onnxruntime", threads=1)
    trt = load_engine(tiny_onnx, backend="tensorrt", precision=precision, cache=tmp_path)
    assert not trt.describe()["cache_hit"]
    x = np.random.default_rng(0).standard_normal(trt.input_shape).astype(np.float32)
    a, b = ort.run(x)[0], trt.run(x)[0]
    tol = 1e-3 if precision == "fp32" else 5e-2
    assert np.abs(a - b).max() <= tol * max(1.0, float(np.abs(a).max()))
    again = load_engine(tiny_onnx, backend="tensorrt", precision=precision, cache=tmp_path)
    assert again.describe()["cache_hit"]
    np.testing.assert_array_equal(again.run(x)[0], b)
