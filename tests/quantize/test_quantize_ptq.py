"""Static / dynamic PTQ on a tiny DeepLabV3+: QDQ present, close to FP32, metadata kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from edgevision.data.images import list_images
from edgevision.errors import ConfigError, DataError, ModelFileError
from edgevision.export.metadata import SPEC_KEY, read_metadata, read_spec
from edgevision.quantize import QuantConfig, output_error, quantize_model
from edgevision.quantize.calibration import ImageFolderReader
from edgevision.quantize.ptq import QUANT_KEY, run_outputs


def _ops(path: Path) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.fixture(scope="module")
def calib(synth_images) -> Path:
    return synth_images(seed=3, size=(64, 96), train=6, val=2)


@pytest.mark.parametrize("method", ["minmax", "percentile"])  # entropy: see below
def test_static_qdq_close_to_fp32_and_keeps_metadata(tiny_onnx, calib, tmp_path, method):
    out = tmp_path / f"q_{method}.onnx"
    res = quantize_model(
        tiny_onnx,
        out,
        QuantConfig(method=method, calib_size=4),
        calib_data=calib,
        progress=False,
    )
    ops = _ops(out)
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    assert res.nodes["quantized_ops"] == ops.count("QuantizeLinear")
    # output within INT8 error of FP32 on real (calibration) images
    assert res.error["sqnr_db"] > 15.0, res.error
    assert res.error["argmax_agreement"] > 0.9
    # metadata: the same spec plus the quantization record
    assert read_spec(out) == read_spec(tiny_onnx)
    meta = read_metadata(out)
    assert meta["edgevision.precision"] == "int8"
    rec = json.loads(meta[QUANT_KEY])
    assert rec["mode"] == "static" and rec["method"] == method and rec["calib_size"] == 4
    assert rec["activation_type"] == "u8" and rec["weight_type"] == "s8"
    assert SPEC_KEY in meta
    # smaller than FP32 (weights in INT8)
    assert res.size_mb < 0.6 * res.fp32_size_mb


def test_static_s8s8_weight_and_activation_types(tiny_onnx, calib, tmp_path):
    import onnx

    out = tmp_path / "s8.onnx"
    quantize_model(
        tiny_onnx,
        out,
        QuantConfig(calib_size=2, activation_type="s8"),
        calib_data=calib,
        progress=False,
    )
    g = onnx.load(str(out)).graph
    zps = {i.name: i for i in g.initializer if i.name.endswith("zero_point")}
    q_inputs = [n for n in g.node if n.op_type == "QuantizeLinear"]
    dtypes = {zps[n.input[2]].data_type for n in q_inputs if n.input[2] in zps}
    assert dtypes == {onnx.TensorProto.INT8}


def test_dynamic_mode_writes_int8_model(tiny_onnx, calib, tmp_path):
    out = tmp_path / "dyn.onnx"
    res = quantize_model(
        tiny_onnx,
        out,
        QuantConfig(mode="dynamic", calib_size=2),
        calib_data=calib,
        measure=False,
        progress=False,
    )
    ops = _ops(out)
    assert "DynamicQuantizeLinear" in ops or "ConvInteger" in ops
    assert json.loads(read_metadata(out)[QUANT_KEY])["mode"] == "dynamic"
    assert res.error["sqnr_db"] > 15.0


def test_output_error_measures():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    same = output_error(ref, ref)
    assert same["sqnr_db"] == float("inf") and same["argmax_agreement"] == 1.0
    noisy = output_error(ref, ref + 0.1 * rng.standard_normal(ref.shape).astype(np.float32))
    assert 15 < noisy["sqnr_db"] < 25  # 10·log10(1 / 0.01) = 20 dB
    assert noisy["rel_l2"] == pytest.approx(0.1, rel=0.2)


def test_calibration_reader_uses_spec_preprocessing(tiny_onnx, calib):
    spec = read_spec(tiny_onnx)
    reader = ImageFolderReader(calib, spec, count=3)
    assert len(reader) == 3
    feeds = []
    while (f := reader.get_next()) is not None:
        feeds.append(f["images"])
    assert len(feeds) == 3 and feeds[0].shape == (1, 3, *spec.input_size)
    assert feeds[0].dtype == np.float32 and abs(float(feeds[0].mean())) < 3.0
    reader.rewind()
    assert reader.get_next() is not None
    # the same data runs through the FP32 model
    assert run_outputs(tiny_onnx, reader.data[:1]).shape[0] == 1


def test_calibration_reports_its_feeds(tiny_onnx, calib):
    """Calibration is the long step of static PTQ: a line per 10 % of the feeds handed out."""
    import io

    from edgevision.progress import ProgressLines

    reader = ImageFolderReader(calib, read_spec(tiny_onnx), count=3)
    reader.progress = ProgressLines("calibration", len(reader), stream=(buf := io.StringIO()))
    while reader.get_next() is not None:
        pass
    assert [ln.split()[1] for ln in buf.getvalue().splitlines()] == ["1/3", "2/3", "3/3"]


def test_plain_image_folder_is_accepted(calib, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    plain.mkdir()
    for f in list_images(calib)[:2]:
        shutil.copy(f, plain / f.name)
    assert len(list_images(plain)) == 2
    with pytest.raises(DataError, match="split 'calib' not found.*train, val"):
        list_images(calib, "calib")


def test_bad_calibration_inputs(tiny_onnx, calib, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "x.onnx"
    with pytest.raises(DataError, match="not found"):
        quantize_model(tiny_onnx, out, calib_data=tmp_path / "nope", progress=False)
    with pytest.raises(DataError, match="no images"):
        quantize_model(tiny_onnx, out, calib_data=empty, progress=False)
    with pytest.raises(DataError, match="fewer than --calib-size"):
        quantize_model(
            tiny_onnx, out, QuantConfig(calib_size=500), calib_data=calib, progress=False
        )
    gray = tmp_path / "gray"
    gray.mkdir()
    import cv2

    cv2.imwrite(str(gray / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="3-channel"):
        quantize_model(tiny_onnx, out, QuantConfig(calib_size=1), calib_data=gray, progress=False)
    with pytest.raises(ConfigError, match="calib"):
        quantize_model(tiny_onnx, out, calib_data=None, progress=False)
    assert not out.exists()
    assert not list(tmp_path.glob(".x.onnx*"))  # no half-written file


def test_already_quantized_or_foreign_onnx_rejected(tiny_onnx, calib, tmp_path):
    import onnx

    q = tmp_path / "q.onnx"
    quantize_model(tiny_onnx, q, QuantConfig(calib_size=1), calib_data=calib, progress=False)
    with pytest.raises(ModelFileError, match="already quantized"):
        quantize_model(q, tmp_path / "qq.onnx", calib_data=calib, progress=False)
    bare = onnx.load(str(tiny_onnx))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelFileError, match="no edgevision metadata"):
        quantize_model(tmp_path / "bare.onnx", tmp_path / "b.onnx", calib_data=calib)


def test_entropy_calibration_is_not_minmax(tiny_onnx, calib, tmp_path):
    """ORT's EntropyCalibrater defaults (128 bins) degenerate to min-max; ours must not."""
    import onnx
    from onnx import numpy_helper

    def scales(path):
        g = onnx.load(str(path)).graph
        return {
            i.name: numpy_helper.to_array(i) for i in g.initializer if i.name.endswith("_scale")
        }

    got = {}
    for method in ("minmax", "entropy"):
        out = tmp_path / f"{method}.onnx"
        quantize_model(
            tiny_onnx,
            out,
            QuantConfig(method=method, calib_size=2),
            calib_data=calib,
            progress=False,
        )
        got[method] = scales(out)
    a, b = got["minmax"], got["entropy"]
    changed = [k for k in a if k in b and not np.allclose(a[k], b[k])]
    assert len(changed) > 5


def test_standalone_batchnorm_becomes_a_depthwise_conv_with_the_same_output(
    tmp_path, randomize_batchnorm
):
    """DDRNet's pre-activation BN -> ReLU -> Conv leaves BNs that no conv precedes; ORT has
    no INT8 BatchNormalization, so the pre-quantization pass rewrites them as depthwise 1x1
    convolutions (quantizable) without changing the output."""
    import onnx
    import onnxruntime as ort
    import torch

    from edgevision.quantize.ptq import preprocess_for_quant

    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.BatchNorm2d(8),  # after a ReLU: cannot fold into a conv
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 1),
    )
    randomize_batchnorm(m[2])
    m.eval()
    src, dst = tmp_path / "m.onnx", tmp_path / "pre.onnx"
    x = torch.randn(2, 3, 16, 16)
    torch.onnx.export(m, (x,), str(src), dynamo=False, opset_version=17, input_names=["images"])
    assert "BatchNormalization" in _ops(src)
    preprocess_for_quant(src, dst)
    ops = _ops(dst)
    assert "BatchNormalization" not in ops and ops.count("Conv") == 3
    onnx.checker.check_model(onnx.load(str(dst)))

    def run(p):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return s.run(None, {"images": x.numpy()})[0]

    np.testing.assert_allclose(run(dst), run(src), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(run(dst), m(x).numpy(), rtol=1e-4, atol=1e-5)


def test_nncf_engine_writes_qdq_that_both_engines_run(tiny_onnx, calib, tmp_path):
    pytest.importorskip("nncf")
    out = tmp_path / "q_nncf.onnx"
    res = quantize_model(
        tiny_onnx, out, QuantConfig(engine="nncf", calib_size=4), calib_data=calib, progress=False
    )
    ops = _ops(out)
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    assert res.error["argmax_agreement"] > 0.9, res.error
    # activations per tensor (ONNX Runtime's QLinearConv refuses per-channel input zero
    # points); weights per channel
    import onnx

    g = onnx.load(str(out)).graph
    shapes = {t.name: list(t.dims) for t in g.initializer}
    act = [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] not in shapes]
    assert act and all(shapes[n.input[1]] == [] for n in act)
    deq = [n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in shapes]
    assert any(len(shapes[n.input[1]]) == 1 and shapes[n.input[1]][0] > 1 for n in deq)
    rec = json.loads(read_metadata(out)[QUANT_KEY])
    assert rec["tool"] == "nncf" and rec["mode"] == "static"
    assert read_spec(out) == read_spec(tiny_onnx)
    from edgevision.runtime import load_engine

    x = ImageFolderReader(calib, read_spec(tiny_onnx), count=2).data
    ort_out = load_engine(out, backend="onnxruntime").run(x)[0]
    if pytest.importorskip("openvino"):
        ov_out = load_engine(out, backend="openvino").run(x)[0]
        assert (ort_out.argmax(1) == ov_out.argmax(1)).mean() > 0.9
    with pytest.raises(ConfigError, match="static quantizer"):
        QuantConfig(engine="nncf", mode="dynamic")


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("efficientps_mobilenetv2",
         {"width_mult": 0.35, "fpn_channels": 16, "head_channels": 16,
          "thing_classes": ["circle", "star"]}),
        ("fastdepthseg_mobilenetv2", {"width_mult": 0.35, "head_channels": 8}),
    ],
)  # fmt: skip
def test_static_ptq_of_the_multi_head_dense_models_keeps_every_output(
    name, kwargs, calib, tmp_path
):
    """Panoptic and depthseg models: every output quantized and kept, the postprocess still
    runs on the INT8 file."""
    import onnx

    from edgevision.data.synth import SEMANTIC_CLASSES
    from edgevision.export import export_onnx
    from edgevision.io import read_image
    from edgevision.registry import create_model
    from edgevision.runtime import Predictor, load_engine

    model = create_model(name, class_names=list(SEMANTIC_CLASSES), input_size=(64, 96), **kwargs)
    export_onnx(model, tmp_path / "fp32.onnx")
    res = quantize_model(
        tmp_path / "fp32.onnx", tmp_path / "int8.onnx", QuantConfig(calib_size=4),
        calib_data=calib, progress=False,
    )  # fmt: skip
    fp32_outputs = [o.name for o in onnx.load(str(tmp_path / "fp32.onnx")).graph.output]
    assert [o.name for o in onnx.load(str(tmp_path / "int8.onnx")).graph.output] == fp32_outputs
    assert _ops(tmp_path / "int8.onnx").count("QuantizeLinear") > 10
    assert res.error["sqnr_db"] > 15.0, res.error
    image = read_image(list_images(calib / "images" / "val")[0])
    result = Predictor(load_engine(tmp_path / "int8.onnx"))(image)
    assert type(result).__name__ == get_result_type(name)
    assert result.class_map.shape == image.shape[:2]


def get_result_type(name: str) -> str:
    from edgevision.registry import get_entry
    from edgevision.tasks import get_task

    return get_task(get_entry(name).task).result_type
