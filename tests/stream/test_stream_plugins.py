"""Model plugins: ONNX files, package.module:factory, entry points, registry names, errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import ConfigError, ModelFileError, ModelNotFoundError
from edgevision.results import SemanticMask
from edgevision.stream.plugins import PluginError, load_plugin


def test_onnx_plugin_runs_batches(tiny_onnx):
    p = load_plugin(str(tiny_onnx), threads=1)
    assert p.task == "semantic" and p.max_batch == 4 and p.trained
    frames = [np.zeros((40, 50, 3), np.uint8), np.full((30, 20, 3), 200, np.uint8)]
    x, ctx = p.preprocess(frames)
    out = p.postprocess(p.infer(x), ctx)
    assert [type(r) for r in out] == [SemanticMask, SemanticMask]
    assert out[1].image_size == (30, 20)
    assert p.new_stream(0) is None
    assert p.describe()["backend"] == "onnxruntime"


def test_factory_plugin(stub_module):
    p = load_plugin("evstub:make")
    assert p.name == "stub" and p.max_batch == 4
    assert p.new_stream(3) is None
    s = load_plugin("evstub:Counter")
    session = s.new_stream(1)
    assert session is not None
    r = session(np.zeros((10, 12, 3), np.uint8))
    assert r.image_size == (10, 12)


@pytest.mark.parametrize(
    "target, match",
    [
        ("evstub:broken", "'evstub:broken' failed to load: RuntimeError: weights missing"),
        ("evstub:not_a_plugin", "'evstub:not_a_plugin' is not a ModelPlugin"),
        ("evstub:nothing", "has no callable 'nothing'"),
        ("no_such_module_xyz:make", "cannot import 'no_such_module_xyz'"),
    ],
)
def test_broken_plugins_fail_at_load_naming_the_plugin(stub_module, target, match):
    with pytest.raises(PluginError, match=match):
        load_plugin(target)


def test_entry_point_plugin(stub_module, monkeypatch):
    from importlib.metadata import EntryPoint

    import edgevision.stream.plugins as plugins

    eps = [
        EntryPoint("stubby", "evstub:make", plugins.ENTRY_POINT_GROUP),
        EntryPoint("bad", "evstub:not_a_plugin", plugins.ENTRY_POINT_GROUP),
        EntryPoint("gone", "evstub_missing:make", plugins.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        plugins, "entry_points", lambda group: eps if group == plugins.ENTRY_POINT_GROUP else []
    )
    assert load_plugin("stubby").name == "stub"
    with pytest.raises(PluginError, match=r"'bad \(evstub:not_a_plugin\)' is not a ModelPlugin"):
        load_plugin("bad")
    with pytest.raises(PluginError, match="gone.*failed to import"):
        load_plugin("gone")
    with pytest.raises(ModelNotFoundError, match="stubby"):  # lists the installed ones
        load_plugin("nothing_called_this")


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_plugin(str(tmp_path / "m.onnx"))
    with pytest.raises(ModelFileError, match="not found"):
        load_plugin(str(tmp_path / "m.pt"))


def test_registry_name_untrained_through_onnxruntime(caplog, one_torch_thread):
    pytest.importorskip("torch")
    with caplog.at_level("WARNING", logger="edgevision.stream"):
        p = load_plugin("espnet", threads=1)
    try:
        assert "UNTRAINED" in caplog.text
        assert not p.trained and p.describe()["backend"] == "onnxruntime"
        x, ctx = p.preprocess([np.zeros((32, 48, 3), np.uint8)])
        (r,) = p.postprocess(p.infer(x), ctx)
        assert r.image_size == (32, 48)
    finally:
        p.close()


def test_video_mode_plugin_keeps_a_session_per_stream(one_torch_thread):
    pytest.importorskip("torch")
    from edgevision.results import InstanceMasks
    from edgevision.stream.sample import sample_frames

    p = load_plugin("yolact_mobilenetv2_320", video=True, keyframes="fixed:2", threads=1,
                    propagate="none")  # fmt: skip
    assert p.describe()["mode"] == "video (fixed:2, precision fixed:fp32)" and p.max_batch == 1
    # the default path: DIS medium propagation, a keyframe every 2 frames
    dflt = load_plugin("yolact_mobilenetv2_320", video=True, threads=1)
    assert dflt.describe()["mode"] == (
        "video (fixed:2, masks propagated with dis:medium flow, precision fixed:fp32)"
    )
    a, b = p.new_stream(0), p.new_stream(1)
    assert a is not None and b is not None and a is not b
    frames = sample_frames(size=(96, 128), frames=3)
    out = [a(f) for f in frames]
    assert all(isinstance(r, InstanceMasks) and r.image_size == (96, 128) for r in out)
    assert [a.last.keyframe, b(frames[0]) is not None, b.last.keyframe] == [True, True, True]
    assert a.last.index == 2 and b.last.index == 0  # each stream counts its own frames
    with pytest.raises(ConfigError, match="--video needs a PyTorch model"):
        load_plugin("m.onnx", video=True)


def test_component_folder_plugin_runs_without_torch_engine(tmp_path, one_torch_thread):
    pytest.importorskip("torch")
    from edgevision.export.yolact import export_components
    from edgevision.registry import create_model
    from edgevision.results import InstanceMasks
    from edgevision.stream.sample import sample_frames

    m = create_model("yolact_mobilenetv2_320", class_names=["a"], input_size=(64, 64), video=True,
                     width_mult=0.35, fpn_channels=16, proto_width=16, num_protos=4,
                     flow_width=16)  # fmt: skip
    export_components(m, tmp_path / "parts", input_size=(64, 64))
    p = load_plugin(str(tmp_path / "parts"), video=True, keyframes="fixed:3", threads=1,
                    propagate="none")  # fmt: skip
    d = p.describe()
    assert d["mode"] == "video (fixed:3, precision fixed:fp32)"
    assert d["precision"] == "fp32" and p.max_batch == 1
    s = p.new_stream(0)
    frames = sample_frames(size=(96, 128), frames=4)
    assert all(isinstance(s(f), InstanceMasks) for f in frames)
    assert s.counts["keyframes"] == 2 and s.counts["non_keyframes"] == 2
    # non-keyframes by DIS-flow mask propagation: only keyframes run a graph
    dp = load_plugin(str(tmp_path / "parts"), video=True, keyframes="fixed:3", threads=1,
                     propagate="dis")  # fmt: skip
    assert "masks propagated with dis flow" in dp.describe()["mode"]
    ds = dp.new_stream(0)
    assert all(isinstance(ds(f), InstanceMasks) for f in frames)
    # the share of frames at each precision: propagated frames run no network
    assert dp.describe()["mode"].endswith("precision fixed:fp32: fp32 50 % of frames)")
    assert ds.counts["propagate"] == 2 and ds.counts["backbone_lower"] == 2
    per_frame = load_plugin(str(tmp_path / "parts"), threads=1)
    assert per_frame.describe()["mode"] == "per-frame (precision fixed:fp32)"
    with pytest.raises(ConfigError, match="component folder"):
        load_plugin(str(tmp_path / "parts"), engine="torch")
    with pytest.raises(Exception, match="not a component folder"):
        load_plugin(str(tmp_path))
    # a checkpoint in video mode on ONNX Runtime exports its components on the fly
    from edgevision.checkpoint import save_checkpoint

    ck = save_checkpoint(tmp_path / "v.pt", m)
    q = load_plugin(str(ck), video=True, engine="onnxruntime", threads=1)
    assert isinstance(q.new_stream(0)(frames[0]), InstanceMasks)
    q.close()


def test_component_folder_streams_on_openvino(tmp_path, one_torch_thread):
    """--engine openvino runs a component folder (and a checkpoint in video mode) on
    OpenVINO, with results close to ONNX Runtime's on the same files."""
    pytest.importorskip("torch")
    pytest.importorskip("openvino")
    from edgevision.checkpoint import save_checkpoint
    from edgevision.export.yolact import export_components
    from edgevision.registry import create_model
    from edgevision.stream.sample import sample_frames

    m = create_model("yolact_mobilenetv2_320", class_names=["a"], input_size=(64, 64), video=True,
                     width_mult=0.35, fpn_channels=16, proto_width=16, num_protos=4,
                     flow_width=16)  # fmt: skip
    export_components(m, tmp_path / "parts", input_size=(64, 64))
    kw = dict(
        video=True, keyframes="fixed:2", threads=1, propagate="dis", conf_threshold=0.0, max_det=10
    )
    ov = load_plugin(str(tmp_path / "parts"), engine="openvino", **kw)
    ref = load_plugin(str(tmp_path / "parts"), engine="onnxruntime", **kw)
    assert ov.describe()["backend"] == "openvino (components)"
    assert ref.describe()["backend"] == "onnxruntime (components)"
    a, b = ov.new_stream(0), ref.new_stream(0)
    for f in sample_frames(size=(64, 64), frames=3):
        x, y = a(f), b(f)
        assert len(x) == len(y) > 0
        np.testing.assert_allclose(np.sort(x.scores), np.sort(y.scores), atol=2e-3)
    ck = save_checkpoint(tmp_path / "v.pt", m)
    q = load_plugin(str(ck), engine="openvino", **kw)
    assert q.describe()["backend"] == "openvino (components)"
    q.close()


def test_score_threshold_reaches_the_postprocessor(tiny_onnx, one_torch_thread):
    """``edgevision run --conf``: instance/detection models keep only objects scoring at
    least the threshold (video mode too); a semantic model refuses it."""
    pytest.importorskip("torch")
    from edgevision.stream.sample import sample_frames

    with pytest.raises(ConfigError, match="applies to detection and instance models"):
        load_plugin(str(tiny_onnx), threads=1, conf_threshold=0.3)
    frame = sample_frames(size=(96, 128), frames=1)[0]
    scores = {}
    for conf in (0.0, 0.9):
        p = load_plugin("yolact_mobilenetv2_320", video=True, threads=1, conf_threshold=conf)
        scores[conf] = np.asarray(p.new_stream(0)(frame).scores)
    assert len(scores[0.0]) > len(scores[0.9])
    assert all((s >= c).all() for c, s in scores.items())
    # a detector (task "detect") takes it too
    det = load_plugin("yolov5n", threads=1, conf_threshold=0.0)
    try:
        x, ctx = det.preprocess([frame])
        (r,) = det.postprocess(det.infer(x), ctx)
        assert det.task == "detect" and len(r.scores) > 0
    finally:
        det.close()


def test_onnx_plugin_engine_choice(tiny_onnx):
    pytest.importorskip("openvino")
    auto = load_plugin(str(tiny_onnx), engine="auto")
    d = auto.describe()
    # conftest pins auto through EDGEVISION_BACKEND: the choice says so
    assert d["backend"] == "onnxruntime" and d["backend_choice"]["source"] == "env"
    ov = load_plugin(str(tiny_onnx), engine="openvino")
    assert ov.describe()["backend"] == "openvino" and ov.describe()["backend_choice"] is None
    frame = np.zeros((40, 50, 3), np.uint8)
    a = auto.postprocess(auto.infer(auto.preprocess([frame])[0]), auto.preprocess([frame])[1])
    b = ov.postprocess(ov.infer(ov.preprocess([frame])[0]), ov.preprocess([frame])[1])
    assert (a[0].class_map == b[0].class_map).mean() > 0.99
    with pytest.raises(ConfigError, match="cannot run an ONNX file"):
        load_plugin(str(tiny_onnx), engine="torch")
    with pytest.raises(ConfigError, match="not tensorrt"):
        load_plugin("yolact_mobilenetv2", engine="tensorrt", video=True)


def test_smooth_edges_reach_semantic_models_only():
    """``upsample="logits"`` (``--smooth-edges``) goes to the semantic postprocessor, and a
    call may override it (the run's timing of the plain postprocess); other tasks refuse it."""
    import dataclasses
    from types import SimpleNamespace

    from edgevision.config import ModelSpec
    from edgevision.stream.plugins import PredictorPlugin

    spec = ModelSpec(
        name="m",
        task="semantic",
        class_names=["a", "b"],
        input_size=(64, 64),
        postprocess="semantic_argmax",
    )
    yy, xx = np.mgrid[0:8, 0:8].astype(np.float32)
    logits = np.stack([np.zeros_like(xx), xx - yy - 0.5])[None]  # 1/8 resolution, a diagonal
    engine = SimpleNamespace(spec=spec, run=lambda x: [logits])
    p = PredictorPlugin(engine, name="m", upsample="logits")
    x, ctx = p.preprocess([np.zeros((64, 64, 3), np.uint8)])
    (smooth,) = p.postprocess(p.infer(x), ctx)
    (plain,) = p.postprocess(p.infer(x), ctx, upsample="labels")
    blocks = plain.class_map.reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(64, 64)
    assert (blocks == blocks[:, :1]).all()  # labels upsampled: 8x8 blocks (the staircase)
    sb = smooth.class_map.reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(64, 64)
    assert not (sb == sb[:, :1]).all()  # logits upsampled: edges inside the blocks
    assert (smooth.class_map != plain.class_map).mean() < 0.1  # the same regions
    detect = SimpleNamespace(spec=dataclasses.replace(spec, task="detect"))
    with pytest.raises(ConfigError, match="apply to semantic models; m is a detect model"):
        PredictorPlugin(detect, name="m", upsample="logits")


def test_backend_and_providers_reach_the_engine_factory(tiny_onnx, monkeypatch):
    """load_plugin's engine choice through the one factory: ONNX Runtime providers, TensorRT
    at its precision (factory faked: no GPU here); what cannot run is a one-line error."""
    import edgevision.runtime
    from edgevision.errors import ConfigError
    from edgevision.stream.plugins import load_plugin

    cpu = edgevision.runtime.load_engine(tiny_onnx, threads=1)
    seen: list[dict] = []

    def factory(target, **kw):
        seen.append(kw)
        return cpu

    real = load_plugin(str(tiny_onnx), providers=["cpu"], threads=1)  # the real factory
    assert real.describe()["runs_on"] == {"providers": ["CPUExecutionProvider"]}
    monkeypatch.setattr(edgevision.runtime, "load_engine", factory)
    plugin = load_plugin(str(tiny_onnx), providers=["tensorrt", "cuda"], threads=1)
    assert plugin.engine is cpu
    assert seen[-1]["backend"] == "onnxruntime" and seen[-1]["providers"] == ["tensorrt", "cuda"]
    load_plugin(str(tiny_onnx), engine="tensorrt", trt_precision="fp16")
    assert seen[-1]["backend"] == "tensorrt" and seen[-1]["precision"] == "fp16"
    for kw, match in (
        ({"engine": "openvino", "providers": ["cuda"]}, "need --backend onnxruntime"),
        ({"trt_precision": "fp16"}, "needs --backend tensorrt"),
        ({"engine": "tensorrt", "video": True}, "--providers tensorrt,cuda"),
        ({"engine": "tflite"}, "--backend must be auto"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_plugin(str(tiny_onnx), **kw)


def test_component_folder_runs_its_graphs_on_the_providers(tmp_path, monkeypatch):
    from edgevision.errors import ConfigError
    from edgevision.stream.plugins import load_plugin
    from edgevision.video import ort as video_ort

    for c in video_ort.COMPONENTS:
        (tmp_path / f"{c}.onnx").write_bytes(b"x")
    seen: list[dict] = []

    class Seen(Exception):
        pass

    def component_set(folder, **kw):
        seen.append(kw)
        raise Seen

    monkeypatch.setattr(video_ort, "ComponentSet", component_set)
    with pytest.raises(Seen):
        load_plugin(str(tmp_path), providers=["cuda"], threads=1, video=True)
    assert seen == [{"threads": 1, "providers": ["cuda"], "backend": "onnxruntime"}]
    with pytest.raises(ConfigError, match="component folder: it runs in ONNX Runtime"):
        load_plugin(str(tmp_path), engine="tensorrt")
