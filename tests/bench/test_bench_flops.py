"""FLOP / parameter counting: hand-computed golden values on tiny graphs."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgevision.bench.flops import onnx_flops, onnx_params  # noqa: E402
from edgevision.errors import ModelFileError  # noqa: E402


def _model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _init(name, shape, dtype=np.float32):
    rng = np.random.default_rng(0)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)


def conv_gemm_model():
    """x (N,3,8,8) -> Conv 3->8 k3 s2 p1 (+bias) -> Relu -> flatten -> Gemm 128->10 (transB)."""
    shp = numpy_helper.from_array(np.array([0, -1], np.int64), "shp")
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shp"], ["f"]),
        helper.make_node("Gemm", ["f", "G", "GB"], ["y"], transB=1),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [
            _init("W", (8, 3, 3, 3)),
            _init("B", (8,)),
            _init("G", (10, 128)),
            _init("GB", (10,)),
            shp,
        ],
    )


def test_conv_gemm_golden():
    fc = onnx_flops(conv_gemm_model(), (2, 3, 8, 8))
    conv = 2 * (2 * 8 * 4 * 4) * (3 * 3 * 3)  # 2 * N*Cout*Hout*Wout * Cin*kh*kw = 13824
    gemm = 2 * (2 * 10) * 128  # 2 * M*N*K = 5120
    assert fc.by_op["Conv"] == conv == 13824
    assert fc.by_op["Gemm"] == gemm == 5120
    assert fc.flops == conv + gemm
    assert fc.macs == (conv + gemm) // 2
    assert fc.other_flops == 2 * 8 * 4 * 4  # Relu: one per output element
    # weights + biases; the int64 Reshape constant is not a parameter
    assert fc.params == 8 * 3 * 9 + 8 + 10 * 128 + 10 == 1514
    assert fc.uncounted == []
    assert fc.input_shape == (2, 3, 8, 8)
    # batch scales linearly
    assert onnx_flops(conv_gemm_model(), (1, 3, 8, 8)).flops * 2 == fc.flops


def test_grouped_transposed_and_matmul():
    nodes = [
        # depthwise 3x3 on 4 channels: Cin/groups = 1
        helper.make_node("Conv", ["x", "Wd"], ["d"], group=4, pads=[1, 1, 1, 1]),
        # ConvTranspose 4->2, k2 s2: 2 * N*Cin*Hin*Win * (Cout/groups)*kh*kw
        helper.make_node("ConvTranspose", ["d", "Wt"], ["u"], strides=[2, 2]),
        # MatMul (N,2,12,12) x (12,5): 2 * prod(out) * K
        helper.make_node("MatMul", ["u", "M"], ["y"]),
    ]
    m = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 12, 5])],
        [_init("Wd", (4, 1, 3, 3)), _init("Wt", (4, 2, 2, 2)), _init("M", (12, 5))],
    )
    fc = onnx_flops(m, (1, 4, 6, 6))
    assert fc.by_op["Conv"] == 2 * (4 * 6 * 6) * (1 * 9)
    assert fc.by_op["ConvTranspose"] == 2 * (4 * 6 * 6) * (2 * 2 * 2)
    assert fc.by_op["MatMul"] == 2 * (2 * 12 * 5) * 12
    assert fc.params == 36 + 32 + 60


def test_int8_qdq_counts_the_same_macs(tmp_path):
    quant = pytest.importorskip("onnxruntime.quantization")
    src = tmp_path / "fp32.onnx"
    onnx.save(conv_gemm_model_static(), src)

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.data = iter(
                [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]
            )

        def get_next(self):
            return next(self.data, None)

    dst = tmp_path / "int8.onnx"
    quant.quantize_static(str(src), str(dst), Reader(), quant_format=quant.QuantFormat.QDQ)
    q = onnx.load(str(dst))
    assert any(n.op_type == "DequantizeLinear" for n in q.graph.node)
    fp, i8 = onnx_flops(src, (1, 3, 8, 8)), onnx_flops(dst, (1, 3, 8, 8))
    assert i8.flops == fp.flops
    # scales / zero points are not parameters; int8 weights + int32 biases are
    assert i8.params == fp.params


def conv_gemm_model_static():
    m = conv_gemm_model()
    m.graph.input[0].type.tensor_type.shape.dim[0].Clear()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    return m


def test_qlinearconv_counts_like_conv():
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.uint8), "z")
    wz = numpy_helper.from_array(np.array(0, np.int8), "wz")
    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.int8), "w")
    nodes = [
        helper.make_node(
            "QLinearConv", ["x", "s", "z", "w", "s", "wz", "s", "z"], ["y"], pads=[1, 1, 1, 1]
        )
    ]
    m = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 8, 5, 5])],
        [s, z, wz, w],
    )
    fc = onnx_flops(m)  # static shapes: no input_shape needed
    assert fc.flops == 2 * (8 * 5 * 5) * (3 * 9)
    assert onnx_params(m) == 8 * 3 * 9


def test_dynamic_input_needs_a_shape_and_rank_must_match():
    with pytest.raises(ModelFileError, match="dynamic shape"):
        onnx_flops(conv_gemm_model())
    with pytest.raises(ModelFileError, match="rank"):
        onnx_flops(conv_gemm_model(), (3, 8, 8))


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_text("not a protobuf")
    with pytest.raises(ModelFileError, match="not an ONNX file"):
        onnx_flops(bad, (1, 3, 8, 8))
    with pytest.raises(ModelFileError, match="not found"):
        onnx_params(tmp_path / "missing.onnx")


def test_torch_counter_matches_onnx_graph():
    torch = pytest.importorskip("torch")
    from edgevision.bench.flops import torch_flops

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, 2, 1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    ).eval()
    fc = torch_flops(net, (2, 3, 8, 8))
    assert fc.flops == onnx_flops(conv_gemm_model(), (2, 3, 8, 8)).flops == 18944
    assert fc.params == 1514
