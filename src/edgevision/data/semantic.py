"""Semantic-segmentation folders: the edgevision layout (CamVid, synth) and Cityscapes.

Layout read by :class:`SemanticFolder`::

    DIR/dataset.yaml               optional: {name, classes: [...], ignore_index: int, ...}
    DIR/{split}.txt                optional: NAMEs of the split, one per line
    DIR/images/{split}/NAME.jpg    RGB image (any of .jpg .jpeg .png .bmp .tif .tiff .webp)
    DIR/labels/{split}/NAME.png    8-bit single channel class ids, same size as the image

A split may be a selector of whole sequences (NAME = ``SEQUENCE_FRAME``): ``train:0006R0``
keeps only that sequence, ``train-0006R0`` drops it (:mod:`edgevision.data.sequences`).
Without ``{split}.txt`` the split is every image in ``images/{split}`` in name order. Labels
are matched to images by NAME. Numpy + OpenCV only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgevision.classnames import CAMVID_CLASSES, CAMVID_IGNORE_INDEX, CITYSCAPES_CLASSES
from edgevision.data.sequences import folder_split_exists, resolve_split, sequence_counts
from edgevision.errors import DataError, require_dir
from edgevision.io import IMAGE_SUFFIXES, read_image, read_mask
from edgevision.results import SemanticMask

__all__ = [
    "CAMVID_CLASSES",
    "CAMVID_IGNORE_INDEX",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABELID_TO_TRAINID",
    "PRESETS",
    "CityscapesFolder",
    "SemanticDataset",
    "SemanticFolder",
    "SemanticSample",
    "class_components",
    "class_pixel_counts",
    "dataset_classes",
    "is_cityscapes",
    "labelids_to_trainids",
    "open_semantic",
    "read_dataset_yaml",
]

PRESETS: dict[str, dict[str, Any]] = {
    "camvid": {"classes": list(CAMVID_CLASSES), "ignore_index": CAMVID_IGNORE_INDEX},
}
"""Built-in class lists for folders without ``dataset.yaml``, keyed by lower-case basename."""

CITYSCAPES_LABELID_TO_TRAINID: dict[int, int] = {
    0: 255,
    1: 255,
    2: 255,
    3: 255,
    4: 255,
    5: 255,
    6: 255,  # unlabeled ... ground
    7: 0,
    8: 1,
    9: 255,
    10: 255,  # road, sidewalk, parking, rail track
    11: 2,
    12: 3,
    13: 4,
    14: 255,
    15: 255,
    16: 255,  # building, wall, fence, guard rail, ...
    17: 5,
    18: 255,
    19: 6,
    20: 7,  # pole, polegroup, traffic light, traffic sign
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,  # vegetation ... bus
    29: 255,
    30: 255,
    31: 16,
    32: 17,
    33: 18,  # caravan, trailer, train, motorcycle, bicycle
}
"""Standard Cityscapes ``labelId`` (0–33) -> ``trainId`` (0–18, 255 = ignore) table
(``cityscapesscripts/helpers/labels.py``). Any other id (e.g. license plate, -1) maps to 255."""

_CITYSCAPES_LUT = np.full(256, 255, dtype=np.uint8)
for _k, _v in CITYSCAPES_LABELID_TO_TRAINID.items():
    _CITYSCAPES_LUT[_k] = _v


def labelids_to_trainids(mask: np.ndarray) -> np.ndarray:
    """Map a Cityscapes ``labelIds`` mask to ``trainIds`` with a lookup table.

    Args:
        mask: ``(H, W)`` integer labelIds (uint8 as stored; ids outside 0–255 map to 255).

    Returns:
        ``(H, W)`` uint8 trainIds in 0–18, 255 = ignore.
    """
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        return _CITYSCAPES_LUT[m]
    m = m.astype(np.int64)
    out = np.full(m.shape, 255, dtype=np.uint8)
    inside = (m >= 0) & (m < 256)
    out[inside] = _CITYSCAPES_LUT[m[inside]]
    return out


@dataclass
class SemanticSample:
    """One image with its dense labels.

    Attributes:
        name: sample NAME (file stem).
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` int64 class ids in ``[0, num_classes)`` or ``ignore_index``.
        image_path: the image file.
        label_path: the label file.
    """

    name: str
    image: np.ndarray
    mask: np.ndarray
    image_path: Path | None = None
    label_path: Path | None = None

    def to_result(self, class_names: Sequence[str], ignore_index: int) -> SemanticMask:
        """The label as a :class:`~edgevision.results.SemanticMask` (for drawing / metrics)."""
        return SemanticMask(self.mask, class_names, ignore_index=ignore_index)


def read_dataset_yaml(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read ``root/dataset.yaml`` (``None`` if absent), checking the keys edgevision uses.

    Raises:
        DataError: invalid YAML, not a mapping, or ``classes``/``ignore_index`` of wrong type.
    """
    import yaml

    p = Path(root) / "dataset.yaml"
    if not p.is_file():
        return None
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise DataError(f"invalid YAML ({str(e).splitlines()[0]}): {p}") from None
    if not isinstance(data, dict):
        raise DataError(f"dataset.yaml must be a mapping, got {type(data).__name__}: {p}")
    classes = data.get("classes")
    if classes is not None and (
        not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes)
    ):
        raise DataError(f"field 'classes' must be a non-empty list of names: {p}")
    ign = data.get("ignore_index")
    if ign is not None and (not isinstance(ign, int) or isinstance(ign, bool)):
        raise DataError(f"field 'ignore_index' must be an integer, got {ign!r}: {p}")
    return data


class _SemanticBase:
    """Shared indexing, reading and validation for semantic folders."""

    class_names: list[str]
    ignore_index: int
    _items: list[tuple[str, Path, Path]]

    @property
    def names(self) -> list[str]:
        """Sample NAMEs in split order."""
        return [n for n, _, _ in self._items]

    @property
    def image_paths(self) -> list[Path]:
        """Image files in split order."""
        return [img for _, img, _ in self._items]

    @property
    def label_paths(self) -> list[Path]:
        """Label files in split order (for cache fingerprints and up-front validation)."""
        return [lab for _, _, lab in self._items]

    @property
    def sequences(self) -> dict[str, int]:
        """Images per sequence (NAME prefix before the first ``_``), by sequence name."""
        return sequence_counts(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[SemanticSample]:
        for i in range(len(self)):
            yield self[i]

    def _convert_mask(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def read_mask(self, i: int) -> np.ndarray:
        """Read only the label of sample ``i``: ``(H, W)`` int64, values checked."""
        _, _, lab = self._items[i]
        m = self._convert_mask(read_mask(lab))
        self._check_values(m, lab)
        return m.astype(np.int64)

    def __getitem__(self, i: int) -> SemanticSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        name, img_path, lab_path = self._items[i]
        image = read_image(img_path)
        raw = read_mask(lab_path)
        if raw.shape != image.shape[:2]:
            raise DataError(
                f"label size {raw.shape[1]}x{raw.shape[0]} (WxH) differs from image size "
                f"{image.shape[1]}x{image.shape[0]}: {lab_path}"
            )
        m = self._convert_mask(raw)
        self._check_values(m, lab_path)
        return SemanticSample(name, image, m.astype(np.int64), img_path, lab_path)

    def _check_values(self, m: np.ndarray, path: Path) -> None:
        n = self.num_classes
        if m.dtype == np.uint8:
            present = np.flatnonzero(np.bincount(m.ravel(), minlength=256))
        else:
            present = np.unique(m)
        bad = [int(v) for v in present if not (0 <= v < n or v == self.ignore_index)]
        if bad:
            shown = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
            raise DataError(
                f"label values {shown} not in [0, {n}) or ignore_index {self.ignore_index}: {path}"
            )


def dataset_classes(
    root: str | os.PathLike[str], meta: dict[str, Any] | None = None
) -> tuple[list[str], int] | None:
    """A folder's own ``(class_names, ignore_index)``: the 19 trainId classes for a
    Cityscapes folder (:func:`is_cityscapes`), else from ``dataset.yaml``, else from a
    preset matched by the folder's name (:data:`PRESETS`), else ``None``.

    ``meta`` is the already-read ``dataset.yaml`` (read here when not given).
    """
    if is_cityscapes(root):
        return list(CITYSCAPES_CLASSES), 255
    meta = read_dataset_yaml(root) if meta is None else meta
    meta = meta or {}
    if meta.get("classes") is not None:
        return [str(c) for c in meta["classes"]], int(meta.get("ignore_index", 255))
    preset = PRESETS.get(Path(root).resolve().name.lower())
    if preset is not None:
        return list(preset["classes"]), int(preset["ignore_index"])
    return None


class SemanticFolder(_SemanticBase):
    """Images and dense labels in the edgevision folder layout (see module docstring).

    Class names and ``ignore_index`` come from the explicit arguments when given, else from
    ``dataset.yaml``, else from a built-in preset (:data:`PRESETS`) when the folder's basename
    matches one (``camvid``, case-insensitive). ``ignore_index`` defaults to 255.

    Args:
        root: dataset folder.
        split: split name, e.g. ``"train"``, or a selector of its sequences:
            ``"train:0006R0"`` (only that sequence), ``"train-0006R0"`` (without it); see
            :mod:`edgevision.data.sequences`.
        class_names: class names, index = id (overrides ``dataset.yaml``).
        ignore_index: label value ignored by losses and metrics (overrides ``dataset.yaml``).
        validate: check at construction that every NAME has an image and a label file.

    Attributes:
        selector: the split as read (:class:`~edgevision.data.sequences.SplitSelector`);
            ``sequences`` gives the images per sequence.

    Raises:
        DataError: missing root or split, an image without a label, no class names known,
            an unknown sequence or a selector that leaves no image.
        ConfigError: a malformed split selector.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = None,
        validate: bool = True,
    ) -> None:
        self.root = Path(root)
        self.split = split
        require_dir(self.root, "dataset folder")
        meta = read_dataset_yaml(self.root) or {}
        own = dataset_classes(self.root, meta)
        names = class_names if class_names is not None else (own[0] if own else None)
        ign = ignore_index if ignore_index is not None else (own[1] if own else None)
        if names is None:
            raise DataError(
                f"no class names for {self.root}: add dataset.yaml with 'classes' "
                f"or pass class_names="
            )
        self.class_names = [str(c) for c in names]
        self.ignore_index = int(ign) if ign is not None else 255
        self.meta = meta

        sel = resolve_split(split, folder_split_exists(self.root))
        self.selector = sel
        img_dir = self.root / "images" / sel.base
        lab_dir = self.root / "labels" / sel.base
        list_file = self.root / f"{sel.base}.txt"
        if not list_file.is_file() and not img_dir.is_dir():
            raise DataError(f"split {sel.base!r} not found: no {list_file} and no folder {img_dir}")
        require_dir(img_dir, f"image folder of split {sel.base!r}")
        images: dict[str, Path] = {}
        for f in img_dir.iterdir():
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                if f.stem in images:
                    raise DataError(f"two images named {f.stem!r}: {images[f.stem]} and {f}")
                images[f.stem] = f
        if list_file.is_file():
            wanted = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
        else:
            wanted = sorted(images)
        wanted = sel.select(wanted, str(self.root))
        items = []
        for name in wanted:
            img = images.get(name)
            if img is None:
                raise DataError(
                    f"{list_file.name} lists {name!r} but there is no image {img_dir / name}.*"
                )
            lab = lab_dir / f"{name}.png"
            if validate and not lab.is_file():
                raise DataError(f"image has no label file {lab}: {img}")
            items.append((name, img, lab))
        self._items = items

    def __repr__(self) -> str:
        return (
            f"SemanticFolder({str(self.root)!r}, {self.split!r}: {len(self)} samples, "
            f"{self.num_classes} classes, ignore_index={self.ignore_index})"
        )


def is_cityscapes(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is in the Cityscapes layout (``leftImg8bit/`` and ``gtFine/``)."""
    r = Path(root)
    return (r / "leftImg8bit").is_dir() and (r / "gtFine").is_dir()


class CityscapesFolder(_SemanticBase):
    """Cityscapes fine annotations, labels mapped to the 19 trainIds (255 = ignore).

    Layout::

        ROOT/leftImg8bit/{split}/CITY/STEM_leftImg8bit.png
        ROOT/gtFine/{split}/CITY/STEM_gtFine_labelIds.png

    NAMEs are the STEMs (``aachen_000000_000019``), so a city is a sequence: ``train:aachen``
    keeps only Aachen, ``train-aachen`` drops it (:mod:`edgevision.data.sequences`).

    Args:
        root: Cityscapes folder.
        split: ``train``, ``val``, ``test`` or a selector of its cities.
        class_names: must equal :data:`CITYSCAPES_CLASSES` when given (the labels are
            mapped to them).
        ignore_index: must be 255 when given.
        validate: check at construction that every image has its ``labelIds`` file.

    Raises:
        DataError: missing folders, an image without its ``labelIds`` file, other classes
            than the 19 trainIds asked for.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = None,
        validate: bool = True,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.class_names = list(CITYSCAPES_CLASSES)
        self.ignore_index = 255
        self.meta: dict[str, Any] = {}
        if class_names is not None and [str(c) for c in class_names] != self.class_names:
            raise DataError(
                f"{self.root} is a Cityscapes folder: its classes are the 19 trainIds "
                f"{self.class_names}, not {list(class_names)}"
            )
        if ignore_index is not None and int(ignore_index) != 255:
            raise DataError(f"{self.root} is a Cityscapes folder: ignore_index is 255")
        require_dir(self.root, "Cityscapes folder")
        sel = resolve_split(split, lambda s: (self.root / "leftImg8bit" / s).is_dir())
        self.selector = sel
        img_root = self.root / "leftImg8bit" / sel.base
        gt_root = self.root / "gtFine" / sel.base
        require_dir(img_root, f"Cityscapes image folder of split {sel.base!r}")
        require_dir(gt_root, f"Cityscapes gtFine folder of split {sel.base!r}")
        found = {}
        for img in sorted(img_root.glob("*/*_leftImg8bit.png")):
            found[img.name[: -len("_leftImg8bit.png")]] = img
        items = []
        for stem in sel.select(list(found), str(self.root)):
            img = found[stem]
            lab = gt_root / img.parent.name / f"{stem}_gtFine_labelIds.png"
            if validate and not lab.is_file():
                raise DataError(f"image has no label file {lab}: {img}")
            items.append((stem, img, lab))
        self._items = items

    def _convert_mask(self, raw: np.ndarray) -> np.ndarray:
        return labelids_to_trainids(raw)

    def __repr__(self) -> str:
        return f"CityscapesFolder({str(self.root)!r}, {self.split!r}: {len(self)} samples)"


SemanticDataset = SemanticFolder | CityscapesFolder
"""Either semantic folder reader (what :func:`open_semantic` returns)."""


def open_semantic(
    root: str | os.PathLike[str],
    split: str,
    *,
    class_names: Sequence[str] | None = None,
    ignore_index: int | None = None,
    validate: bool = True,
) -> SemanticDataset:
    """The semantic reader of a folder: :class:`CityscapesFolder` for the Cityscapes layout
    (:func:`is_cityscapes`), else :class:`SemanticFolder`; arguments as there.

    Raises:
        DataError: as the reader raises.
    """
    cls = CityscapesFolder if is_cityscapes(root) else SemanticFolder
    return cls(root, split, class_names=class_names, ignore_index=ignore_index, validate=validate)


class _HasMasks(Protocol):
    class_names: list[str]
    ignore_index: int

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> SemanticSample: ...


def class_pixel_counts(dataset: _HasMasks, *, progress: bool = False) -> np.ndarray:
    """Pixels per class over a whole split (ignored pixels not counted).

    Reads only the label files when the dataset has ``read_mask(i)`` (both folders here do).

    Args:
        dataset: a :class:`SemanticFolder`, :class:`CityscapesFolder` or anything with
            ``class_names``, ``ignore_index``, ``__len__`` and ``__getitem__ -> SemanticSample``.
        progress: show a rich progress bar.

    Returns:
        ``(num_classes,)`` int64 counts, index = class id.
    """
    n = len(dataset.class_names)
    counts = np.zeros(n, dtype=np.int64)
    reader = getattr(dataset, "read_mask", None)
    indices: Any = range(len(dataset))
    if progress:
        from rich.progress import track

        indices = track(indices, description="counting pixels", transient=True)
    for i in indices:
        m = reader(i) if reader is not None else dataset[i].mask
        m = m[(m >= 0) & (m < n)]
        counts += np.bincount(m.ravel(), minlength=n)[:n]
    return counts


def class_components(
    label: np.ndarray, class_ids: Sequence[int]
) -> Iterator[tuple[int, tuple[int, int, int, int], int, np.ndarray]]:
    """The 8-connected components of each class of an ``(H, W)`` label map, class by class.

    Yields:
        ``(k, (x, y, w, h), area, comp)``: ``k`` the position of the component's class in
        ``class_ids`` (semantic ids), its bounding box and pixel count, and ``comp`` its
        ``(h, w)`` bool mask within the box.
    """
    import cv2

    for k, sid in enumerate(class_ids):
        m = (label == sid).astype(np.uint8)
        if not m.any():
            continue
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        for j in range(1, n):
            x, y, w, h = (int(v) for v in stats[j, :4])
            yield k, (x, y, w, h), int(stats[j, cv2.CC_STAT_AREA]), lab[y : y + h, x : x + w] == j
