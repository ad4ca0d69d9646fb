"""ONNX files exported once per checkpoint and kept in a cache folder.

``edgevision eval CKPT`` and ``Model.val()`` run a checkpoint through ONNX Runtime: the
first call exports it (checked against PyTorch, as ``edgevision export`` does) into
``$EDGEVISION_CACHE/onnx`` (default ``$XDG_CACHE_HOME/edgevision`` or
``~/.cache/edgevision``); later calls reuse the file. The file name carries a key of the
checkpoint's bytes (SHA-256), the export options and the exporter's version, so a changed
checkpoint or exporter gets a new file, never a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from edgevision.config import ExportConfig, to_dict
from edgevision.io import file_sha256

__all__ = ["cache_dir", "cached_onnx"]


def cache_dir() -> Path:
    """:func:`edgevision.io.cache_root`: ``$EDGEVISION_CACHE``, else
    ``$XDG_CACHE_HOME/edgevision``, else ``~/.cache/edgevision``."""
    from edgevision.io import cache_root

    return cache_root()


def _exporter_version() -> str:
    """The package version and a digest of the exporter's source (an edit re-exports)."""
    from edgevision import __version__

    src = Path(__file__).with_name("onnx.py").read_bytes()
    return f"{__version__}:{hashlib.sha256(src).hexdigest()[:12]}"


def cached_onnx(
    target: str | os.PathLike[str],
    *,
    input_size: tuple[int, int] | None = None,
    config: ExportConfig | None = None,
) -> Path:
    """The ONNX file of ``target``, exported on the first call and reused afterwards.

    Args:
        target: a checkpoint (``.pt``/``.safetensors``) or a registry name (random init,
            seed 0); a shipped-weights name must be resolved to its file first.
        input_size: ``(H, W)`` to record and trace at (default: the spec's).
        config: export options (default :class:`~edgevision.config.ExportConfig`).

    Returns:
        The cached ``.onnx`` path.

    Raises:
        ExportError, BackendUnavailable: as :func:`~edgevision.export.export_onnx`.
    """
    from edgevision.export.onnx import export_onnx

    cfg = config or ExportConfig()
    p = Path(str(target))
    source = file_sha256(p) if p.is_file() else f"registry:{target}"
    key = json.dumps(
        [source, list(input_size) if input_size else None, to_dict(cfg), _exporter_version()]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    out = cache_dir() / "onnx" / f"{p.stem if p.is_file() else target}-{digest}.onnx"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(str(target), out, cfg, input_size=input_size)  # atomic: no partial file
    return out
