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
