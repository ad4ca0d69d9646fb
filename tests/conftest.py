"""Shared fixtures. Markers: slow, gst, gpu, trt, data (see pyproject.toml).

Tests marked ``gpu``/``trt``/``gst`` are skipped automatically where the hardware or library
is missing; ``data`` tests skip when ``../shared/data/camvid`` is absent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"

# a small, fast variant of the reference model for export/runtime tests
TINY_SEG = {"width_mult": 0.35, "aspp_channels": 32}
TINY_SIZE = (64, 96)


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _has_gst() -> bool:
    if importlib.util.find_spec("gi") is None:
        return False
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "gpu": (_has_cuda, "needs a CUDA GPU"),
        "trt": (lambda: importlib.util.find_spec("tensorrt") is not None, "needs TensorRT"),
        "gst": (_has_gst, "needs GStreamer + PyGObject"),
        "data": (CAMVID.is_dir, f"needs CamVid at {CAMVID}"),
    }
    cache: dict[str, bool] = {}
    for item in items:
        for mark, (check, reason) in skips.items():
            if mark in item.keywords:
                if mark not in cache:
                    cache[mark] = bool(check())
                if not cache[mark]:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def camvid_dir() -> Path:
    if not CAMVID.is_dir():
        pytest.skip(f"needs CamVid at {CAMVID}")
    return CAMVID


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DeepLabV3+ exported (and checked) to ONNX once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "tiny_seg.onnx"
    export_onnx("deeplabv3plus_mobilenetv2", out, input_size=TINY_SIZE, **TINY_SEG)
    return out


@pytest.fixture(scope="session")
def synth_images(tmp_path_factory: pytest.TempPathFactory):
    """Factory: a tiny synthetic image-only dataset, generated once per set of arguments.

    ``synth_images(seed=1, size=(64, 64), train=4, val=2) -> Path`` (treat it as read-only).
    """
    from edgevision.data.synth import SynthConfig, generate

    made: dict[tuple, Path] = {}

    def make(*, seed: int = 1, size: tuple[int, int] = (64, 64), train: int = 4, val: int = 2):
        key = (seed, size, train, val)
        if key not in made:
            out = tmp_path_factory.mktemp(f"synth{seed}") / "ds"
            cfg = SynthConfig(
                seed=seed,
                image_size=size,
                train_images=train,
                val_images=val,
                train_videos=0,
                val_videos=0,
            )
            generate(out, cfg, progress=False)
            made[key] = out
        return made[key]

    return make


@pytest.fixture
def one_torch_thread():
    """Tiny models: one thread is as fast and immune to an oversubscribed CPU."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
