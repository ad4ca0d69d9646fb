"""Pseudo instance labels from semantic masks (numpy + OpenCV, no torch).

For every "thing" class of a semantic-mask dataset (the edgevision semantic layout, e.g.
CamVid or the synthetic set), each label map becomes a set of pseudo-instances:

1. **Connected components** (8-connected) of the class's pixels. Components smaller than
   ``min_area`` are *fragments*: they are not instances, and their pixels join the ignore
   region (the model is neither taught that they are objects nor that they are background).
2. **Splitting of merged blobs** (``split=True``): two objects of one class that touch or
   overlap form one component whose distance transform has two peaks joined by a *neck*.
   A watershed floods the distance transform from the top down (0.5 px levels): a piece of
   a level set without a label is a new peak (if higher than ``min_peak`` px); where two
   labels meet, the level is their saddle, and they merge back into one object when the
   saddle is at least ``neck_ratio`` of the lower peak (an elongated object has a ridge of
   peaks without a neck and stays whole); the other pixels of a level join the nearest
   label. Parts under ``min_area`` are merged into their neighbour.
3. **Ignore region** (uncertain pixels, one ``uint8`` PNG per image, 255 = ignore): void /
   ignore-id pixels, fragments, a band of ``boundary_px`` pixels on both sides of every
   instance's outline (semantic labels are coarse at borders), and a band of
   ``split_band_px`` pixels around every split line (which side a pixel belongs to is a
   guess there).
4. **Confidence** per pseudo-instance in ``(0, 1]``: ``size * split`` where ``size =
   min(1, area / (4 * min_area))`` (tiny objects are often label noise) and ``split = 1``
   for an unsplit component, else ``1 - saddle / peak`` of its weakest neck (a deep neck is
   a confident split, a shallow one a guess).

Output (the edgevision COCO layout, read by ``edgevision train`` for YOLACT)::

    OUT/images/{split}/NAME.ext                symlinks to the source images (or copies)
    OUT/annotations/instances_{split}.json     COCO, RLE masks, "confidence" per annotation;
                                               image entries carry "ignore_file" and
                                               "semantic_file"
    OUT/ignore/{split}/NAME.png                the ignore region (255 = ignore)
    OUT/README.md                              settings, counts, the command

The dataset's semantic labels stay where they are: image entries point to them
(``semantic_file``) for the self-training rounds of :mod:`edgevision.train.weak`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.markdown import markdown_table
from edgevision.data.semantic import class_components
from edgevision.errors import ConfigError, DataError

__all__ = [
    "PseudoInstance",
    "PseudoLabelConfig",
    "component_instances",
    "image_pseudo_instances",
    "semantic_to_instances",
]


@dataclass
class PseudoLabelConfig:
    """Settings of :func:`semantic_to_instances`.

    Attributes:
        classes: semantic class names that become instance classes (COCO id = position + 1).
        min_area: smallest instance in pixels; smaller components are fragments (ignored).
        split: split merged blobs (distance transform + watershed).
        min_peak: smallest distance-transform peak (pixels) that can seed a part.
        neck_ratio: two parts stay merged while saddle / lower peak >= this (0–1); lower
            values split less.
        boundary_px: ignore band on each side of every instance outline (0: none).
        split_band_px: ignore band around split lines (0: none).
    """

    classes: tuple[str, ...] = ()
    min_area: int = 50
    split: bool = True
    min_peak: float = 3.0
    neck_ratio: float = 0.7
    boundary_px: int = 1
    split_band_px: int = 2

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError("no thing classes given (e.g. --classes Car,Pedestrian,Bicyclist)")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"thing classes repeat: {list(self.classes)}")
        if self.min_area < 1:
            raise ConfigError(f"min_area must be >= 1, got {self.min_area}")
        if self.min_peak <= 0 or not 0 < self.neck_ratio <= 1:
            raise ConfigError("min_peak must be > 0 and neck_ratio in (0, 1]")
        if self.boundary_px < 0 or self.split_band_px < 0:
            raise ConfigError("boundary_px and split_band_px must be >= 0")


@dataclass
class PseudoInstance:
    """One pseudo-instance of an image.

    Attributes:
        mask: ``(H, W)`` bool, the instance's pixels.
        class_index: position in :attr:`PseudoLabelConfig.classes`.
        confidence: ``(0, 1]`` (see the module docstring).
        split: whether it came from splitting a merged component.
    """

    mask: np.ndarray
    class_index: int
    confidence: float
    split: bool = False


# --------------------------------------------------------------------------------------------
# One component
# --------------------------------------------------------------------------------------------
def fill_nearest(lab: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Give every ``todo`` pixel of the int label map ``lab`` the label of its nearest
    labelled (``> 0``) pixel (Euclidean), in place; returns ``lab``."""
    import cv2

    if not todo.any() or not (lab > 0).any():
        return lab
    src = np.where(lab > 0, 0, 255).astype(np.uint8)
    _, near = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(lab > 0)
    lut = np.zeros(int(near.max()) + 1, lab.dtype)
    lut[near[ys, xs]] = lab[ys, xs]
    lab[todo] = lut[near[todo]]
    return lab


def _flood(
    dist: np.ndarray, inside: np.ndarray, cfg: PseudoLabelConfig
) -> tuple[np.ndarray, dict[int, float]]:
    """Watershed by flooding the distance transform from its peaks downwards.

    Levels go from the highest distance down in steps of 0.5 px. At each level the pixels
    at or above it form connected pieces (8-connected): a piece without a label is a new
    peak; a piece holding one label grows it; a piece where several labels meet is a
    saddle at this level. Two labels that meet at a level ``>= neck_ratio`` of the lower
    peak are one object (no neck) and merge; otherwise both stay and the piece's new pixels
    go to the nearest label. Returns the label map (0 outside ``inside``) and, per kept
    label, its weakest neck as ``saddle / peak``.
    """
    import cv2

    lab = np.zeros(dist.shape, np.int32)
    peak: dict[int, float] = {}
    neck: dict[int, float] = {}
    top = float(dist.max())
    levels = [*np.arange(top, 0.0, -0.5).tolist(), 0.0]
    for level in levels:
        cur = (dist >= level) & inside if level > 0 else inside
        n_cc, cc = cv2.connectedComponents(cur.astype(np.uint8), connectivity=8)
        has = (lab > 0) & cur
        pairs = (
            np.unique(np.stack([cc[has], lab[has]], 1), axis=0)
            if has.any()
            else np.zeros((0, 2), np.int32)
        )
        labels_in: dict[int, list[int]] = {}
        for k, lb in pairs.tolist():
            labels_in.setdefault(int(k), []).append(int(lb))
        grow = False
        for k in range(1, n_cc):
            ls = labels_in.get(k, [])
            if not ls:
                if level >= cfg.min_peak:  # a new peak
                    nid = len(peak) + 1
                    peak[nid] = level
                    lab[(cc == k) & (lab == 0)] = nid
                continue
            if len(ls) > 1:
                ls.sort(key=lambda x: -peak[x])
                keep = [ls[0]]
                for x in ls[1:]:
                    if level >= cfg.neck_ratio * min(peak[x], max(peak[y] for y in keep)):
                        lab[lab == x] = keep[0]  # no neck: the same object
                    else:
                        keep.append(x)
                for x in keep if len(keep) > 1 else ():
                    neck[x] = max(neck.get(x, 0.0), level / max(peak[x], 1e-6))
            grow = True
        if grow:
            # unlabelled pixels of pieces that hold labels join the nearest label
            # within each piece only, so a label never jumps across background
            for k in labels_in:
                piece = cc == k
                sub = np.where(piece, lab, 0)
                fill_nearest(sub, piece & (sub == 0))
                lab[piece] = sub[piece]
    return lab, neck


def component_instances(
    comp: np.ndarray, cfg: PseudoLabelConfig
) -> tuple[list[np.ndarray], list[float], np.ndarray]:
    """Split one connected component (``(h, w)`` bool) into parts.

    Returns:
        ``(parts, split_confidence, split_lines)``: bool masks covering the component
        (one part when it is not split), each part's split confidence (1.0 when unsplit;
        ``1 - saddle / peak`` of its weakest neck otherwise), and a bool mask of the pixels
        on split lines.
    """
    import cv2

    lines = np.zeros(comp.shape, bool)
    if not cfg.split:
        return [comp], [1.0], lines
    pad = 1  # a zero frame so the distance transform sees the component's edges
    c = np.pad(comp, pad)
    dist = cv2.distanceTransform(c.astype(np.uint8), cv2.DIST_L2, 5)
    if float(dist.max()) < cfg.min_peak:
        return [comp], [1.0], lines
    groups, neck = _flood(dist, c, cfg)
    # parts under min_area join the neighbour they share most border with
    ids = [int(g) for g in np.unique(groups[c]) if g > 0]
    changed = True
    while changed and len(ids) > 1:
        changed = False
        for g in sorted(ids, key=lambda g: int((groups == g).sum())):
            if int((groups == g).sum()) >= cfg.min_area:
                continue
            ring = cv2.dilate((groups == g).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            nb = groups[ring & (groups != g) & (groups > 0)]
            if len(nb) == 0:
                continue
            groups[groups == g] = int(np.bincount(nb).argmax())
            ids.remove(g)
            changed = True
            break
    if len(ids) < 2:
        return [comp], [1.0], lines
    grid = groups[pad:-pad, pad:-pad]
    parts = [grid == k for k in ids]
    # split lines: component pixels with a 4-neighbour in another part
    h_edge = (grid[:, 1:] != grid[:, :-1]) & (grid[:, 1:] > 0) & (grid[:, :-1] > 0)
    v_edge = (grid[1:, :] != grid[:-1, :]) & (grid[1:, :] > 0) & (grid[:-1, :] > 0)
    lines[:, 1:] |= h_edge
    lines[:, :-1] |= h_edge
    lines[1:, :] |= v_edge
    lines[:-1, :] |= v_edge
    confs = [float(np.clip(1.0 - neck.get(k, 0.0), 0.05, 1.0)) for k in ids]
    return parts, confs, lines


# --------------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------------
def boundary_band(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels within ``px`` of the outline of ``mask`` (both sides)."""
    import cv2

    if px <= 0:
        return np.zeros(mask.shape, bool)
    k = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, k) > 0) & ~(cv2.erode(m, k, borderType=cv2.BORDER_REPLICATE) > 0)


def image_pseudo_instances(
    label: np.ndarray,
    class_ids: Sequence[int],
    cfg: PseudoLabelConfig,
    *,
    ignore_index: int | None = None,
) -> tuple[list[PseudoInstance], np.ndarray]:
    """Pseudo-instances and the ignore region of one ``(H, W)`` semantic label map.

    Args:
        label: semantic class ids.
        class_ids: semantic id of each entry of ``cfg.classes``.
        cfg: settings.
        ignore_index: the dataset's void id (its pixels are ignored), or ``None``.

    Returns:
        ``(instances, ignore)`` with ``ignore`` an ``(H, W)`` bool mask.
    """
    import cv2

    ignore = np.zeros(label.shape, bool)
    if ignore_index is not None:
        ignore |= label == ignore_index
    out: list[PseudoInstance] = []
    for k, (x, y, w, h), area, comp in class_components(label, class_ids):
        if area < cfg.min_area:
            ignore[y : y + h, x : x + w] |= comp
            continue
        parts, confs, lines = component_instances(comp, cfg)
        if len(parts) > 1 and cfg.split_band_px > 0:
            band = cv2.dilate(
                lines.astype(np.uint8),
                np.ones((2 * cfg.split_band_px + 1,) * 2, np.uint8),
            )
            ignore[y : y + h, x : x + w] |= (band > 0) & comp
        for part, sc in zip(parts, confs):
            full = np.zeros(label.shape, bool)
            full[y : y + h, x : x + w] = part
            size = min(1.0, float(part.sum()) / (4.0 * cfg.min_area))
            out.append(
                PseudoInstance(full, k, float(np.clip(size * sc, 0.05, 1.0)), split=len(parts) > 1)
            )
    if cfg.boundary_px > 0:
        for inst in out:
            ignore |= boundary_band(inst.mask, cfg.boundary_px)
    return out, ignore


# --------------------------------------------------------------------------------------------
# A dataset
# --------------------------------------------------------------------------------------------
def annotation(
    inst_mask: np.ndarray, category_id: int, image_id: int, ann_id: int, confidence: float
) -> dict[str, Any]:
    """A COCO annotation dict with an RLE mask, its box and a ``confidence``."""
    ys, xs = np.nonzero(inst_mask)
    from edgevision.results import encode_rle

    x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": encode_rle(inst_mask),
        "bbox": [x1, y1, x2 - x1, y2 - y1],
        "area": float(inst_mask.sum()),
        "iscrowd": 0,
        "confidence": round(float(confidence), 4),
    }


def write_split(
    out: Path,
    split: str,
    items: Iterator[tuple[str, Path, Path, list[PseudoInstance], np.ndarray]],
    classes: Sequence[str],
    *,
    copy_images: bool = False,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one split's images, ignore PNGs and COCO JSON; returns its counts.

    ``items`` yields ``(name, image_path, semantic_path, instances, ignore)``.
    """
    import cv2

    from edgevision.io import atomic_path, link_or_copy, write_json_atomic

    img_out, ign_out = out / "images" / split, out / "ignore" / split
    img_out.mkdir(parents=True, exist_ok=True)
    ign_out.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    per_class = dict.fromkeys(classes, 0)
    n_split = n_empty = 0
    ignored = total = 0
    for i, (name, src_img, sem, insts, ignore) in enumerate(items):
        fname = f"{name}{src_img.suffix.lower()}"
        link_or_copy(src_img, img_out / fname, copy=copy_images)
        with atomic_path(ign_out / f"{name}.png", suffix=".png") as tmp:
            if not cv2.imwrite(str(tmp), (ignore * 255).astype(np.uint8)):
                raise DataError(f"cannot write {ign_out / (name + '.png')}")
        h, w = ignore.shape
        image_id = i + 1
        images.append(
            {
                "id": image_id,
                "file_name": fname,
                "height": h,
                "width": w,
                "ignore_file": f"ignore/{split}/{name}.png",
                "semantic_file": str(sem.resolve()),
            }
        )
        n_empty += not insts
        ignored += int(ignore.sum())
        total += ignore.size
        for inst in insts:
            anns.append(
                annotation(inst.mask, inst.class_index + 1, image_id, len(anns) + 1,
                           inst.confidence)
            )  # fmt: skip
            per_class[classes[inst.class_index]] += 1
            n_split += inst.split
    coco = {
        "info": {"description": f"pseudo instances ({split})", **(info or {})},
        "images": images,
        "annotations": anns,
        "categories": [
            {"id": k + 1, "name": c, "supercategory": "thing"} for k, c in enumerate(classes)
        ],
    }
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "annotations" / f"instances_{split}.json", coco)
    return {
        "images": len(images),
        "empty": n_empty,
        "instances": len(anns),
        "per_class": per_class,
        "from_splits": n_split,
        "ignored_pct": 100.0 * ignored / max(total, 1),
        "mean_confidence": float(np.mean([a["confidence"] for a in anns])) if anns else 0.0,
    }


def check_classes(dataset_classes: Sequence[str], wanted: Sequence[str], root: Path) -> list[int]:
    """Semantic ids of ``wanted`` in ``dataset_classes``; a clear error for unknown names."""
    missing = [c for c in wanted if c not in dataset_classes]
    if missing:
        raise DataError(
            f"{root}: class(es) {', '.join(map(repr, missing))} not in the dataset's classes "
            f"({', '.join(dataset_classes)})"
        )
    return [list(dataset_classes).index(c) for c in wanted]


@dataclass
class _Stats:
    per_split: dict[str, Any] = field(default_factory=dict)


def semantic_to_instances(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: PseudoLabelConfig,
    *,
    splits: Sequence[str] = ("train", "val"),
    copy_images: bool = False,
    max_images: int = 0,
    progress: bool = False,
    command: str = "edgevision data semantic-to-instances",
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write pseudo instance labels for ``splits`` of a semantic dataset (module docstring).

    Args:
        data_dir: semantic dataset in the edgevision layout (``images/``, ``labels/``).
        out_dir: output folder.
        cfg: settings (thing classes, splitting, ignore bands).
        splits: splits to convert.
        copy_images: copy images instead of symlinking them.
        max_images: first N images per split (0: all).
        progress: progress bar on stderr.
        command: the command line for the README.
        on_image: called with ``(done, total)`` after each image.

    Returns:
        Per split: ``{"images", "empty", "instances", "per_class", "from_splits",
        "ignored_pct", "mean_confidence"}``.

    Raises:
        DataError: missing folder or split, unknown class names, label ids outside the
            class list, or none of the requested classes anywhere in the data.
    """
    from edgevision.data.semantic import SemanticFolder
    from edgevision.io import write_text_atomic

    src, out = Path(data_dir), Path(out_dir)
    stats: dict[str, Any] = {}
    folders = {s: SemanticFolder(src, s) for s in splits}  # fail early on a missing split
    for split, ds in folders.items():
        sids = check_classes(ds.class_names, cfg.classes, src)
        n = len(ds) if max_images <= 0 else min(len(ds), max_images)
        if n == 0:
            raise DataError(f"{src}: split {split!r} has no images")

        def items(ds: Any = ds, sids: list[int] = sids, n: int = n, split: str = split) -> Any:
            it: Any = range(n)
            if progress:
                from rich.progress import track

                it = track(it, description=f"pseudo-instances {split}", transient=True)
            for i in it:
                name, img_path, lab_path = ds._items[i]
                label = ds.read_mask(i)  # validates ids against the class list
                insts, ignore = image_pseudo_instances(
                    label, sids, cfg, ignore_index=ds.ignore_index
                )
                if on_image is not None:
                    on_image(i + 1, n)
                yield name, Path(img_path), Path(lab_path), insts, ignore

        stats[split] = write_split(
            out,
            split,
            items(),
            cfg.classes,
            copy_images=copy_images,
            info={"source": str(src.resolve()), "settings": cfg.__dict__ | {}},
        )
    if sum(s["instances"] for s in stats.values()) == 0:
        raise DataError(
            f"{src}: none of the classes {', '.join(cfg.classes)} has a component of at least "
            f"{cfg.min_area} px in {', '.join(splits)}"
        )
    write_text_atomic(out / "README.md", _readme(cfg, src, stats, command))
    return stats


def _readme(cfg: PseudoLabelConfig, src: Path, stats: dict[str, Any], command: str) -> str:
    header = ["split", "images", "without instances", "instances", *cfg.classes]
    header += ["from splits", "ignored px", "mean confidence"]
    rows = [
        [split, s["images"], s["empty"], s["instances"]]
        + [s["per_class"][c] for c in cfg.classes]
        + [s["from_splits"], f"{s['ignored_pct']:.1f} %", f"{s['mean_confidence']:.3f}"]
        for split, s in stats.items()
    ]
    lines = [
        "# Pseudo instance labels (from semantic masks)",
        "",
        f"Derived from `{src}` by `{command}` (edgevision.data.pseudo_instances).",
        "",
        f"Classes: {', '.join(cfg.classes)} (COCO category id = position + 1). Connected "
        f"components (8-connected); components under {cfg.min_area} px are fragments (ignored). "
        + (
            f"Merged blobs split by distance transform + watershed (peaks >= {cfg.min_peak} px; "
            f"parts merged back while saddle/peak >= {cfg.neck_ratio}). "
            if cfg.split
            else "No splitting. "
        )
        + f"Ignore region: void, fragments, {cfg.boundary_px} px around outlines, "
        f"{cfg.split_band_px} px around split lines.",
        "",
        *markdown_table(header, rows),
    ]
    lines += [
        "",
        "Known imperfections: touching objects without a neck between them stay one "
        "instance; an object cut in two by an occluder of another class becomes two; "
        "instances cover visible pixels only.",
        "",
    ]
    return "\n".join(lines)
