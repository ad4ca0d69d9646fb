from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import BackendUnavailable, ModelFileError
from edgevision.runtime import Engine, Predictor, list_backends, load_engine
from edgevision.runtime import base as runtime_base


def test_onnx_engine_reads_spec_and_runs(tiny_onnx):
    eng = load_engine(tiny_onnx, threads=1)
    assert isinstance(eng, Engine)
    assert eng.backend == "onnxruntime" and eng.precision == "fp32"
    assert eng.spec.name == "deeplabv3plus_mobilenetv2" and eng.spec.input_size == (64, 96)
    out = eng.run(np.zeros((2, 3, 64, 96), np.float32))
    assert out[0].shape == (2, 11, 16, 24)  # native 1/4 resolution
    assert eng.num_params() > 1000
    assert eng.describe()["providers"] == ["CPUExecutionProvider"]


def test_predictor_runs_both_backends_with_stage_timings(tiny_onnx):
    pytest.importorskip("torch")
    from edgevision.export.onnx import resolve_model

    img = np.random.default_rng(0).integers(0, 255, (70, 100, 3), dtype=np.uint8)
    onnx_res = Predictor(load_engine(tiny_onnx))(img)
    assert onnx_res.class_map.shape == (70, 100)
    model = resolve_model("deeplabv3plus_mobilenetv2", width_mult=0.35, aspp_channels=32)
    pred = Predictor(load_engine(model, backend="torch"), input_size=(64, 96))
    torch_res, stages = pred.timed(img)
    assert torch_res.class_map.shape == (70, 100)
    assert set(stages) == {"preprocess", "inference", "postprocess"}
    assert all(v >= 0 for v in stages.values())


def test_torch_engine_from_checkpoint_matches_onnx(tmp_path):
    torch = pytest.importorskip("torch")
    from edgevision.checkpoint import save_checkpoint
    from edgevision.export import export_onnx
    from edgevision.registry import create_model

    m = create_model(
        "deeplabv3plus_mobilenetv2", width_mult=0.35, aspp_channels=16, input_size=(64, 64)
    )
    ckpt = save_checkpoint(tmp_path / "m.pt", m)
    export_onnx(ckpt, tmp_path / "m.onnx")
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    a = Predictor(load_engine(ckpt))(img)
    b = Predictor(load_engine(tmp_path / "m.onnx"))(img)
    assert (a.class_map == b.class_map).mean() > 0.999
    assert torch.get_num_threads() == 2


def test_bad_targets_give_one_line_errors(tmp_path, tiny_onnx):
    bogus = tmp_path / "model.onnx"
    bogus.write_text("definitely not protobuf")
    with pytest.raises(ModelFileError, match="not a valid ONNX model"):
        load_engine(bogus)
    with pytest.raises(ModelFileError, match="not found"):
        load_engine(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="needs an .onnx file"):
        load_engine("deeplabv3plus_mobilenetv2", backend="onnxruntime")
    with pytest.raises(ModelFileError, match="cannot run an ONNX file"):
        load_engine(tiny_onnx, backend="torch")
    weird = tmp_path / "model.tflite"
    weird.write_text("x")
    with pytest.raises(ModelFileError, match="unsupported model file type"):
        load_engine(weird)


def test_onnx_without_metadata_is_rejected(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["images"], ["y"])
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    onnx.save(helper.make_model(g), tmp_path / "plain.onnx")
    with pytest.raises(ModelFileError, match="no edgevision metadata"):
        load_engine(tmp_path / "plain.onnx")


def test_missing_backend_and_provider_raise_with_install_hint(monkeypatch, tiny_onnx):
    monkeypatch.setattr(runtime_base.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'edgevision\[onnx\]'"):
        load_engine(tiny_onnx)
    monkeypatch.undo()
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
            load_engine(tiny_onnx, providers=["cuda"])
    assert list_backends()["onnxruntime"] is True
