"""Video mode on ONNX Runtime component graphs matches the PyTorch session frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgevision.errors import ConfigError, ModelFileError  # noqa: E402
from edgevision.registry import create_model  # noqa: E402
from edgevision.video.ort import OrtVideoSession, is_component_folder  # noqa: E402
from edgevision.video.session import VideoSession  # noqa: E402

TINY = {"width_mult": 0.35, "fpn_channels": 16, "proto_width": 16, "num_protos": 4,
        "flow_width": 16}  # fmt: skip


@pytest.fixture(scope="module")
def model_and_parts(tmp_path_factory):
    from edgevision.export.yolact import export_components

    torch.manual_seed(0)
    m = create_model("yolact_mobilenetv2_320", class_names=["a", "b"], input_size=(64, 64),
                     video=True, **TINY).eval()  # fmt: skip
    folder = tmp_path_factory.mktemp("parts")
    export_components(m, folder, input_size=(64, 64))
    return m, folder


def _frames(n=5):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    return [np.roll(base, 2 * t, axis=1) for t in range(n)]


@pytest.mark.parametrize("reuse_protos", [False, True])
def test_ort_session_matches_torch(model_and_parts, reuse_protos, one_torch_thread):
    m, folder = model_and_parts
    assert is_component_folder(folder)
    kw = dict(keyframes="fixed:3", reuse_protos=reuse_protos, conf_threshold=0.0, max_det=20)
    ts, os_ = VideoSession(m, **kw), OrtVideoSession(folder, threads=1, **kw)
    for frame in _frames():
        a, b = ts(frame), os_(frame)
        assert ts.last.keyframe == os_.last.keyframe
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)
        assert (a.masks != b.masks).mean() < 0.01
    assert os_.counts == ts.counts
    assert os_.counts["non_keyframes"] == 3 and os_.counts["backbone_upper"] == 2
    assert (os_.counts["protonet"] == 2) == reuse_protos


def test_folder_checks(model_and_parts, tmp_path):
    with pytest.raises(ModelFileError, match="not a component folder"):
        OrtVideoSession(tmp_path)
    _, folder = model_and_parts
    import shutil

    noflow = tmp_path / "noflow"
    shutil.copytree(folder, noflow)
    (noflow / "featflownet.onnx").unlink()
    OrtVideoSession(noflow, keyframes="none")  # per-frame mode needs no flow
    with pytest.raises(ConfigError, match="FeatFlowNet"):
        OrtVideoSession(noflow, keyframes="fixed:5")


def test_per_component_precision(model_and_parts, synth_images, tmp_path, capsys, monkeypatch):
    import onnx

    from edgevision.cli.main import main
    from edgevision.video.ort import ComponentSet

    _, folder = model_and_parts
    calib = synth_images(seed=9, size=(64, 64), train=4, val=1)
    out = tmp_path / "mixed"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    rc = main(["quantize", str(folder), "-o", str(out), "--calib-data", str(calib),
               "--calib-size", "3", "--precision", "fpn=fp32,head=fp32", "--quiet"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    # ONNX Runtime's shape inference leaves nothing in the working directory
    assert list(cwd.iterdir()) == []
    parts = ComponentSet(out, threads=1)
    assert parts.precision["backbone_lower"] == "int8" and parts.precision["protonet"] == "int8"
    assert parts.precision["head"] == parts.precision["fpn"] == parts.precision["warp"] == "fp32"
    ops = {n.op_type for n in onnx.load(str(out / "backbone_lower.onnx")).graph.node}
    assert "QuantizeLinear" in ops
    s = OrtVideoSession(parts, keyframes="fixed:2", conf_threshold=0.0, max_det=5)
    for frame in _frames(3):
        res = s(frame)
        assert res.masks.shape[1:] == frame.shape[:2]
    # bad requests: unknown component, INT8 or FP16 warp, quantizing in place
    for prec, msg in (("neck=int8", "unknown component"), ("warp=fp16", "GridSample"),
                      ("warp=int8", "GridSample")):  # fmt: skip
        rc = main(["quantize", str(folder), "-o", str(tmp_path / "x"), "--calib-data",
                   str(calib), "--calib-size", "2", "--precision", prec])  # fmt: skip
        assert rc == 2 and msg in capsys.readouterr().err
    rc = main(["quantize", str(out), "-o", str(tmp_path / "y"), "--calib-data", str(calib)])
    assert rc == 2 and "start from an FP32 folder" in capsys.readouterr().err


def _runtime_precisions(engine) -> set[str]:
    """The precisions OpenVINO's CPU plugin runs an engine's nodes in."""
    ops = engine.compiled.get_runtime_model().get_ops()
    return {op.get_rt_info()["runtimePrecision"].astype(str) for op in ops}


def test_openvino_session_matches_onnxruntime(model_and_parts):
    pytest.importorskip("openvino")
    _, folder = model_and_parts
    kw = dict(keyframes="fixed:3", conf_threshold=0.0, max_det=20)
    ref = OrtVideoSession(folder, threads=1, **kw)
    got = OrtVideoSession(folder, threads=1, backend="openvino", **kw)
    assert {e.backend for e in got.parts.engines.values()} == {"openvino"}
    assert got.parts.describe()["backend"] == "openvino (components)"
    for frame in _frames():
        a, b = ref(frame), got(frame)
        assert ref.last.keyframe == got.last.keyframe
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)
        assert (a.masks != b.masks).mean() < 0.01
    assert got.counts == ref.counts and got.counts["non_keyframes"] == 3
    with pytest.raises(ConfigError, match="component folders run on onnxruntime or openvino"):
        OrtVideoSession(folder, backend="tensorrt")


def test_openvino_keeps_per_component_precision(model_and_parts, synth_images, tmp_path):
    """A mixed folder on OpenVINO: the INT8 files run INT8 kernels, the FP32 ones float, and
    each component's outputs stay close to ONNX Runtime's on the same file."""
    pytest.importorskip("openvino")
    from edgevision.preprocess import preprocess
    from edgevision.quantize.component_folders import quantize_components
    from edgevision.video.ort import ComponentSet, OrtOps

    _, folder = model_and_parts
    calib = synth_images(seed=9, size=(64, 64), train=4, val=1)
    mixed = tmp_path / "mixed"
    quantize_components(
        folder, mixed, {"fpn": "fp32", "head": "fp32"}, default="int8", calib_data=calib,
        calib_size=3, threads=1,
    )  # fmt: skip
    ort_parts = ComponentSet(mixed, threads=1)
    ov_parts = ComponentSet(mixed, threads=1, backend="openvino")
    assert ov_parts.precision == ort_parts.precision
    assert ov_parts.precision["backbone_lower"] == "int8" and ov_parts.precision["fpn"] == "fp32"
    assert {"i8", "u8"} & _runtime_precisions(ov_parts.engines["backbone_lower"])
    assert not {"i8", "u8"} & _runtime_precisions(ov_parts.engines["fpn"])
    x, _ = preprocess(_frames(1)[0], ort_parts.spec)
    ref, got = OrtOps(ort_parts), OrtOps(ov_parts)

    def close(a, b, tol):
        err = np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12)
        assert err < tol, err

    tol = 0.1  # INT8 on two engines: requantization rounds differently (3-6 % measured)
    c3 = ref.lower(x)
    close(got.lower(x), c3, tol)
    c4, c5 = ref.upper(c3)
    for a, b in zip(got.upper(c3), (c4, c5)):
        close(a, b, tol)
    pyr, t4 = ref.fpn(c3, c4, c5)
    for a, b in zip(got.fpn(c3, c4, c5)[0], pyr):
        close(a, b, 1e-3)  # an FP32 component: float rounding only
    close(got.protonet(pyr[0]), ref.protonet(pyr[0]), tol)


def test_fp16_components_for_a_gpu_provider(model_and_parts, synth_images, tmp_path, capsys):
    """--precision COMP=fp16 writes FP16 graphs (float32 at their edges) for the CUDA
    provider; ONNX Runtime's CPU provider runs them here, close to the FP32 session."""
    import onnx
    from onnx import TensorProto

    from edgevision.cli.main import main
    from edgevision.video.ort import ComponentSet

    _, folder = model_and_parts
    calib = synth_images(seed=9, size=(64, 64), train=2, val=1)
    out = tmp_path / "half"
    rc = main(["quantize", str(folder), "-o", str(out), "--calib-data", str(calib),
               "--precision", "fpn=fp16,head=fp16,default=fp32", "--quiet"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    parts = ComponentSet(out, threads=1)
    assert parts.precision["fpn"] == parts.precision["head"] == "fp16"
    assert parts.precision["backbone_lower"] == parts.precision["warp"] == "fp32"
    assert parts.level == "mixed"
    head = onnx.load(str(out / "head.onnx"))
    assert {t.data_type for t in head.graph.initializer} >= {TensorProto.FLOAT16}
    assert {i.type.tensor_type.elem_type for i in [*head.graph.input, *head.graph.output]} == {
        TensorProto.FLOAT
    }
    kw = dict(keyframes="none", conf_threshold=0.0, max_det=20)
    ref, half = OrtVideoSession(folder, threads=1, **kw), OrtVideoSession(parts, **kw)
    for frame in _frames(2):
        a, b = ref(frame), half(frame)
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=2e-2)
