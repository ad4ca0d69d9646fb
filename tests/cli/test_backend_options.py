"""``--backend`` / ``--providers`` / ``--trt-precision`` on run, eval, video, bench and
compare: each reaches the engine factory (the factory faked where a GPU would be needed),
and without a GPU stack each is one line on standard error, exit 2, before any model loads."""

from __future__ import annotations

import importlib.util

import pytest

from edgevision.cli.main import main
from edgevision.errors import ConfigError

ort = pytest.importorskip("onnxruntime")
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


class Stop(ConfigError):
    """Raised by a fake once it has seen its arguments (exit 2, nothing else runs)."""


@pytest.fixture
def paths(tmp_path, monkeypatch):
    """A dataset folder, a checkpoint-named file, a component folder of empty graphs and an
    ONNX-named file; the working directory is a scratch folder."""
    from edgevision.video.ort import COMPONENTS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "m.pt").write_bytes(b"x")
    (tmp_path / "m.onnx").write_bytes(b"x")
    parts = tmp_path / "parts"
    parts.mkdir()
    for c in COMPONENTS:
        (parts / f"{c}.onnx").write_bytes(b"x")
    return tmp_path


def _commands(p, flags):
    """Each command with ``flags`` added: the shortest line that gets to its backend check."""
    return {
        "run": ["run", "test://ball", "--model", str(p / "m.onnx"), *flags],
        "eval": ["eval", str(p / "m.onnx"), "--data", str(p / "data"), *flags],
        "video": ["video", str(p / "parts"), "--data", str(p / "data"), *flags],
        "bench": ["bench", str(p / "m.onnx"), "--quiet", *flags],
        "compare": ["compare", str(p / "m.pt"), "--data", str(p / "data"),
                    "--md", str(p / "q.md"), "--work", str(p / "w"), *flags],
    }  # fmt: skip


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.skipif(HAS_CUDA, reason="ONNX Runtime has the CUDA provider here")
@pytest.mark.parametrize("command", ["run", "eval", "video", "bench", "compare"])
def test_cuda_provider_without_it_is_one_line(command, paths, capsys):
    line = _one_line_error(capsys, _commands(paths, ["--providers", "cuda,cpu"])[command])
    assert "CUDAExecutionProvider" in line and "pip install onnxruntime-gpu" in line


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
@pytest.mark.parametrize("command", ["run", "eval", "bench", "compare"])
def test_tensorrt_without_it_is_one_line(command, paths, capsys):
    line = _one_line_error(capsys, _commands(paths, ["--backend", "tensorrt"])[command])
    assert "pip install 'edgevision[gpu]'" in line and "NVIDIA GPU" in line


@pytest.mark.parametrize("command", ["run", "eval", "video", "bench", "compare"])
def test_providers_with_another_backend_is_a_usage_error(command, paths, capsys):
    backend = "openvino" if command == "compare" else "torch"  # compare has no torch choice
    line = _one_line_error(
        capsys, _commands(paths, ["--backend", backend, "--providers", "cpu"])[command]
    )
    assert f"need --backend onnxruntime (or auto), not {backend}" in line


def test_video_points_tensorrt_users_at_the_tensorrt_provider(paths, capsys):
    line = _one_line_error(capsys, _commands(paths, ["--engine", "tensorrt"])["video"])
    assert "--providers tensorrt,cuda" in line


@pytest.mark.parametrize("command", ["run", "eval"])
def test_trt_precision_needs_the_tensorrt_backend(command, paths, capsys):
    line = _one_line_error(capsys, _commands(paths, ["--trt-precision", "fp16"])[command])
    assert "needs --backend tensorrt" in line


@pytest.fixture
def fake_gpu(monkeypatch):
    """A machine where TensorRT and ONNX Runtime's GPU providers pass the checks."""
    from edgevision.runtime import tensorrt

    monkeypatch.setattr(tensorrt, "require_tensorrt", lambda: None)
    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )


def _spy(monkeypatch, module, name, seen):
    def fake(*args, **kw):
        seen.append((args, kw))
        raise Stop("stop")

    monkeypatch.setattr(module, name, fake)


@pytest.mark.parametrize(
    ("flags", "engine", "providers", "trt"),
    [
        (["--backend", "tensorrt", "--trt-precision", "fp16"], "tensorrt", [], "fp16"),
        (["--engine", "tensorrt"], "tensorrt", [], "auto"),  # the older spelling
        (["--providers", "tensorrt,cuda", "--providers", "cpu"], "auto",
         ["tensorrt", "cuda", "cpu"], "auto"),
    ],
)  # fmt: skip
def test_run_hands_backend_and_providers_to_the_plugin(
    flags, engine, providers, trt, paths, fake_gpu, monkeypatch, capsys
):
    from edgevision.stream import pipeline

    seen: list = []
    _spy(monkeypatch, pipeline, "load_plugin", seen)
    assert main(_commands(paths, flags)["run"]) == 2
    (_, kw) = seen[0]
    assert (kw["engine"], kw["providers"], kw["trt_precision"]) == (engine, providers, trt)


def test_eval_hands_backend_and_providers_to_the_engine_factory(
    paths, fake_gpu, monkeypatch, capsys
):
    import edgevision.runtime
    from edgevision.data import detection

    monkeypatch.setattr(detection, "require_dataset", lambda d: None)
    seen: list = []
    _spy(monkeypatch, edgevision.runtime, "load_fast_engine", seen)
    main(_commands(paths, ["--backend", "tensorrt", "--trt-precision", "int8"])["eval"])
    main(_commands(paths, ["--providers", "cuda"])["eval"])
    (_, trt), (_, cuda) = seen
    assert trt["backend"] == "tensorrt" and trt["precision"] == "int8"
    assert cuda["backend"] == "auto" and cuda["providers"] == ["cuda"]


def test_video_hands_providers_to_every_component_set(paths, fake_gpu, monkeypatch, capsys):
    from edgevision.video import ort as video_ort

    seen: list = []
    _spy(monkeypatch, video_ort, "ComponentSet", seen)
    assert main(_commands(paths, ["--providers", "cuda"])["video"]) == 2
    assert seen[0][1]["providers"] == ["cuda"]


def test_bench_hands_backend_and_providers_to_the_harness(paths, fake_gpu, monkeypatch, capsys):
    from edgevision.bench import harness

    seen: list = []
    _spy(monkeypatch, harness, "benchmark", seen)
    main(_commands(paths, ["--providers", "cuda,cpu"])["bench"])
    main(_commands(paths, ["--backend", "tensorrt", "--trt-precision", "fp16"])["bench"])
    (a, _), (b, _) = seen
    assert (a[1].backend, a[1].providers) == ("onnxruntime", ["cuda", "cpu"])
    assert (b[1].backend, b[1].trt_precision) == ("tensorrt", "fp16")


def test_compare_measures_every_variant_on_the_chosen_engine(paths, fake_gpu, monkeypatch, capsys):
    from edgevision.quantize import compare

    seen: list = []
    _spy(monkeypatch, compare, "compare_modes", seen)
    main(_commands(paths, ["--providers", "cuda"])["compare"])
    main(_commands(paths, ["--backend", "tensorrt"])["compare"])
    main(_commands(paths, [])["compare"])
    opts = [kw["options"] for _, kw in seen]
    assert [(o.backend, o.providers) for o in opts] == [
        ("onnxruntime", ["cuda"]),
        ("tensorrt", []),
        ("onnxruntime", []),  # auto: one engine for every variant
    ]
