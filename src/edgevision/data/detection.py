"""Detection datasets from COCO files or YOLO-txt folders, named by a folder or a dataset YAML.

Detection training and ``edgevision eval`` read a split through :func:`load_detection_split`,
which accepts three forms of ``data``:

* a folder in the edgevision COCO layout: ``DIR/annotations/instances_{split}.json`` and
  ``DIR/images/{split}/`` (the synthetic set, ``edgevision data camvid-boxes``);
* a YOLO-txt folder: ``DIR/images/{split}/NAME.jpg`` and ``DIR/labels/{split}/NAME.txt``
  (:mod:`edgevision.data.yolo`), class names from ``DIR/data.yaml`` or ``DIR/dataset.yaml``
  (``names`` or ``classes``);
* a dataset YAML file (the Ultralytics ``data.yaml`` shape is accepted)::

      path: ../street          # root of relative paths (default: the YAML's folder;
                               # a relative path is taken from the YAML's folder)
      train: images/train      # YOLO: an image folder, a .txt list of images, or a list
                               # of those; labels by replacing /images/ with /labels/
      val:                     # COCO: any annotation file and image folder
        annotations: annotations/instances_val.json
        images: images/val
      names: [car, person]     # or {0: car, 1: person}; optional for COCO splits
      nc: 2                    # optional, checked against names

Every split is returned as one COCO dictionary of boxes (YOLO labels converted to pixel
``[x, y, w, h]``; image sizes read from the file headers), so training and evaluation score
both forms the same way. A split may select whole sequences (``train:0006R0``,
``train-0006R0``; :mod:`edgevision.data.sequences`) in every form. Nothing is ever
downloaded: an Ultralytics ``download:`` key is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevision.data.coco import load_annotation_file, select_coco
from edgevision.data.sequences import resolve_split
from edgevision.data.yolo import parse_yolo_labels
from edgevision.errors import DataError, require_dir, require_file
from edgevision.io import IMAGE_SUFFIXES, image_size

__all__ = [
    "DATA_YAML_NAMES",
    "DatasetYaml",
    "DetectionSplit",
    "detection_format",
    "is_dataset_yaml",
    "load_detection_split",
    "read_dataset_yaml_file",
    "require_dataset",
    "yolo_label_path",
    "yolo_to_coco",
]

DATA_YAML_NAMES = ("data.yaml", "dataset.yaml")
"""Files a YOLO-txt folder may name its classes in (first found wins)."""

YAML_SUFFIXES = (".yaml", ".yml")


def is_dataset_yaml(data: str | os.PathLike[str]) -> bool:
    """Whether ``data`` names a dataset YAML file (by suffix) rather than a folder."""
    return Path(data).suffix.lower() in YAML_SUFFIXES


def require_dataset(data: str | os.PathLike[str]) -> None:
    """Check that ``data`` exists as what it names: a dataset YAML file or a folder.

    Raises:
        DataError: naming the missing file or folder.
    """
    if is_dataset_yaml(data):
        require_file(data, "dataset YAML")
    else:
        require_dir(data, "dataset folder")


@dataclass
class DetectionSplit:
    """One split of a detection dataset, as COCO boxes.

    Attributes:
        split: the split as asked (``val``, ``train:0006R0``).
        gt: COCO dictionary (``images``, ``annotations``, ``categories``); ``file_name``
            entries are relative to ``image_dir`` (or absolute).
        image_dir: folder the ``file_name`` entries are relative to.
        source: what the boxes were read from (an annotation file or a label folder), for
            messages.
        format: ``"coco"`` or ``"yolo"``.
    """

    split: str
    gt: dict[str, Any]
    image_dir: Path
    source: str
    format: str

    @property
    def class_names(self) -> list[str]:
        """Category names sorted by category id (index = contiguous class id)."""
        cats = sorted(self.gt["categories"], key=lambda c: int(c["id"]))
        return [str(c["name"]) for c in cats]

    def image_path(self, entry: dict[str, Any]) -> Path:
        """The file of an ``images`` entry."""
        return self.image_dir / str(entry["file_name"])


@dataclass
class DatasetYaml:
    """A dataset YAML file, checked.

    Attributes:
        file: the YAML file.
        root: folder relative split paths are taken from (``path``, else the file's folder).
        splits: split name -> its entry (a path, a list of paths or a ``{annotations,
            images}`` mapping), as written.
        names: class names (index = class id), ``None`` when the file gives none.
    """

    file: Path
    root: Path
    splits: dict[str, Any]
    names: list[str] | None


_RESERVED = {"path", "names", "nc", "classes", "download", "ignore_index", "name", "format"}


def _names_of(data: dict[str, Any], where: str) -> list[str] | None:
    """``names`` (a list, or an Ultralytics ``{id: name}`` mapping) or ``classes``; checks
    ``nc`` against it."""
    raw = data.get("names", data.get("classes"))
    if raw is None:
        names = None
    elif isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: field 'names' must map class ids 0..N-1 to names") from None
        if ids != list(range(len(ids))):
            raise DataError(f"{where}: field 'names' ids must be 0..{len(ids) - 1}, got {ids}")
        names = [str(raw[k] if k in raw else raw[str(k)]) for k in ids]
    elif isinstance(raw, list) and all(isinstance(n, (str, int)) for n in raw):
        names = [str(n) for n in raw]
    else:
        raise DataError(f"{where}: field 'names' must be a list of names or an {{id: name}} map")
    if names is not None and not names:
        raise DataError(f"{where}: field 'names' is empty")
    nc = data.get("nc")
    if nc is not None and names is not None and nc != len(names):
        raise DataError(f"{where}: nc {nc} != {len(names)} names")
    return names


def read_dataset_yaml_file(path: str | os.PathLike[str]) -> DatasetYaml:
    """Read and check a dataset YAML file (see the module docstring).

    Raises:
        DataError: missing file, invalid YAML, not a mapping, malformed ``names``, a missing
            ``path`` folder, no split.
    """
    import yaml

    p = Path(path)
    require_file(p, "dataset YAML")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataError(f"invalid YAML ({str(e).splitlines()[0]}): {p}") from None
    if not isinstance(data, dict):
        raise DataError(f"{p}: expected a mapping, got {type(data).__name__}")
    root = p.parent
    if data.get("path"):
        root = Path(str(data["path"]))
        root = root if root.is_absolute() else p.parent / root
        require_dir(root, f"{p}: field 'path'")
    splits = {str(k): v for k, v in data.items() if k not in _RESERVED and v}
    if not splits:
        raise DataError(f"{p}: no split (e.g. 'train: images/train', 'val: images/val')")
    return DatasetYaml(p, root, splits, _names_of(data, str(p)))


def yolo_label_path(image: Path) -> Path:
    """The YOLO label file of an image: the last ``/images/`` of its path replaced by
    ``/labels/`` and the suffix by ``.txt`` (the Ultralytics rule)."""
    parts = list(image.parts)
    for k in range(len(parts) - 2, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            break
    else:
        raise DataError(f"image path has no 'images' folder to find its YOLO labels by: {image}")
    return Path(*parts).with_suffix(".txt")


def _images_of(entry: Any, root: Path, where: str) -> list[Path]:
    """The image files of a YOLO split entry: folders (recursive), ``.txt`` lists, lists."""
    items = entry if isinstance(entry, list) else [entry]
    out: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise DataError(f"{where}: expected a path or a list of paths, got {item!r:.60}")
        p = Path(item)
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file() and p.suffix.lower() == ".txt":
            for line in p.read_text().splitlines():
                if line.strip():
                    f = Path(line.strip())
                    out.append(f if f.is_absolute() else p.parent / f)
        else:
            raise DataError(f"{where}: no image folder or .txt image list {p}")
    return out


def yolo_to_coco(
    images: list[Path], class_names: list[str], *, base: Path | None = None
) -> dict[str, Any]:
    """COCO boxes of YOLO-labelled images (label files by :func:`yolo_label_path`; an image
    without one has no objects).

    Args:
        images: image files.
        class_names: class names, index = YOLO class id (COCO category id = index + 1).
        base: ``file_name`` entries are relative to it when the image is inside it.

    Returns:
        COCO dictionary; ``bbox`` in pixels ``[x, y, w, h]`` (boxes clipped to the image).

    Raises:
        DataError: an unreadable image, a malformed label line (``FILE:LINE``).
    """
    coco_images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for iid, img in enumerate(images, start=1):
        h, w = image_size(img)
        name = img.relative_to(base) if base is not None and img.is_relative_to(base) else img
        coco_images.append({"id": iid, "file_name": str(name), "height": h, "width": w})
        lab = yolo_label_path(img)
        if not lab.is_file():
            continue
        cls, nb = parse_yolo_labels(lab, len(class_names))
        for c, (cx, cy, bw, bh) in zip(cls.tolist(), nb.tolist()):
            x1, y1 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
            x2, y2 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
            bbox = [x1, y1, x2 - x1, y2 - y1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": iid,
                    "category_id": int(c) + 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(class_names)]
    return {"images": coco_images, "annotations": anns, "categories": cats}


def _coco_split(ann: Path, images: Path, names: list[str] | None, where: str) -> dict[str, Any]:
    require_dir(images, f"{where}: image folder")
    gt, own, _ = load_annotation_file(ann)
    if names is not None and own != names:
        raise DataError(f"{ann}: categories {own} differ from the names {names} of {where}")
    return gt


def _from_yaml(spec: DatasetYaml, base: str) -> tuple[dict[str, Any], Path, str, str]:
    entry = spec.splits.get(base)
    where = f"{spec.file}: split {base!r}"
    if entry is None:
        raise DataError(
            f"{spec.file}: no split {base!r} (splits: {', '.join(sorted(spec.splits))})"
        )
    if isinstance(entry, dict):
        if set(entry) != {"annotations", "images"}:
            raise DataError(f"{where}: a COCO split needs exactly 'annotations' and 'images'")
        ann, img = (
            Path(str(entry[k])) if Path(str(entry[k])).is_absolute() else spec.root / str(entry[k])
            for k in ("annotations", "images")
        )
        return _coco_split(ann, img, spec.names, where), img, str(ann), "coco"
    if spec.names is None:
        raise DataError(f"{spec.file}: YOLO splits need class names ('names: [a, b]')")
    files = _images_of(entry, spec.root, where)
    if not files:
        raise DataError(f"{where}: no images")
    return yolo_to_coco(files, spec.names, base=spec.root), spec.root, where, "yolo"


def _folder_names(root: Path) -> list[str]:
    for name in DATA_YAML_NAMES:
        f = root / name
        if f.is_file():
            import yaml

            try:
                data = yaml.safe_load(f.read_text(encoding="utf-8"))
            except yaml.YAMLError as e:
                raise DataError(f"invalid YAML ({str(e).splitlines()[0]}): {f}") from None
            names = _names_of(data, str(f)) if isinstance(data, dict) else None
            if names is not None:
                return names
    raise DataError(
        f"no class names for the YOLO folder {root}: add data.yaml with 'names: [a, b]'"
    )


def detection_format(root: str | os.PathLike[str], split: str = "train") -> str | None:
    """``"coco"``, ``"yolo"`` or ``None``: which detection layout a folder has for ``split``
    (the base split of a selector); ``None`` for a semantic folder (PNG masks in
    ``labels/``) or a folder without that split."""
    r = Path(root)
    sel = resolve_split(split, _folder_exists(r))
    if (r / "annotations" / f"instances_{sel.base}.json").is_file():
        return "coco"
    labels = r / "labels" / sel.base
    # YOLO labels are .txt files; a semantic folder's labels/ holds PNG masks
    yolo = labels.is_dir() and next(labels.rglob("*.txt"), None) is not None
    return "yolo" if yolo and (r / "images" / sel.base).is_dir() else None


def _folder_exists(r: Path) -> Callable[[str], bool]:
    return lambda s: (
        (r / "annotations" / f"instances_{s}.json").is_file() or (r / "images" / s).is_dir()
    )


def load_detection_split(data: str | os.PathLike[str], split: str) -> DetectionSplit:
    """Read one split of a detection dataset (a COCO or YOLO folder, or a dataset YAML; see
    the module docstring) as COCO boxes.

    Args:
        data: dataset folder or dataset YAML file.
        split: split name, or a selector of its sequences (``train:0006R0``).

    Raises:
        DataError: a missing folder, file or split, malformed annotations or labels (named),
            a selector that keeps no image.
        ConfigError: a malformed selector.
    """
    p = Path(data)
    if is_dataset_yaml(p):
        spec = read_dataset_yaml_file(p)
        sel = resolve_split(split, lambda s: s in spec.splits)
        gt, image_dir, source, fmt = _from_yaml(spec, sel.base)
    else:
        require_dir(p, "dataset folder")
        sel = resolve_split(split, _folder_exists(p))
        fmt_or_none = detection_format(p, sel.base)
        if fmt_or_none == "coco":
            ann = p / "annotations" / f"instances_{sel.base}.json"
            image_dir = p / "images" / sel.base
            gt = _coco_split(ann, image_dir, None, str(p))
            source, fmt = str(ann), "coco"
        elif fmt_or_none == "yolo":
            image_dir = p / "images" / sel.base
            files = sorted(f for f in image_dir.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            gt = yolo_to_coco(files, _folder_names(p), base=image_dir)
            source, fmt = str(p / "labels" / sel.base), "yolo"
        else:
            raise DataError(
                f"split {sel.base!r} not found in {p}: no COCO annotations "
                f"{p / 'annotations' / f'instances_{sel.base}.json'} and no YOLO labels "
                f"{p / 'labels' / sel.base}"
            )
    gt = select_coco(gt, sel, source)
    return DetectionSplit(split, gt, image_dir, source, fmt)
