"""File helpers: atomic writes and image reading with one-line errors (numpy + OpenCV only)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError, OutputError

# File kinds by suffix (lower case): the one definition of each list, used everywhere.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
"""Images read by :func:`read_image` (OpenCV)."""
ONNX_SUFFIXES = (".onnx",)
"""Exported models (ONNX Runtime, TensorRT)."""
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
"""PyTorch checkpoints (:mod:`edgevision.checkpoint`)."""
OPENVINO_SUFFIXES = (".xml",)
"""OpenVINO IR (``.xml`` + its ``.bin``; :mod:`edgevision.export.openvino`)."""


#: errors of a failing write, whichever file the writer names
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    On an exception (or Ctrl-C) the temporary file is removed and ``path`` is untouched, so
    no partial output that looks complete is ever left behind.

    Raises:
        OutputError: the file cannot be written (its folder cannot be made or written, the
            disk is full, an I/O error): one line naming ``path``.
    """
    dst = Path(path)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{dst.name}.",
            suffix=suffix if suffix is not None else dst.suffix + ".tmp",
            dir=dst.parent,
        )
    except OSError as e:
        raise OutputError(f"cannot write {dst}: {e.strerror or e}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
    try:
        yield tmp_path
        os.replace(tmp_path, dst)
    except OSError as e:
        if e.errno in _WRITE_ERRNOS or e.filename in (str(tmp_path), str(dst), tmp_path, dst):
            raise OutputError(f"cannot write {dst}: {e.strerror or e}") from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def json_safe(x: Any) -> Any:
    """A copy of ``x`` that strict JSON can hold (it has no inf/nan): non-finite floats become
    strings (``"inf"``, ``"nan"``), in nested dicts and lists too."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [json_safe(v) for v in x]
    return x


def cache_root() -> Path:
    """Where edgevision caches what it can recompute (class counts, engine choices, TensorRT
    engines): ``$EDGEVISION_CACHE``, else ``$XDG_CACHE_HOME/edgevision``, else
    ``~/.cache/edgevision``; never inside a dataset (shared datasets are often read-only)."""
    own = os.environ.get("EDGEVISION_CACHE")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgevision"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_image(path: str | os.PathLike[str], *, color_order: str = "RGB") -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 in ``color_order`` (``"RGB"`` or ``"BGR"``).

    Raises:
        DataError: the file is missing, unreadable, or not a decodable image.
    """
    import cv2

    img = _decode(path, cv2.IMREAD_COLOR, "image")
    if color_order == "RGB":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif color_order != "BGR":
        raise ValueError(f"color_order must be RGB or BGR, got {color_order!r}")
    return img


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel label PNG as ``(H, W)`` uint8/uint16 without any colour conversion.

    Raises:
        DataError: missing, undecodable, or not single-channel.
    """
    import cv2

    m = _decode(path, cv2.IMREAD_UNCHANGED, "mask")
    if m.ndim != 2:
        raise DataError(f"mask must be single-channel, got shape {m.shape}: {Path(path)}")
    return m


def _decode(path: str | os.PathLike[str], flags: int, what: str) -> np.ndarray:
    """The file decoded by ``cv2.imdecode`` with ``flags``; ``what`` ("image", "mask") names
    it in errors.

    Raises:
        DataError: the file is missing, unreadable, or not a decodable image.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} not found: {p}")
    buf = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise DataError(f"cannot decode {what} (corrupt or not an image): {p}")
    return img


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(H, W)`` of an image file, from its header where Pillow can read it (no decoding).

    Raises:
        DataError: the file is missing or not a readable image.
    """
    import cv2

    p = Path(path)
    try:
        from PIL import Image

        with Image.open(p) as im:
            w, h = im.size
        return int(h), int(w)
    except (OSError, ValueError):  # Pillow can't: let OpenCV decode it, or say why
        img = _decode(p, cv2.IMREAD_UNCHANGED, "image")
        return int(img.shape[0]), int(img.shape[1])


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, color_order: str = "RGB"):
    """Write an ``(H, W, 3)`` uint8 image (or ``(H, W)`` mask) atomically; format from suffix."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and color_order == "RGB":
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    p = Path(path)
    ok, enc = cv2.imencode(p.suffix or ".png", img)
    if not ok:
        raise DataError(f"cannot encode image as {p.suffix}: {p}")
    with atomic_path(p) as tmp:
        enc.tofile(str(tmp))


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, copy: bool) -> Path:
    """Make ``dst`` a symlink to ``src`` (resolved) or, with ``copy``, a copy of it,
    replacing whatever ``dst`` was; returns ``dst``."""
    import shutil

    s, d = Path(src), Path(dst)
    if d.is_symlink() or d.exists():
        d.unlink()
    if copy:
        shutil.copyfile(s, d)
    else:
        d.symlink_to(s.resolve())
    return d
