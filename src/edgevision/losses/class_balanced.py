"""Class-balanced weights from the effective number of samples (numpy only, no torch).

Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019. With
``n_c`` samples of class ``c`` and a hyper-parameter ``β ∈ [0, 1)``, the *effective number*

    E(n_c) = (1 − β^{n_c}) / (1 − β)

grows like ``n_c`` for small counts and saturates at ``1 / (1 − β)`` for large ones (new
samples increasingly overlap the ones already seen). Class weights are ``w_c ∝ 1 / E(n_c)``,
normalised so they sum to the number of classes. ``β = 0`` gives uniform weights and
``β → 1`` inverse-frequency weights ``w_c ∝ 1 / n_c``.

**What is a "sample" in segmentation?** The paper is about image classification. For dense
labels two counts make sense, both computed in one pass over the labels and cached
(:func:`class_counts`):

``unit="pixels"`` (the default)
    Labelled pixels per class over the whole training split. This is the imbalance a
    pixel-averaged loss actually suffers from (CamVid: Road 20.1M vs Bicyclist 0.18M pixels, so
    Road gets ~100× the gradient). Counts are in the 10⁵–10⁸ range, so β must be very close to
    1: every class with ``n_c ≫ 1/(1 − β)`` gets the *same* weight, and the paper's β = 0.9999
    (cap 10⁴) makes all CamVid weights equal. Pick ``1/(1 − β)`` near the pixel counts of the
    common classes; :data:`DEFAULT_BETA` uses ``1 − 1e-6`` (cap 10⁶ pixels ≈ 6 CamVid images
    of area), which gives a softened inverse frequency (large classes saturate, small classes
    are weighted ∝ 1/n). Pixel counts depend on the label resolution, so a β tuned for one
    resolution means something else at another.

``unit="images"``
    Number of training images in which the class appears. Closest to the paper's notion of
    independent samples (pixels of one object are near-duplicates, which is exactly the
    "overlap" the effective number models), resolution-independent, and the paper's β range
    (0.9–0.9999) applies unchanged. But it is blind to *area* imbalance: on CamVid Pole occurs
    in 366 of 367 training images, as often as Road, and gets Road's weight although it has
    30× fewer pixels; with β = 0.9999 the weights span only ~2× (Road 367 images vs Fence 173).

The default is ``"pixels"`` because a class-balanced *segmentation* loss exists to counter the
pixel imbalance of the per-pixel loss, which the image count cannot see; the price is a β that
must match the scale of the counts (hence a separate default β per unit).

Counts are always over the **whole training split**, never per batch: per-batch counts are
noisy, and a class absent from a batch would flip between weight 0 and a huge weight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgevision.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_BETA",
    "DEFAULT_UNIT",
    "UNITS",
    "ClassCounts",
    "class_balanced_weights",
    "class_counts",
    "default_cache_dir",
    "effective_number",
    "effective_number_weights",
]

Unit = Literal["pixels", "images"]
UNITS: tuple[str, ...] = ("pixels", "images")
DEFAULT_UNIT: Unit = "pixels"
DEFAULT_BETA: dict[str, float] = {"pixels": 1.0 - 1e-6, "images": 0.9999}
"""Default β per unit: ``1/(1 − β)`` (the largest effective number) is 10⁶ pixels or 10⁴
images. See the module docstring for why they differ."""

_CACHE_VERSION = 1


# ------------------------------------------------------------------------------------------
# the formula
# ------------------------------------------------------------------------------------------
def _check_beta(beta: float) -> float:
    b = float(beta)
    if not 0.0 <= b <= 1.0 or np.isnan(b):
        raise ConfigError(f"beta must be in [0, 1], got {beta!r}")
    return b


def _check_counts(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {n.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError(f"counts must be finite and >= 0, got {n.tolist()}")
    return n


def _one_minus_beta_pow(n: np.ndarray, beta: float) -> np.ndarray:
    """``1 − β^n`` computed as ``−expm1(n · log1p(−(1 − β)))``: exact for β near 1, no 0/0."""
    if beta == 0.0:
        return np.where(n > 0, 1.0, 0.0)
    with np.errstate(over="ignore", under="ignore"):
        return -np.expm1(n * np.log1p(-(1.0 - beta)))


def effective_number(counts: Sequence[float] | np.ndarray, beta: float) -> np.ndarray:
    """Effective number of samples ``E(n) = (1 − β^n) / (1 − β)`` per class.

    Args:
        counts: ``(C,)`` non-negative sample counts (int or float).
        beta: in ``[0, 1]``; ``β = 1`` gives the limit ``E(n) = n``.

    Returns:
        ``(C,)`` float64, in ``[0, min(n, 1/(1 − β))]``; 0 where ``n = 0``.

    Raises:
        ConfigError: ``beta`` outside ``[0, 1]``.
        ValueError: counts not a non-empty 1-D array of finite non-negative numbers.
    """
    b = _check_beta(beta)
    n = _check_counts(counts)
    if b == 1.0:
        return n.copy()
    return _one_minus_beta_pow(n, b) / (1.0 - b)


def effective_number_weights(
    counts: Sequence[float] | np.ndarray, beta: float, *, warn_missing: bool = True
) -> np.ndarray:
    """Class-balanced weights ``w_c ∝ (1 − β) / (1 − β^{n_c})`` (Cui et al. 2019).

    Normalised as in the paper so that the weights of the classes that occur sum to their
    number (mean weight 1; with no empty class that is ``C``). Classes with ``n_c = 0`` get
    weight 0: they never appear as a target in training, and an infinite weight would be
    meaningless; a :class:`UserWarning` names them (unless ``warn_missing=False``). With a
    weighted-mean loss (``torch.nn.functional.cross_entropy`` with ``weight=``) the overall
    scale cancels, so only the ratios matter.

    Numerics: ``1 − β^n`` is computed as ``−expm1(n·log1p(β − 1))``, accurate for β within
    1e-12 of 1 and counts up to 10¹²; ``β^n`` underflowing to 0 is harmless. ``β = 0`` gives
    uniform weights, ``β = 1`` exactly the inverse-frequency limit ``w_c ∝ 1/n_c``.

    Args:
        counts: ``(C,)`` non-negative counts per class (pixels or images, see module doc).
        beta: in ``[0, 1]``.
        warn_missing: warn about classes with zero count.

    Returns:
        ``(C,)`` float64 weights ``>= 0``; 0 exactly for empty classes.

    Raises:
        ConfigError: ``beta`` outside ``[0, 1]``.
        ValueError: bad counts, or every count is 0.
    """
    b = _check_beta(beta)
    n = _check_counts(counts)
    present = n > 0
    if not present.any():
        raise ValueError("every class count is 0: no class-balanced weights can be computed")
    if not present.all() and warn_missing:
        missing = np.flatnonzero(~present).tolist()
        warnings.warn(
            f"classes {missing} have no samples; they get class-balanced weight 0",
            UserWarning,
            stacklevel=2,
        )
    raw = np.zeros_like(n)
    if b == 1.0:
        raw[present] = 1.0 / n[present]
    else:
        # the common factor (1 − β) cancels in the normalisation
        raw[present] = 1.0 / _one_minus_beta_pow(n[present], b)
    return raw * (present.sum() / raw.sum())


# ------------------------------------------------------------------------------------------
# counts over a split, cached
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClassCounts:
    """Per-class statistics of one split, computed in a single pass over the labels.

    Attributes:
        class_names: one name per class, index = id.
        ignore_index: label value that is not counted.
        num_images: images in the split.
        pixels: ``(C,)`` int64 labelled pixels per class.
        images: ``(C,)`` int64 images in which the class has at least one pixel.
        ignored_pixels: pixels equal to ``ignore_index``.
        cache_file: the JSON cache used or written (``None`` when not cached).
        from_cache: whether these numbers were read from ``cache_file``.
    """

    class_names: tuple[str, ...]
    ignore_index: int
    num_images: int
    pixels: np.ndarray
    images: np.ndarray
    ignored_pixels: int
    cache_file: Path | None = None
    from_cache: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self, unit: str = DEFAULT_UNIT) -> np.ndarray:
        """``(C,)`` int64 counts in ``unit`` (``"pixels"`` or ``"images"``)."""
        if unit == "pixels":
            return self.pixels
        if unit == "images":
            return self.images
        raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")

    def weights(
        self, beta: float | None = None, unit: str = DEFAULT_UNIT, *, warn_missing: bool = True
    ) -> np.ndarray:
        """Class-balanced weights ``(C,)`` float64 (see :func:`effective_number_weights`);
        ``beta=None`` takes :data:`DEFAULT_BETA` of ``unit``."""
        counts = self.counts(unit)
        b = DEFAULT_BETA[unit] if beta is None else beta
        return effective_number_weights(counts, b, warn_missing=warn_missing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the cache payload)."""
        return {
            "class_names": list(self.class_names),
            "ignore_index": self.ignore_index,
            "num_images": self.num_images,
            "pixels": [int(v) for v in self.pixels],
            "images": [int(v) for v in self.images],
            "ignored_pixels": self.ignored_pixels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], **kw: Any) -> ClassCounts:
        names = tuple(str(c) for c in d["class_names"])
        pixels = np.asarray(d["pixels"], dtype=np.int64)
        images = np.asarray(d["images"], dtype=np.int64)
        if pixels.shape != (len(names),) or images.shape != (len(names),):
            raise ValueError("counts do not match the number of classes")
        return cls(
            class_names=names,
            ignore_index=int(d["ignore_index"]),
            num_images=int(d["num_images"]),
            pixels=pixels,
            images=images,
            ignored_pixels=int(d["ignored_pixels"]),
            **kw,
        )


def default_cache_dir() -> Path:
    """:func:`edgevision.io.cache_root`: ``$EDGEVISION_CACHE``, ``$XDG_CACHE_HOME/edgevision``
    or ``~/.cache/edgevision``. Never inside the dataset: shared datasets are often read-only.
    """
    from edgevision.io import cache_root

    return cache_root()


def _label_paths(dataset: Any) -> list[Path] | None:
    """Label files of a dataset in sample order, or ``None`` if it does not expose them."""
    paths = getattr(dataset, "label_paths", None)  # SemanticFolder / CityscapesFolder
    return [Path(p) for p in paths] if paths is not None else None


def _cache_location(dataset: Any, cache_dir: Path) -> tuple[Path, str] | None:
    """``(cache file, fingerprint)`` for a dataset, or ``None`` if it cannot be keyed."""
    root = getattr(dataset, "root", None)
    split = getattr(dataset, "split", None)
    labels = _label_paths(dataset)
    if root is None or split is None or labels is None:
        return None
    root = Path(root).resolve()
    key = hashlib.sha256(f"{type(dataset).__name__}\0{root}\0{split}".encode()).hexdigest()
    files = []
    for p in labels:
        try:
            st = p.stat()
        except OSError as e:
            raise DataError(f"cannot read label file {p}: {e.strerror}") from None
        files.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    fp_src = json.dumps(
        [
            _CACHE_VERSION,
            list(dataset.class_names),
            int(dataset.ignore_index),
            list(getattr(dataset, "names", [])),
            files,
        ]
    )
    fingerprint = hashlib.sha256(fp_src.encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{root.name}_{split}")
    return cache_dir / "class_counts" / f"{safe}_{key[:16]}.json", fingerprint


def _read_cache(path: Path, fingerprint: str) -> ClassCounts | None:
    try:
        data = json.loads(path.read_text())
        if data.get("version") != _CACHE_VERSION or data.get("fingerprint") != fingerprint:
            return None
        return ClassCounts.from_dict(data["counts"], cache_file=path, from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, stale format or corrupt: recompute and overwrite


def _count(dataset: Any, progress: bool) -> ClassCounts:
    n = len(dataset.class_names)
    ign = int(dataset.ignore_index)
    pixels = np.zeros(n, dtype=np.int64)
    images = np.zeros(n, dtype=np.int64)
    ignored = 0
    reader = getattr(dataset, "read_mask", None)
    indices: Any = range(len(dataset))
    if progress:
        from rich.progress import track

        indices = track(indices, description="counting pixels", transient=True)
    for i in indices:
        m = np.asarray(reader(i) if reader is not None else dataset[i].mask).ravel()
        ignored += int(np.count_nonzero(m == ign))
        per = np.bincount(m[(m >= 0) & (m < n)], minlength=n)[:n]
        pixels += per
        images += per > 0
    return ClassCounts(
        class_names=tuple(str(c) for c in dataset.class_names),
        ignore_index=ign,
        num_images=len(dataset),
        pixels=pixels,
        images=images,
        ignored_pixels=ignored,
    )


def class_counts(
    dataset: Any,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> ClassCounts:
    """Pixels per class and images containing each class over a whole split, cached.

    One pass reads every label (``dataset.read_mask(i)`` when available, else
    ``dataset[i].mask``); pixels are counted as in
    :func:`edgevision.data.semantic.class_pixel_counts` (values in ``[0, C)``; ``ignore_index``
    counted separately).

    The result is cached as JSON in ``cache_dir/class_counts/`` (default
    :func:`default_cache_dir`, never the dataset folder), one file per dataset root and split,
    holding a fingerprint of the class list, ``ignore_index``, the sample names and every
    label file's path, size and mtime: a changed dataset is recounted and the file replaced
    atomically. Datasets without ``root``, ``split`` and label paths are counted, not cached.
    A cache folder that cannot be written only warns.

    Args:
        dataset: a :class:`~edgevision.data.semantic.SemanticFolder`,
            :class:`~edgevision.data.semantic.CityscapesFolder` or any object with
            ``class_names``, ``ignore_index``, ``__len__`` and ``read_mask(i) -> (H, W) int``
            or ``__getitem__(i).mask``.
        cache_dir: cache folder (default ``$XDG_CACHE_HOME/edgevision`` or
            ``~/.cache/edgevision``).
        use_cache: read and write the cache; ``False`` always recounts and writes nothing.
        progress: show a rich progress bar while counting.

    Returns:
        :class:`ClassCounts` (``from_cache`` says whether the cache was used).

    Raises:
        DataError: a label file is missing or unreadable, or holds values outside the classes.
    """
    if not use_cache:
        return _count(dataset, progress)
    where = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    loc = _cache_location(dataset, where)
    if loc is None:
        return _count(dataset, progress)
    path, fingerprint = loc
    cached = _read_cache(path, fingerprint)
    if cached is not None:
        return cached
    counts = _count(dataset, progress)
    from edgevision.io import write_json_atomic

    payload = {
        "version": _CACHE_VERSION,
        "root": str(Path(dataset.root).resolve()),
        "split": str(dataset.split),
        "fingerprint": fingerprint,
        "counts": counts.to_dict(),
    }
    try:
        write_json_atomic(path, payload)
    except OSError as e:
        warnings.warn(f"cannot write class-count cache {path}: {e.strerror}", stacklevel=2)
        return counts
    return dataclasses.replace(counts, cache_file=path)


def class_balanced_weights(
    dataset: Any,
    *,
    beta: float | None = None,
    unit: str = DEFAULT_UNIT,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Class-balanced weights of a training split: :func:`class_counts` then
    :func:`effective_number_weights`.

    Args:
        dataset: the **training** split (see :func:`class_counts`).
        beta: β in ``[0, 1]``; ``None`` takes :data:`DEFAULT_BETA` of ``unit``.
        unit: ``"pixels"`` or ``"images"`` (trade-off in the module docstring).
        cache_dir: see :func:`class_counts`.
        progress: progress bar while counting.

    Returns:
        ``(C,)`` float32 weights, ready for ``torch.as_tensor`` / ``build_loss(class_weights=)``.
    """
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    counts = class_counts(dataset, cache_dir=cache_dir, progress=progress)
    return counts.weights(beta, unit).astype(np.float32)
