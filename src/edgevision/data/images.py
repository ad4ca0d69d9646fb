"""Image folders as model input batches: the calibration sets of quantizers and engine
builders (ONNX Runtime static PTQ, TensorRT INT8 calibration)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import DataError, require_dir
from edgevision.io import IMAGE_SUFFIXES, read_image
from edgevision.preprocess import preprocess

__all__ = ["list_images", "load_batch", "select_images"]


def list_images(folder: str | os.PathLike[str], split: str = "train") -> list[Path]:
    """All image files of ``folder`` in name order.

    ``folder/images/{split}`` when it exists (edgevision dataset layout; ``split`` may be a
    sequence selector such as ``train-0006R0``, :mod:`edgevision.data.sequences`), else
    every image under ``folder`` (recursively).

    Raises:
        DataError: the folder is missing or holds no image; a selector that keeps none.
    """
    from edgevision.data.sequences import folder_split_exists, resolve_split

    root = Path(folder)
    require_dir(root, "calibration folder")
    selector = (
        resolve_split(split, folder_split_exists(root)) if (root / "images").is_dir() else None
    )
    if selector is not None and selector.filters and (root / "images" / selector.base).is_dir():
        from edgevision.data.sequences import split_names

        keep = set(split_names(root, split))
        files = sorted(
            p for p in (root / "images" / selector.base).iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and p.stem in keep
        )  # fmt: skip
        if not files:
            raise DataError(f"no images in split {split!r} of calibration folder {root}")
        return files
    sub = root / "images" / split
    if (root / "images").is_dir() and not sub.is_dir():
        have = sorted(p.name for p in (root / "images").iterdir() if p.is_dir())
        raise DataError(
            f"split {split!r} not found in dataset folder {root} (have: "
            f"{', '.join(have) or 'none'}; choose one with --calib-split)"
        )
    base = sub if sub.is_dir() else root
    files = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        where = f"{base} (split {split!r})" if base == sub else str(base)
        raise DataError(
            f"no images in calibration folder {where} (expected {', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def select_images(files: list[Path], count: int) -> list[Path]:
    """``count`` files evenly spaced over ``files`` (whole sequences, not just the first one).

    Raises:
        DataError: fewer than ``count`` files.
    """
    if count < 1:
        raise DataError(f"calibration size must be >= 1, got {count}")
    if len(files) < count:
        raise DataError(
            f"calibration folder has {len(files)} image(s), fewer than --calib-size {count} "
            f"(lower --calib-size or add images): {files[0].parent}"
        )
    idx = np.linspace(0, len(files) - 1, count).round().astype(int)
    return [files[i] for i in idx]


def load_batch(
    files: list[Path], spec: ModelSpec, input_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Read and preprocess ``files`` into ``(N, 3, H, W)`` float32 (spec's mean/std, size).

    Raises:
        DataError: an unreadable image, or one that is not 3-channel 8-bit.
    """
    import cv2

    out = []
    for f in files:
        raw = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise DataError(f"cannot decode calibration image (corrupt or not an image): {f}")
        if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 3:
            ch = 1 if raw.ndim == 2 else raw.shape[2]
            raise DataError(
                f"calibration image must be 8-bit 3-channel colour, got {ch} channel(s) "
                f"{raw.dtype}: {f}"
            )
        img = read_image(f, color_order="RGB")
        x, _ = preprocess(img, spec, input_size)
        out.append(x[0])
    return np.stack(out).astype(np.float32)
