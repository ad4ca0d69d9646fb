"""``check_backend``: what ``--backend`` / ``--providers`` resolve to, the one-line errors
without a GPU stack, and providers reaching the engine (ONNX Runtime's available providers
faked where a test needs a GPU provider to exist)."""

from __future__ import annotations

import importlib.util

import pytest

from edgevision.errors import BackendUnavailable, ConfigError
from edgevision.runtime import base as runtime_base
from edgevision.runtime.base import check_backend, check_trt_precision, load_fast_engine

ort = pytest.importorskip("onnxruntime")
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def _fake_gpu_providers(monkeypatch):
    """ONNX Runtime claims CUDA and TensorRT providers, as onnxruntime-gpu does on a machine
    without a GPU (it lists what it was built with)."""
    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )


def test_providers_select_onnxruntime_and_refuse_other_backends():
    assert check_backend("auto") == "auto"
    assert check_backend("onnxruntime") == "onnxruntime"
    assert check_backend("auto", ["cpu"]) == "onnxruntime"
    assert check_backend("onnxruntime", ["CPUExecutionProvider"]) == "onnxruntime"
    for backend in ("openvino", "torch", "tensorrt"):
        with pytest.raises(ConfigError, match=f"need --backend onnxruntime.*not {backend}"):
            check_backend(backend, ["cuda"])
    with pytest.raises(ConfigError, match="unknown backend 'tflite'"):
        check_backend("tflite")
    check_trt_precision("tensorrt", "fp16")
    check_trt_precision("onnxruntime", "auto")
    with pytest.raises(ConfigError, match="--trt-precision fp16 needs --backend tensorrt"):
        check_trt_precision("onnxruntime", "fp16")


@pytest.mark.skipif(HAS_CUDA, reason="ONNX Runtime has the CUDA provider here")
def test_missing_gpu_provider_names_what_to_install():
    with pytest.raises(
        BackendUnavailable, match="CUDAExecutionProvider.*pip install onnxruntime-gpu"
    ):
        check_backend("auto", ["cuda", "cpu"])
    with pytest.raises(BackendUnavailable, match="TensorrtExecutionProvider.*TensorRT"):
        check_backend("onnxruntime", ["tensorrt", "cuda"])


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_missing_tensorrt_names_the_gpu_extra():
    with pytest.raises(BackendUnavailable, match=r"pip install 'edgevision\[gpu\]'") as e:
        check_backend("tensorrt")
    assert "\n" not in str(e.value)


def test_listed_gpu_providers_pass_the_check(monkeypatch):
    _fake_gpu_providers(monkeypatch)
    assert check_backend("auto", ["tensorrt", "cuda"]) == "onnxruntime"


@pytest.mark.skipif(HAS_CUDA, reason="a real CUDA provider would start")
def test_a_listed_provider_that_cannot_start_is_an_error_not_a_cpu_fallback(monkeypatch, tiny_onnx):
    """onnxruntime-gpu without a GPU lists CUDA but runs on CPU with a warning: the engine
    says so in one line instead of silently running on the CPU."""
    _fake_gpu_providers(monkeypatch)
    with pytest.raises(BackendUnavailable, match="could not start CUDAExecutionProvider") as e:
        runtime_base.load_engine(tiny_onnx, providers=["cuda"])
    assert "\n" not in str(e.value)


def test_load_fast_engine_hands_providers_and_options_to_the_engine(monkeypatch, tiny_onnx):
    seen: list[dict] = []
    cpu = runtime_base.load_engine(tiny_onnx, threads=1)

    def spy(target, **kw):
        seen.append(kw)
        return cpu

    monkeypatch.setattr(runtime_base, "load_engine", spy)
    assert load_fast_engine(tiny_onnx, threads=1, providers=["cpu"]) is cpu
    assert seen[-1]["backend"] == "onnxruntime" and seen[-1]["providers"] == ["cpu"]
    monkeypatch.setattr(runtime_base, "_backend_class", lambda name: None)
    load_fast_engine(tiny_onnx, backend="tensorrt", threads=1, precision="fp16")
    assert seen[-1]["backend"] == "tensorrt" and seen[-1]["precision"] == "fp16"
    assert seen[-1]["providers"] == []
    # with providers, auto does not probe: the choice callback is never asked
    load_fast_engine(tiny_onnx, providers=["cpu"], choose=lambda p: pytest.fail("probed"))
