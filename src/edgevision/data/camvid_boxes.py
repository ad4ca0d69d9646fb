"""Detection boxes derived from CamVid's semantic labels (numpy + OpenCV, no torch).

Each "thing" class (Car, Pedestrian, Bicyclist, SignSymbol) is split into connected
components (8-connectivity); components smaller than ``min_area`` pixels are dropped.
Obviously merged blobs (several touching objects of one class, e.g. a row of parked cars or
a group of pedestrians) are split: a component whose **solidity** (area / convex-hull area)
is below ``split_solidity`` is eroded step by step; if an erosion breaks it into two or more
cores of at least ``min_area / 4`` pixels, every pixel of the component is assigned to its
nearest core and each part gets its own box.

Output (the edgevision COCO layout, read by ``edgevision train`` / ``edgevision eval``)::

    OUT/images/{split}/NAME.jpg                 symlinks to the CamVid images (or copies)
    OUT/annotations/instances_{split}.json      COCO boxes, categories 1..4
    OUT/README.md                               how it was made, counts, known imperfections

Known imperfections (also written to the README):

* Objects of one class that touch and stay convex together (two cars bumper to bumper seen
  side-on) remain one box; a split can also cut one non-convex object (a cyclist's bicycle
  and body) into two.
* An object occluded by another class (a pole in front of a car) becomes two boxes.
* Boxes follow the visible pixels only (amodal extent is unknown), and CamVid's labels are
  coarse at object borders; SignSymbol includes sign poles' tops and traffic lights.
* Very small or distant objects under ``min_area`` are dropped, so they are neither
  ground truth nor counted as misses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.markdown import markdown_table
from edgevision.data.semantic import class_components
from edgevision.data.sequences import format_sequences, sequence_counts
from edgevision.errors import DataError

__all__ = [
    "CAMVID_BOX_CLASSES",
    "BoxDerivation",
    "blob_boxes",
    "derive_camvid_boxes",
    "mask_boxes",
]

CAMVID_BOX_CLASSES: tuple[str, ...] = ("Car", "Pedestrian", "Bicyclist", "SignSymbol")
"""Detection classes (COCO category id = index + 1)."""


@dataclass
class BoxDerivation:
    """Settings of the derivation.

    Attributes:
        classes: semantic class names that become detection classes (in this order).
        min_area: smallest component kept, in pixels (of the 360×480 label).
        split_solidity: components less solid than this (0–1) are tried for splitting.
        max_erode: most 3×3 erosion steps tried when splitting.
    """

    classes: tuple[str, ...] = CAMVID_BOX_CLASSES
    min_area: int = 50
    split_solidity: float = 0.7
    max_erode: int = 6


def _solidity(comp: np.ndarray) -> float:
    import cv2

    contours, _ = cv2.findContours(
        comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return 1.0
    hull = cv2.convexHull(np.concatenate(contours))
    hull_area = float(cv2.contourArea(hull))
    return float(comp.sum()) / hull_area if hull_area > 0 else 1.0


def blob_boxes(comp: np.ndarray, cfg: BoxDerivation) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x1, y1, x2, y2)`` (pixel edges, exclusive end) of one connected component,
    split into parts when it looks merged (see the module docstring)."""
    import cv2

    ys, xs = np.nonzero(comp)
    whole = [(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)]
    if _solidity(comp) >= cfg.split_solidity:
        return whole
    kernel = np.ones((3, 3), np.uint8)
    core: np.ndarray = comp.astype(np.uint8)
    for _ in range(cfg.max_erode):
        core = cv2.erode(core, kernel)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
        big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= max(cfg.min_area // 4, 4)]
        if len(big) >= 2:
            seeds = np.isin(lab, big)
            # nearest seed component for every pixel (labels of the zero pixels of `src`)
            src = np.where(seeds, 0, 255).astype(np.uint8)
            _, near = cv2.distanceTransformWithLabels(
                src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP
            )
            out = []
            for k in np.unique(near[comp]):
                part = comp & (near == k)
                if part.sum() < cfg.min_area:
                    continue
                py, px = np.nonzero(part)
                out.append((int(px.min()), int(py.min()), int(px.max()) + 1, int(py.max()) + 1))
            return out or whole
        if n <= 1:
            break
    return whole


def mask_boxes(
    label: np.ndarray,
    class_ids: Sequence[int],
    cfg: BoxDerivation,
    *,
    counts: dict[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the thing classes of one ``(H, W)`` label map.

    Args:
        label: semantic class ids.
        class_ids: semantic id of each detection class, in detection-class order.
        cfg: derivation settings.
        counts: if given, ``counts["split"]`` is increased by the number of blobs split.

    Returns:
        ``(boxes (K, 4) float32 xyxy pixels, classes (K,) int64 detection-class indices)``.
    """
    boxes: list[tuple[int, int, int, int]] = []
    cls: list[int] = []
    for k, (x, y, _, _), area, comp in class_components(label, class_ids):
        if area < cfg.min_area:
            continue
        parts = blob_boxes(comp, cfg)
        if counts is not None and len(parts) > 1:
            counts["split"] = counts.get("split", 0) + 1
        for x1, y1, x2, y2 in parts:
            boxes.append((x + x1, y + y1, x + x2, y + y2))
            cls.append(k)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(cls, np.int64)


def _readme(cfg: BoxDerivation, src: Path, stats: dict[str, Any], command: str) -> str:
    lines = [
        "# CamVid-derived detection boxes",
        "",
        f"Derived from `{src}` by `{command}` (edgevision.data.camvid_boxes).",
        "",
        f"Classes: {', '.join(cfg.classes)} (COCO category id = position + 1). Connected "
        f"components (8-connected) of each class; components under {cfg.min_area} px dropped; "
        f"components with solidity < {cfg.split_solidity} split by erosion (up to "
        f"{cfg.max_erode} steps) into cores, each pixel assigned to its nearest core.",
        "",
        *markdown_table(
            ["split", "images", "sequences", "images without boxes", *cfg.classes, "split blobs"],
            (
                [
                    split,
                    s["images"],
                    format_sequences(s["sequences"]),
                    s["empty"],
                    *(s["per_class"][c] for c in cfg.classes),
                    s["split"],
                ]
                for split, s in stats.items()
            ),
        ),
    ]
    lines += [
        "",
        "Image NAMEs are CamVid's (`SEQUENCE_FRAME`), so split selectors hold whole street "
        "sequences out of training or evaluation: `--split train:0006R0` (only that sequence), "
        "`train-0006R0` (without it); see edgevision.data.sequences.",
        "",
        "## Known imperfections",
        "",
        "* Touching objects of one class that look convex together (cars bumper to bumper, "
        "side-on) stay one box; splitting can cut one non-convex object (a cyclist) in two.",
        "* An object occluded by another class (a pole in front of a car) becomes two boxes.",
        "* Boxes cover visible pixels only; label borders are coarse; SignSymbol includes "
        "traffic lights and sign tops.",
        f"* Objects under {cfg.min_area} px are dropped: neither ground truth nor misses.",
        "",
    ]
    return "\n".join(lines)


def derive_camvid_boxes(
    camvid_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    splits: Sequence[str] = ("train", "val"),
    cfg: BoxDerivation | None = None,
    copy_images: bool = False,
    max_images: int = 0,
    progress: bool = False,
    command: str = "edgevision data camvid-boxes",
) -> dict[str, Any]:
    """Write the detection set (see the module docstring).

    Args:
        camvid_dir: CamVid in the edgevision semantic layout.
        out_dir: output folder (created; existing annotation files are replaced atomically).
        splits: splits to convert.
        cfg: derivation settings.
        copy_images: copy images instead of symlinking them.
        max_images: convert only the first N images of each split (0: all).
        progress: progress bar on stderr.
        command: the command line to record in the README.

    Returns:
        Per split: ``{"images", "sequences": {sequence: images}, "empty", "boxes",
        "per_class": {name: n}, "split"}``.

    Raises:
        DataError: missing folder/split, a split without images, a label whose size is not
            its image's, or a class name not in the dataset's classes. Nothing is written
            then.
    """
    from edgevision.data.semantic import SemanticFolder
    from edgevision.io import image_size, link_or_copy, write_json_atomic, write_text_atomic

    cfg = cfg or BoxDerivation()
    src = Path(camvid_dir)
    out = Path(out_dir)
    all_stats: dict[str, Any] = {}
    # everything is read and checked first, then written: a bad input leaves no output
    todo: list[tuple[str, list[tuple[Path, Path]], dict[str, Any]]] = []
    for split in splits:
        ds = SemanticFolder(src, split)
        missing = [c for c in cfg.classes if c not in ds.class_names]
        if missing:
            raise DataError(f"{src}: classes {missing} are not in {ds.class_names}")
        if not len(ds):
            raise DataError(f"split {split!r} of {src} has no images")
        sids = [ds.class_names.index(c) for c in cfg.classes]
        img_out = out / "images" / split
        links: list[tuple[Path, Path]] = []
        images: list[dict[str, Any]] = []
        anns: list[dict[str, Any]] = []
        per_class = dict.fromkeys(cfg.classes, 0)
        empty = n_split = 0
        n = len(ds) if max_images <= 0 else min(len(ds), max_images)
        it: Any = range(n)
        if progress:
            from rich.progress import track

            it = track(it, description=f"camvid-boxes {split}", transient=True)
        for i in it:
            name, src_img, src_lab = ds._items[i]
            mask = ds.read_mask(i)
            h, w = mask.shape[:2]
            ih, iw = image_size(src_img)
            if (ih, iw) != (h, w):
                raise DataError(f"label is {w}x{h} but its image is {iw}x{ih} (WxH): {src_lab}")
            fname = f"{name}{Path(src_img).suffix.lower()}"
            links.append((Path(src_img), img_out / fname))
            counts: dict[str, int] = {}
            boxes, cls = mask_boxes(mask, sids, cfg, counts=counts)
            n_split += counts.get("split", 0)
            image_id = i + 1
            images.append({"id": image_id, "file_name": fname, "height": h, "width": w})
            if not len(boxes):
                empty += 1
            for b, c in zip(boxes, cls):
                x1, y1, x2, y2 = (float(v) for v in b)
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": image_id,
                        "category_id": int(c) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                    }
                )
                per_class[cfg.classes[int(c)]] += 1
        coco = {
            "info": {"description": f"CamVid-derived boxes ({split})", "source": str(src)},
            "images": images,
            "annotations": anns,
            "categories": [
                {"id": k + 1, "name": c, "supercategory": "thing"}
                for k, c in enumerate(cfg.classes)
            ],
        }
        todo.append((split, links, coco))
        all_stats[split] = {
            "images": len(images),
            "sequences": sequence_counts([Path(im["file_name"]).stem for im in images]),
            "empty": empty,
            "boxes": len(anns),
            "per_class": per_class,
            "split": n_split,
        }
    for split, links, coco in todo:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        for s_img, d_img in links:
            link_or_copy(s_img, d_img, copy=copy_images)
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "annotations" / f"instances_{split}.json", coco)
    write_text_atomic(out / "README.md", _readme(cfg, src, all_stats, command))
    return all_stats
