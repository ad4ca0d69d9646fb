"""``edgevision eval`` with the runtime replaced by a fake (no model file needed); on CamVid:
shipped weights by name, ONNX Runtime by default (``--backend torch`` keeps PyTorch),
progress lines off a terminal."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgevision.cli import eval as eval_cli
from edgevision.config import ModelSpec
from edgevision.errors import DataError
from edgevision.io import write_image
from edgevision.results import SemanticMask

CLASSES = ["a", "b"]


def make_folder(root: Path) -> None:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "dataset.yaml").write_text(yaml.safe_dump({"classes": CLASSES, "ignore_index": 255}))
    for i in range(2):
        lab = np.zeros((8, 10), np.uint8)
        lab[:, 5:] = 1
        img = np.zeros((8, 10, 3), np.uint8)
        img[..., 0] = lab * 100
        write_image(root / "images" / "val" / f"s{i}.png", img)
        write_image(root / "labels" / "val" / f"s{i}.png", lab)


@pytest.fixture
def fake_runtime(monkeypatch):
    """Replace edgevision.runtime by a module whose engine 'predicts' from the red channel."""
    calls = {}

    def load_fast_engine(
        target, *, backend="auto", threads=2, input_size=None, choose=None, **engine_options
    ):
        calls.update(target=target, backend=backend, threads=threads)
        return types.SimpleNamespace(
            spec=ModelSpec(name="fake", task="semantic", class_names=CLASSES)
        )

    class Predictor:
        def __init__(self, engine):
            self.spec = engine.spec

        def __call__(self, image):
            return SemanticMask((image[..., 0] // 100).astype(np.int64), CLASSES)

    import edgevision.runtime as real

    mod = types.ModuleType("edgevision.runtime")
    mod.__path__ = real.__path__  # its submodules (runtime.base's checks) stay real
    mod.load_fast_engine, mod.Predictor = load_fast_engine, Predictor
    monkeypatch.setitem(sys.modules, "edgevision.runtime", mod)
    return calls


def parse(argv):
    parser = argparse.ArgumentParser(prog="edgevision")
    eval_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_eval_prints_table_and_writes_json(tmp_path, fake_runtime, capsys):
    make_folder(tmp_path / "data")
    out = tmp_path / "out" / "report.json"
    args = parse(
        [
            "eval",
            "model.onnx",
            "--data",
            str(tmp_path / "data"),
            "--backend",
            "onnxruntime",
            "--threads",
            "1",
            "--max-images",
            "1",
            "--json",
            str(out),
        ]
    )
    assert args.func(args) == 0
    assert fake_runtime == {"target": "model.onnx", "backend": "onnxruntime", "threads": 1}
    text = capsys.readouterr().out
    assert "mIoU" in text and "1.0000" in text and str(out) in text
    report = json.loads(out.read_text())
    assert report["num_images"] == 1 and report["metrics"]["miou"] == 1.0
    assert report["model"] == "fake"


def test_eval_missing_data_fails_before_loading(tmp_path, fake_runtime):
    args = parse(["eval", "m.onnx", "--data", str(tmp_path / "missing")])
    with pytest.raises(DataError, match="dataset folder not found"):
        args.func(args)
    assert fake_runtime == {}


@pytest.mark.skipif(
    any(
        importlib.util.find_spec(f"edgevision.cli.{n}") is None
        for n in ("models", "data", "export", "bench")
    ),
    reason="not every CLI subcommand module exists yet",
)
def test_eval_through_main(tmp_path, fake_runtime, capsys):
    from edgevision.cli.main import main

    make_folder(tmp_path / "data")
    assert main(["eval", "m.onnx", "--data", str(tmp_path / "data")]) == 0
    assert "mIoU" in capsys.readouterr().out
    assert main(["eval", "m.onnx", "--data", str(tmp_path / "nope")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_eval_prints_and_writes_the_sequences_scored(tmp_path, fake_runtime, capsys):
    make_folder(tmp_path / "data")
    for i in range(2):  # CamVid-like names: SEQUENCE_FRAME
        for sub in ("images", "labels"):
            d = tmp_path / "data" / sub / "val"
            (d / f"s{i}.png").rename(d / f"0016E5_0{i}.png")
    out = tmp_path / "r.json"
    args = parse(["eval", "m.onnx", "--data", str(tmp_path / "data"), "--json", str(out)])
    assert args.func(args) == 0
    assert "sequences: 0016E5 2" in capsys.readouterr().out
    assert json.loads(out.read_text())["sequences"] == {"0016E5": 2}
    args = parse(["eval", "m.onnx", "--data", str(tmp_path / "data"), "--split", "val:0001TP"])
    with pytest.raises(DataError, match="no sequence '0001TP' in split 'val'"):
        args.func(args)


@pytest.mark.slow
@pytest.mark.data
def test_eval_by_name_through_onnxruntime_and_torch(camvid_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgevision.cli.main import main
    from edgevision.export.cache import cache_dir

    args = ["eval", "ddrnet23_slim_camvid", "--data", str(camvid_dir), "--max-images", "3"]
    assert main([*args, "--json", str(tmp_path / "ort.json")]) == 0
    err = capsys.readouterr().err
    assert "eval val: 3/3 (100%)" in err
    assert list((cache_dir() / "onnx").glob("ddrnet23_slim_camvid-*.onnx"))
    assert main([*args, "--backend", "torch", "--json", str(tmp_path / "torch.json")]) == 0
    ort, ref = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ort", "torch"))
    assert ort["num_images"] == ref["num_images"] == 3
    assert ort["metrics"]["miou"] == pytest.approx(ref["metrics"]["miou"], abs=1e-4)


@pytest.mark.data
def test_eval_of_an_unknown_name_names_the_shipped_weights(camvid_dir, capsys):
    from edgevision.cli.main import main

    assert main(["eval", "ddrnet23_slim_cam", "--data", str(camvid_dir)]) == 2
    assert "shipped weights: ddrnet23_slim_camvid" in capsys.readouterr().err
