"""Checkpoints exported once for eval/val and reused; a changed checkpoint gets a new file."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgevision.export.cache import cache_dir, cached_onnx  # noqa: E402

TINY = {"neck_channels": 16, "rfcr_channels": 8}


def _save(path, seed):
    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model

    torch.manual_seed(seed)
    m = create_model("yolo_ret_m075", input_size=(64, 64), **TINY)
    save_checkpoint(path, m, m.spec)
    return path


def test_cached_export_is_reused_and_keyed_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEVISION_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    ckpt = _save(tmp_path / "a.safetensors", 0)
    first = cached_onnx(ckpt)
    assert first.parent == tmp_path / "cache" / "onnx" and first.name.startswith("a-")
    stamp = first.stat().st_mtime_ns
    assert cached_onnx(ckpt) == first and first.stat().st_mtime_ns == stamp  # not re-exported
    assert cached_onnx(ckpt, input_size=(96, 96)) != first
    _save(ckpt, 1)  # same path, other weights
    assert cached_onnx(ckpt) != first
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 3


def test_cache_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEVISION_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "edgevision"
