"""Export: ONNX (with embedded metadata, checked against PyTorch in ONNX Runtime)."""

from __future__ import annotations

from typing import Any

__all__ = ["ExportReport", "embed_spec", "export_onnx", "read_spec"]


def __getattr__(name: str) -> Any:  # lazy: exporting needs torch, reading metadata doesn't
    if name in ("export_onnx", "ExportReport"):
        from edgevision.export import onnx as _onnx

        return getattr(_onnx, name)
    if name in ("embed_spec", "read_spec"):
        from edgevision.export import metadata as _meta

        return getattr(_meta, name)
    raise AttributeError(name)
