"""QAT: fake-quant fine-tuning through the Trainer, QDQ export, INT8 kernels in ORT."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from edgevision.errors import ConfigError, DataError  # noqa: E402
from edgevision.export.metadata import read_metadata, read_spec  # noqa: E402
from edgevision.quantize.ptq import QUANT_KEY  # noqa: E402
from edgevision.quantize.qat import QATConfig, quantize_qat  # noqa: E402


@pytest.fixture(scope="module")
def synth(synth_images):
    return synth_images(seed=5, size=(64, 64), train=4, val=1)


@pytest.fixture
def tiny_ckpt(synth, tmp_path):
    from edgevision.checkpoint import save_checkpoint
    from edgevision.data.semantic import SemanticFolder
    from edgevision.registry import create_model

    torch.manual_seed(0)
    names = SemanticFolder(synth, "train").class_names
    model = create_model(
        "deeplabv3plus_mobilenetv2",
        width_mult=0.35,
        aspp_channels=16,
        class_names=names,
        input_size=(64, 64),
    )
    return save_checkpoint(tmp_path / "fp32.pt", model)


def test_qat_exports_qdq_that_ort_runs_with_int8_kernels(
    synth, tiny_ckpt, tmp_path, one_torch_thread
):
    import onnx
    import onnxruntime as ort

    out = tmp_path / "qat.onnx"
    res = quantize_qat(
        tiny_ckpt,
        out,
        synth,
        qat=QATConfig(epochs=1, batch_size=2, lr=1e-6),
        check_images=2,
        progress=False,
    )
    ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    assert ops["QuantizeLinear"] > 20 and ops["DequantizeLinear"] > 20
    assert ops["BatchNormalization"] == 0  # folded before QAT
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    opt = Counter(n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node)
    assert opt["QLinearConv"] >= 0.9 * ops["Conv"] > 0  # convs run as INT8 kernels
    # ReLU6 (MobileNetV2) is fused like ReLU: no Conv -> Q -> DQ -> Clip chain left, which
    # ORT would run as an FP32 Clip between extra Q/DQ pairs
    assert ops["Clip"] == 0 and opt["Clip"] == 0, (ops, opt)
    meta = read_metadata(out)
    assert meta["edgevision.precision"] == "int8"
    rec = json.loads(meta[QUANT_KEY])
    assert rec["mode"] == "qat" and rec["qat"]["steps"] == 2
    assert read_spec(out) == tiny_ckpt_onnx_spec(tiny_ckpt)
    assert res.mode == "qat" and res.size_mb < 0.6 * res.fp32_size_mb  # INT8 weights stored
    # a near-zero learning rate keeps the model close to FP32
    assert res.error["sqnr_db"] > 10.0, res.error


def tiny_ckpt_onnx_spec(path):
    from edgevision.checkpoint import read_spec as ckpt_spec

    return ckpt_spec(path)


def test_qat_rejects_mismatched_classes_and_tiny_split(synth, tmp_path):
    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model

    model = create_model(
        "deeplabv3plus_mobilenetv2", width_mult=0.35, aspp_channels=16, input_size=(64, 64)
    )
    ck = save_checkpoint(tmp_path / "camvid_classes.pt", model)
    with pytest.raises(ConfigError, match="classes"):
        quantize_qat(ck, tmp_path / "x.onnx", synth, qat=QATConfig(batch_size=2), progress=False)
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(DataError, match="fewer than batch_size 8"):  # 4 training images
        quantize_qat(ck, tmp_path / "x.onnx", synth, progress=False)
    assert not (tmp_path / "x.onnx").exists()


def _avgpool_qdq(shape_of_params):
    """x -> Q -> DQ -> AveragePool -> Q -> DQ with per-tensor params of the given shape."""
    from onnx import TensorProto, helper

    def params(tag):
        return [
            helper.make_tensor(f"s{tag}", TensorProto.FLOAT, shape_of_params, [0.05]),
            helper.make_tensor(f"z{tag}", TensorProto.UINT8, shape_of_params, [128]),
        ]

    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s0", "z0"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s0", "z0"], ["xd"]),
        helper.make_node("AveragePool", ["xd"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("QuantizeLinear", ["p", "s1", "z1"], ["pq"]),
        helper.make_node("DequantizeLinear", ["pq", "s1", "z1"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        initializer=params(0) + params(1),
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_one_element_qdq_params_become_scalars_so_fused_int8_kernels_load(tmp_path):
    """torch exports per-tensor Q/DQ parameters as shape [1]; ONNX Runtime's fused
    QLinearAveragePool refuses those (seen on DDRNet's DAPPM), scalars load."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from edgevision.quantize.qat import scalarize_qdq_params

    proto = _avgpool_qdq([1])
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(Exception, match="must be a scalar"):
        ort.InferenceSession(str(bad), providers=["CPUExecutionProvider"])
    assert scalarize_qdq_params(proto) == 4
    good = tmp_path / "good.onnx"
    onnx.save(proto, str(good))
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    y = ort.InferenceSession(str(good), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ref = ort.InferenceSession(
        str(good), providers=["CPUExecutionProvider"],
        sess_options=_no_opt(ort),
    ).run(None, {"x": x})[0]  # fmt: skip
    np.testing.assert_allclose(y, ref, atol=0.051)


def _no_opt(ort):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return so


def test_qat_cosine_schedule_and_frozen_observers(
    synth, tiny_ckpt, tmp_path, one_torch_thread, monkeypatch
):
    """freeze_observers=N disables every observer after epoch N (the quantization grids stop
    moving); the recipe is recorded in the file."""
    import torch.ao.quantization as tq

    calls = []
    real = tq.disable_observer

    def spy(mod):
        calls.append(type(mod).__name__)
        return real(mod)

    monkeypatch.setattr(tq, "disable_observer", spy)
    out = tmp_path / "qat.onnx"
    quantize_qat(
        tiny_ckpt,
        out,
        synth,
        qat=QATConfig(epochs=2, batch_size=2, lr=1e-4, schedule="cosine", freeze_observers=1),
        check_images=1,
        progress=False,
    )
    assert any("FakeQuantize" in c for c in calls), calls[:5]
    rec = json.loads(read_metadata(out)[QUANT_KEY])["qat"]
    assert rec["schedule"] == "cosine" and rec["freeze_observers"] == 1 and rec["steps"] == 4
    with pytest.raises(ConfigError, match="freeze_observers"):
        QATConfig(epochs=2, freeze_observers=2)


@pytest.mark.parametrize(
    "name", ["ddrnet23_slim", "deeplabv3plus_mobilenetv2", "espnet", "liteseg_mobilenetv2"]
)
def test_every_segmentation_model_prepares_for_qat(name):
    """`edgevision compare` runs QAT on each segmentation model: each must trace with
    torch.fx (input checks are leaves, not control flow) and keep its output."""
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.qat import prepare_qat
    from edgevision.registry import create_model

    torch.manual_seed(0)
    model = create_model(name).eval()
    prepared = prepare_qat(model, QuantConfig(), (64, 64))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = prepared.eval()(x)
    assert out.shape[-2:] == (64, 64) or out.shape[-2:] == model(x).shape[-2:]
    assert torch.isfinite(out).all()


def test_conv_transpose_bn_folding_keeps_the_output(randomize_batchnorm):
    from torch.fx.experimental.optimization import fuse

    from edgevision.quantize.qat import fold_conv_transpose_bn

    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(3, 4, 2, stride=2, bias=False),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
    )
    randomize_batchnorm(m[1])
    m.eval()
    x = torch.randn(2, 3, 8, 8)
    g = fold_conv_transpose_bn(fuse(m))
    assert not any(isinstance(v, torch.nn.BatchNorm2d) for v in g.modules())
    assert torch.allclose(g(x), m(x), atol=1e-5)


def test_conv_relu6_becomes_a_fusable_conv_relu_that_still_clamps_at_6():
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.qat import CappedMinMaxObserver, prepare_qat

    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU6(),
        torch.nn.Conv2d(8, 8, 1),
        torch.nn.ReLU6(),
    ).eval()
    with torch.no_grad():
        m[0].weight.mul_(10)  # most first-layer activations far above 6
    x = torch.randn(4, 3, 16, 16)
    prepared = prepare_qat(m, QuantConfig(), (16, 16))
    assert not any(isinstance(v, torch.nn.ReLU6) for v in prepared.modules())
    capped = [v for v in prepared.modules() if isinstance(v, CappedMinMaxObserver)]
    assert len(capped) == 2  # the output observer of each Conv + ReLU6 pair, not the input
    with torch.no_grad():
        prepared.train()(x)  # observe
        out = prepared.eval()(x)
        ref = m(x)
        assert float(m[:3](x).max()) == 6.0  # the case the cap exists for
    for obs in capped:
        scale, zp = obs.calculate_qparams()
        assert int(zp) == 0 and float(scale) * 255 <= 6.0 + 1e-5
    assert float(out.max()) <= 6.0 + 1e-5
    err = (out - ref).abs()
    assert float(err.max()) < 0.25 and float(err.mean()) < 0.05  # ReLU6 up to 8-bit grids


class _ScaledSigmoid(torch.nn.Module):
    """``80 * sigmoid(conv(x))``: FastDepthSeg's depth output (``keyword``: as
    ``torch.mul(sigmoid, other=80)``)."""

    def __init__(self, keyword: bool = False) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
        self.keyword = keyword

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.conv(x))
        return torch.mul(s, other=80.0) if self.keyword else 80.0 * s


@pytest.mark.parametrize("keyword", [False, True])
def test_a_number_times_a_tensor_gets_its_own_quantization_range(keyword, tmp_path):
    import onnx
    from onnx import numpy_helper

    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.qat import prepare_qat

    torch.manual_seed(0)
    m = _ScaledSigmoid(keyword).eval()
    x = torch.randn(4, 3, 16, 16)
    prepared = prepare_qat(m, QuantConfig(), (16, 16))
    with torch.no_grad():
        prepared.train()(x)  # observe
        out = prepared.eval()(x)
        ref = m(x)
    nodes = list(prepared.graph.nodes)
    (sig,) = [n for n in nodes if n.target is torch.sigmoid]
    (mul,) = next(iter(sig.users)).users  # sigmoid -> its fake quant -> mul
    fq_sig = prepared.get_submodule(str(next(iter(sig.users)).target))
    fq_mul = prepared.get_submodule(str(next(iter(mul.users)).target))
    assert fq_sig is not fq_mul
    s_sig, s_mul = float(fq_sig.calculate_qparams()[0]), float(fq_mul.calculate_qparams()[0])
    assert s_sig * 255 <= 1.0 + 1e-6  # the sigmoid's 0-1 range, not the product's
    assert s_mul == pytest.approx(80 * s_sig, rel=0.02)
    # one shared range put the sigmoid on a handful of levels: errors of units out of 80
    assert float((out - ref).abs().max()) < 1.0  # two 8-bit grids, each 80/255 wide

    from edgevision.quantize.qat import export_qdq

    path = tmp_path / "m.onnx"
    export_qdq(prepared, path, SimpleNamespace(input_size=(16, 16)), ["out"])
    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    scales, cur = [], g.output[0].name
    while cur in prod:
        node = prod[cur]
        if node.op_type == "QuantizeLinear":
            scales.append((node.input[0], float(init[node.input[1]].reshape(-1)[0])))
        cur = node.input[0]
    assert len({s for _, s in scales}) == len(scales) >= 2  # the product and the sigmoid


# ------------------------------------------------------------------------------------------
# every task: the task's own training parts, its deploy adapter
# ------------------------------------------------------------------------------------------
TINY = {
    "yolo_ret_m075": {"neck_channels": 16, "rfcr_channels": 8},
    "yolact_mobilenetv2_320": {
        "width_mult": 0.35,
        "fpn_channels": 32,
        "proto_width": 32,
        "num_protos": 8,
        "anchor_scales": [10, 19, 32, 45, 58],
    },
}


@pytest.mark.parametrize("name", list(TINY))
def test_qat_of_detectors_and_yolact_matches_the_fp32_export(
    name, synth, tmp_path, one_torch_thread
):
    """QAT runs the task's loader and loss; the QDQ file returns what the FP32 export does
    (same outputs, shapes, postprocess) and stays close to it at a tiny learning rate."""
    import numpy as np

    from edgevision.checkpoint import save_checkpoint
    from edgevision.data.coco import CocoDataset, coco_layout
    from edgevision.export import export_onnx
    from edgevision.io import read_image
    from edgevision.registry import create_model
    from edgevision.runtime import Predictor, load_engine
    from edgevision.tasks import get_task

    torch.manual_seed(0)
    names = CocoDataset(*coco_layout(synth, "train"), masks=False).class_names
    model = create_model(name, class_names=names, input_size=(64, 64), **TINY[name])
    ck = save_checkpoint(tmp_path / "fp32.pt", model)
    out = tmp_path / "qat.onnx"
    del ck  # a module works as well as a file, and is left as it was
    res = quantize_qat(
        model, out, synth, qat=QATConfig(epochs=1, batch_size=2, lr=1e-7), check_images=2,
        progress=False,
    )  # fmt: skip
    assert getattr(getattr(model, "head", None), "raw_output", False) is False
    assert res.mode == "qat" and res.nodes["quantized_ops"] > 10
    assert read_spec(out).task == get_task(model.spec.task).name
    fp32 = export_onnx(create_model(name, class_names=names, input_size=(64, 64), **TINY[name]),
                       tmp_path / "ref.onnx").path  # fmt: skip
    import onnxruntime as ort

    x = np.zeros((1, 3, 64, 64), np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )
    assert [g.shape for g in got] == [r.shape for r in ref]
    names = [o.name for o in ort.InferenceSession(str(out)).get_outputs()]
    assert names == [o.name for o in ort.InferenceSession(str(fp32)).get_outputs()]
    assert np.isfinite(res.error["sqnr_db"]), res.error
    image = read_image(sorted((synth / "images" / "val").iterdir())[0])
    result = Predictor(load_engine(out))(image)  # the runtime's postprocess reads it
    assert type(result).__name__ == get_task(model.spec.task).result_type


@pytest.mark.parametrize("name", ["deeplabv3plus_mobilenetv2", *TINY])
def test_qat_deploy_adapter_without_fake_quant_equals_the_fp32_deploy_graph(name):
    """With fake quantization off, the traced training graph behind the task's adapter
    computes what the FP32 export traces (the adapter adds no other change)."""
    import copy

    from edgevision.export.onnx import deploy_module
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.qat import prepare_qat
    from edgevision.registry import create_model
    from edgevision.tasks import get_task

    torch.manual_seed(0)
    kw = TINY.get(name, {"width_mult": 0.35, "aspp_channels": 16})
    model = create_model(name, input_size=(64, 64), **kw).eval()
    ref_module, _ = deploy_module(copy.deepcopy(model))
    deploy = get_task(model.spec.task).load("qat_deploy")
    deploy.before_trace(model)
    prepared = prepare_qat(model, QuantConfig(mode="qat"), (64, 64))
    prepared.apply(torch.ao.quantization.disable_fake_quant)
    prepared.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got, ref = deploy(prepared, model)(x), ref_module(x)
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, atol=1e-4, rtol=1e-4)  # BN folded: float rounding
