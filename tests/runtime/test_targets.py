"""One resolver of model targets (ONNX file, checkpoint, registry name) for runtime, bench and
stream: the same kinds and the same one-line errors everywhere."""

from __future__ import annotations

import pytest

from edgevision.config import BenchConfig
from edgevision.errors import ModelFileError, ModelNotFoundError
from edgevision.runtime import ModelTarget, load_engine, resolve_target


def test_kinds(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "w.PTH").write_bytes(b"x")
    assert resolve_target(tmp_path / "m.onnx") == ModelTarget(
        str(tmp_path / "m.onnx"), "onnx", tmp_path / "m.onnx"
    )
    ckpt = resolve_target(str(tmp_path / "w.PTH"))
    assert (ckpt.kind, ckpt.path, ckpt.label) == ("checkpoint", tmp_path / "w.PTH", "w")
    name = resolve_target("yolov5n")
    assert (name.kind, name.path, name.label) == ("registry", None, "yolov5n")


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda d: d / "missing.onnx", ModelFileError, "ONNX file not found"),
        (lambda d: d / "missing.pt", ModelFileError, "model file not found"),
        (lambda d: d / "missing.tflite", ModelFileError, "model file not found"),
        (lambda d: d, ModelFileError, r"not a model file \(a folder\)"),
        (lambda d: d / "notes.txt", ModelFileError, "unsupported model file type '.txt'"),
        (lambda d: "no_such_model_xyz", ModelNotFoundError, "unknown model"),
    ],
)
def test_errors_are_the_same_for_runtime_bench_and_stream(tmp_path, make, err, match):
    from edgevision.bench.harness import _resolve_target
    from edgevision.stream.plugins import load_plugin

    (tmp_path / "notes.txt").write_text("hi")
    target = make(tmp_path)
    callers = {
        "resolve_target": resolve_target,
        "load_engine": load_engine,
        "bench": lambda t: _resolve_target(str(t), BenchConfig()),
        "stream": lambda t: load_plugin(str(t)),
    }
    if target == tmp_path:
        del callers["stream"]  # a folder is a component folder there (its own message)
    for who, resolve in callers.items():
        with pytest.raises(err, match=match):
            resolve(target)
            pytest.fail(f"{who} accepted {target}")


def test_resolving_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from edgevision.runtime.targets import resolve_target\n"
        "assert resolve_target('yolov5n').kind == 'registry'\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
