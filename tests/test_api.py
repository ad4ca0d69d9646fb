"""``edgevision.load(target) -> Model``: predict on every source kind, val through ONNX
Runtime by default, export, quantize, benchmark and train, options checked when built."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import edgevision  # noqa: E402
from edgevision.errors import ConfigError, DataError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread

TINY = {"neck_channels": 16, "rfcr_channels": 8}
"""A tiny YOLO-RET for 64x64 synthetic images."""


@pytest.fixture(scope="module")
def synth(synth_images) -> Path:
    """Eight training and two validation images of the synthetic shapes (COCO boxes)."""
    return synth_images(seed=3, size=(64, 64), train=8, val=2)


@pytest.fixture(scope="module")
def det_ckpt(synth, tmp_path_factory) -> Path:
    """A tiny detector (random weights) for the synthetic classes, saved as a checkpoint."""
    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model

    names = [c["name"] for c in json.loads((synth / "annotations/instances_val.json").read_text())["categories"]]  # fmt: skip
    torch.manual_seed(0)
    m = create_model("yolo_ret_m075", class_names=names, input_size=(64, 64), **TINY).eval()
    path = tmp_path_factory.mktemp("api") / "tiny_det.safetensors"
    save_checkpoint(path, m, m.spec)
    return path


def _same(a, b) -> bool:
    return a.boxes.shape == b.boxes.shape and np.allclose(a.boxes, b.boxes, atol=1e-4)


def test_options_are_checked_when_the_model_is_built(det_ckpt, tiny_onnx):
    with pytest.raises(ConfigError, match=r"unknown option\(s\) cnf; options: backend"):
        edgevision.load(det_ckpt, cnf=0.3)
    with pytest.raises(ConfigError, match="'conf' does not apply .*semantic_argmax"):
        edgevision.load(tiny_onnx, conf=0.3)
    with pytest.raises(ConfigError, match=r"conf must be in \[0, 1\]"):
        edgevision.load(det_ckpt, conf=1.5)
    with pytest.raises(ConfigError, match="unknown backend 'ort'"):
        edgevision.load(det_ckpt, backend="ort")
    with pytest.raises(edgevision.EdgeVisionError, match="unknown model"):
        edgevision.load("no_such_model")


def test_track_gives_ids_that_hold_on_a_still_scene(det_ckpt, tmp_path):
    """Five copies of one frame: the objects (confirmed at once on a stream's first frame)
    keep their ids; a tracker object passed in keeps the summary; models without boxes are
    refused."""
    from edgevision.track import create_tracker

    m = edgevision.load(det_ckpt, max_det=20, backend="torch")
    frame = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    trk = create_tracker("bytetrack:high_thresh=0.0,low_thresh=0.0,new_track_thresh=0.0")
    gen = m.track(np.stack([frame] * 5), tracker=trk)
    assert isinstance(gen, types.GeneratorType)
    got = list(gen)
    assert len(got) == 5 and all(r.track_ids is not None for r in got)
    ids = [sorted(r.track_ids.tolist()) for r in got]
    assert ids[0] and all(i == ids[0] for i in ids)
    first = m.predict(frame, conf=0.0)[0]  # the model kept boxes down to the low threshold
    assert len(got[0]) == len(first)
    assert trk.summary()["tracks_active"] == len(ids[0])
    with pytest.raises(ConfigError, match="unknown tracker"):
        m.track(frame[None], tracker="sort")
    seg = edgevision.load("ddrnet23_slim", backend="torch")
    with pytest.raises(ConfigError, match="track needs a detection or instance model"):
        seg.track(frame[None])


@pytest.mark.slow
def test_predict_takes_every_source_kind(det_ckpt, synth, tmp_path):
    from PIL import Image

    from edgevision.io import read_image
    from edgevision.runtime import Predictor, load_engine

    m = edgevision.load(det_ckpt, conf=0.0, max_det=20, backend="torch")
    files = sorted((synth / "images" / "val").glob("*.jpg"))
    rgb = [read_image(f) for f in files]
    ref = Predictor(load_engine(det_ckpt, backend="torch"), conf=0.0, max_det=20)
    want = [ref(im) for im in rgb]
    assert all(len(w) == 20 for w in want)  # conf 0 keeps max_det boxes: a real comparison
    cases = {
        "array": (rgb[0], want[:1]),
        "batch": (np.stack(rgb), want),
        "list": (rgb, want),
        "path": (str(files[0]), want[:1]),
        "Path": (files[0], want[:1]),
        "folder": (files[0].parent, want),
        "glob": (str(files[0].parent / "*.jpg"), want),
        "PIL": (Image.open(files[0]), want[:1]),
        "mixed list": ([files[0], rgb[1]], want),
    }
    for what, (source, expected) in cases.items():
        got = m.predict(source)
        assert isinstance(got, list) and len(got) == len(expected), what
        assert all(_same(g, e) for g, e in zip(got, expected)), what
    # one call's options do not change the model's
    assert len(m.predict(rgb[0], conf=0.99)[0]) <= len(want[0])
    assert _same(m.predict(rgb[0])[0], want[0])
    # BGR from OpenCV: the flag gives the RGB result
    assert _same(m.predict(rgb[0][..., ::-1].copy(), bgr=True)[0], want[0])
    assert _same(edgevision.load(det_ckpt, conf=0.0, max_det=20, bgr=True, backend="torch").predict(rgb[0][..., ::-1].copy())[0], want[0])  # fmt: skip
    for bad, err in [("nope/*.jpg", DataError), (tmp_path, DataError), (tmp_path / "x.png", DataError), (3, ConfigError)]:  # fmt: skip
        with pytest.raises(err):
            m.predict(bad)


@pytest.mark.slow
def test_predict_on_a_video_is_a_generator_of_frames(det_ckpt, tmp_path):
    import cv2

    path = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for f in frames:
        w.write(f)
    w.release()
    m = edgevision.load(det_ckpt, conf=0.0, max_det=20, backend="torch")
    gen = m.predict(path)
    assert isinstance(gen, types.GeneratorType)
    got = list(gen)
    cap = cv2.VideoCapture(str(path))
    decoded = [cap.read()[1] for _ in range(4)]
    assert len(got) == 4
    assert all(_same(g, m.predict(d, bgr=True)[0]) for g, d in zip(got, decoded))


@pytest.mark.slow
def test_val_runs_onnxruntime_by_default_and_agrees_with_torch(det_ckpt, synth):
    from edgevision.export.cache import cache_dir

    m = edgevision.load(det_ckpt)
    fast = m.val(synth, progress=False)
    slow = m.val(synth, backend="torch", progress=False)
    assert fast.num_images == slow.num_images == 2
    f, s = fast.metrics["bbox"], slow.metrics["bbox"]
    assert f["num_detections"] == s["num_detections"] > 0
    assert [f["AP50"], f["AR100"]] == pytest.approx([s["AP50"], s["AR100"]], abs=1e-3)
    # the same boxes through the cached ONNX file as through PyTorch
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    a = m.predict(img, conf=0.0, max_det=20)[0]
    b = edgevision.load(det_ckpt, backend="torch").predict(img, conf=0.0, max_det=20)[0]
    assert np.allclose(a.scores, b.scores, atol=1e-4)
    assert list((cache_dir() / "onnx").glob("tiny_det-*.onnx"))
    assert m.predictor().engine.backend == "onnxruntime"


@pytest.mark.slow
def test_export_quantize_benchmark(det_ckpt, synth, tmp_path):
    m = edgevision.load(det_ckpt, conf=0.2)
    onnx_path = m.export(out=tmp_path / "det.onnx", simplify=False)
    assert onnx_path.is_file()
    with pytest.raises(ConfigError, match="unknown field"):
        m.export(out=tmp_path / "x.onnx", opst=17)
    with pytest.raises(ConfigError, match="builds .* the engine"):
        m.export("engine")
    ir = edgevision.load(m.export("openvino", out=tmp_path / "det.xml", simplify=False), conf=0.2)
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    want = edgevision.load(onnx_path, conf=0.2, backend="openvino").predict(img)[0]
    assert ir.kind == "openvino" and _same(ir.predict(img)[0], want)
    exported = edgevision.load(onnx_path, conf=0.2)
    assert exported.kind == "onnx" and exported.options == {"conf": 0.2}
    q = m.quantize("static", calib_data=synth, calib_size=4, out=tmp_path / "det_int8.onnx", progress=False)  # fmt: skip
    assert q.kind == "onnx" and Path(q.source).is_file() and q.options == {"conf": 0.2}
    assert len(q.predict(np.zeros((64, 64, 3), np.uint8))) == 1
    with pytest.raises(ConfigError, match="pass train_data"):
        m.quantize("qat")
    with pytest.raises(ConfigError, match="unknown field"):
        m.quantize("qat", train_data=synth, epochz=1)
    qat = m.quantize("qat", train_data=synth, epochs=1, batch_size=4, lr=1e-4,
                     out=tmp_path / "det_qat.onnx", progress=False)  # fmt: skip
    assert qat.kind == "onnx" and len(qat.predict(np.zeros((64, 64, 3), np.uint8))) == 1
    with pytest.raises(ConfigError, match="unknown field"):
        exported.benchmark(rnus=3)
    res = exported.benchmark(runs=3, warmup=1, stages=False, flops=False, progress=False)
    assert res.latency_ms["p50"] > 0


@pytest.mark.slow
def test_train_from_a_registry_name(synth, tmp_path, capsys):
    m = edgevision.load("yolo_ret_m075", input_size=(64, 64))
    res = m.train(synth, epochs=1, batch_size=4, model_kwargs=TINY, device="cpu",
                  out=str(tmp_path / "run"), warmup_epochs=0)  # fmt: skip
    assert Path(res.last).is_file()
    trained = edgevision.load(res.last)
    assert len(trained.predict(np.zeros((64, 64, 3), np.uint8))) == 1
    with pytest.raises(ConfigError, match="unknown field"):
        m.train(synth, epochs=1, batchsize=4)
    # a checkpoint is fine-tuned: the run starts from its weights
    again = trained.train(synth, epochs=1, batch_size=4, device="cpu", warmup_epochs=0,
                          out=str(tmp_path / "ft"))  # fmt: skip
    assert Path(again.last).is_file()
    with pytest.raises(ConfigError, match="training starts from a registry architecture"):
        edgevision.load(edgevision.load(res.last).export(out=tmp_path / "t.onnx")).train(synth)
    assert "train: " in capsys.readouterr().err  # progress lines when not on a terminal


def test_plugin_target(stub_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(stub_dir))
    m = edgevision.load("evstub:make")
    assert m.kind == "plugin" and m.task is None
    (det,) = m.predict(np.zeros((40, 80, 3), np.uint8))
    assert det.boxes.tolist() == [[20.0, 10.0, 60.0, 30.0]]


def test_top_level_names():
    for name in ("load", "Model", "list_weights", "train_detection"):
        assert name in edgevision.__all__
    from edgevision.train.detection import train_detection

    assert edgevision.train_detection is train_detection


def test_val_takes_a_dataset_yaml(det_ckpt, tmp_path):
    """``val(data=)`` names a folder or a dataset YAML, as ``edgevision eval --data`` does."""
    m = edgevision.load(det_ckpt)
    with pytest.raises(DataError, match="dataset YAML not found"):
        m.val(tmp_path / "street.yaml")
    with pytest.raises(DataError, match="dataset folder not found"):
        m.val(tmp_path / "street")
