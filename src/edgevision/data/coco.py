"""COCO instance annotations (boxes + masks) as :class:`~edgevision.results.InstanceMasks`.

Masks may be polygons, uncompressed RLE (``counts`` a list) or compressed RLE (``counts`` a
string); all are decoded with faster-coco-eval's mask API (imported on first use). Category ids
are mapped to contiguous 0-based class indices in the order of the ``categories`` list sorted
by id; :attr:`CocoDataset.category_ids` maps back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.sequences import SplitSelector, resolve_split
from edgevision.errors import DataError, require_dir, require_file
from edgevision.io import read_image
from edgevision.results import Detections, InstanceMasks, coco_mask_api

__all__ = [
    "CocoDataset",
    "CocoSample",
    "annotations_of",
    "coco_layout",
    "coco_selection",
    "decode_segmentation",
    "entries_by_id",
    "load_annotation_file",
    "load_json",
    "need_field",
    "parse_categories",
    "select_coco",
]


def decode_segmentation(segm: Any, height: int, width: int, *, where: str = "") -> np.ndarray:
    """Decode one COCO ``segmentation`` to an ``(H, W)`` bool mask.

    Args:
        segm: list of polygons ``[[x1, y1, x2, y2, ...], ...]`` (pixel-corner coordinates),
            uncompressed RLE ``{"size": [H, W], "counts": [int, ...]}`` or compressed RLE
            ``{"size": [H, W], "counts": "..."}``. An empty list gives an empty mask.
        height: image height ``H``.
        width: image width ``W``.
        where: prefix for error messages (file and annotation).

    Raises:
        DataError: malformed polygon or RLE, or an RLE whose size is not ``[H, W]``.
    """
    pre = f"{where}: " if where else ""
    if isinstance(segm, list):
        if not segm:
            return np.zeros((height, width), dtype=bool)
        for k, poly in enumerate(segm):
            if (
                not isinstance(poly, list)
                or len(poly) < 6
                or len(poly) % 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly)
            ):
                raise DataError(
                    f"{pre}field 'segmentation' polygon {k} must be a flat list of an even "
                    f"number (>= 6) of coordinates"
                )
    elif isinstance(segm, dict):
        if "size" not in segm or "counts" not in segm:
            raise DataError(f"{pre}field 'segmentation' RLE needs 'size' and 'counts'")
        size = segm["size"]
        if not isinstance(size, list) or [int(v) for v in size] != [height, width]:
            raise DataError(
                f"{pre}field 'segmentation' RLE size {size!r} != image size [{height}, {width}]"
            )
        if not isinstance(segm["counts"], (list, str, bytes)):
            raise DataError(f"{pre}field 'segmentation' RLE counts must be a list or a string")
    else:
        raise DataError(
            f"{pre}field 'segmentation' must be a polygon list or an RLE dict, "
            f"got {type(segm).__name__}"
        )
    api = coco_mask_api()
    try:
        rle = api.segmToRle(segm, width, height)
        mask = api.decode(rle)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise DataError(f"{pre}field 'segmentation' cannot be decoded: {e}") from None
    out: np.ndarray = np.asarray(mask, dtype=bool).reshape(height, width)
    return out


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; :class:`DataError` naming the file on a missing file or bad JSON."""
    p = Path(path)
    require_file(p, "annotation file")
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON ({e.msg} at line {e.lineno}): {p}") from None
    except UnicodeDecodeError:
        raise DataError(f"annotation file is not UTF-8 text: {p}") from None


def need_field(d: Any, key: str, types: Any, where: str) -> Any:
    """Return ``d[key]`` checked to be of ``types``; :class:`DataError` naming ``where``/field."""
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise DataError(f"{where}: missing field {key!r}")
    v = d[key]
    if not isinstance(v, types) or isinstance(v, bool):
        tn = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise DataError(f"{where}: field {key!r} must be {tn}, got {v!r:.60}")
    return v


def parse_categories(data: Any, where: str) -> tuple[list[str], list[int]]:
    """COCO ``categories`` -> (names, ids), sorted by id; checks fields and duplicates."""
    cats = need_field(data, "categories", list, where)
    out: dict[int, str] = {}
    for k, c in enumerate(cats):
        w = f"{where}: categories[{k}]"
        cid = need_field(c, "id", int, w)
        name = need_field(c, "name", str, w)
        if cid in out:
            raise DataError(f"{w}: duplicate category id {cid}")
        out[cid] = name
    ids = sorted(out)
    return [out[i] for i in ids], ids


def load_annotation_file(path: Path) -> tuple[dict[str, Any], list[str], list[int]]:
    """A COCO-style annotation file (COCO ``instances``, YouTube-VIS): ``(data, class_names,
    category_ids)``, the top-level object and its categories sorted by id.

    Raises:
        DataError: missing or invalid file, not a JSON object, bad ``categories``.
    """
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return (data, *parse_categories(data, str(path)))


def entries_by_id(data: dict[str, Any], field: str, where: str) -> Iterator[tuple[str, int, Any]]:
    """``(where, id, entry)`` for each entry of the list ``data[field]`` (``"images"``,
    ``"videos"``), in order; ``where`` names the entry in messages.

    Raises:
        DataError: ``field`` missing or not a list, an entry without an int ``id``, a duplicate id.
    """
    seen: set[int] = set()
    for k, entry in enumerate(need_field(data, field, list, where)):
        w = f"{where}: {field}[{k}]"
        eid = need_field(entry, "id", int, w)
        if eid in seen:
            raise DataError(f"{w}: duplicate {field[:-1]} id {eid}")
        seen.add(eid)
        yield w, eid, entry


def annotations_of(
    data: dict[str, Any], where: str, ref: str, index: dict[int, int], categories: dict[int, int]
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(where, k, annotation)`` for each entry of ``data["annotations"]``, ``k`` the position
    of the entry its ``ref`` field (``"image_id"``, ``"video_id"``) names (``index``: id ->
    position); ``where`` names the annotation by id in messages.

    Raises:
        DataError: missing or mistyped ``id``, ``ref`` or ``category_id``; ``ref`` not in
            ``index`` or ``category_id`` not in ``categories``.
    """
    for k, a in enumerate(need_field(data, "annotations", list, where)):
        aid = need_field(a, "id", int, f"{where}: annotations[{k}]")
        w = f"{where}: annotation id {aid}"
        rid = need_field(a, ref, int, w)
        cid = need_field(a, "category_id", int, w)
        if rid not in index:
            raise DataError(f"{w}: field {ref!r} {rid} is not in '{ref[:-3]}s'")
        if cid not in categories:
            raise DataError(f"{w}: unknown category id {cid} in field 'category_id'")
        yield w, index[rid], a


@dataclass
class CocoSample:
    """One COCO image with its ground truth.

    Attributes:
        image_id: COCO image id.
        file_name: path relative to the image folder, as in the JSON.
        image: ``(H, W, 3)`` uint8 RGB.
        target: non-crowd objects; ``class_ids`` are contiguous 0-based indices into
            ``class_names``, ``scores`` are 1, boxes ``(N, 4)`` float32 xyxy pixels;
            :class:`InstanceMasks` (``masks (N, H, W)`` bool) unless masks were not requested.
        crowd: the ``iscrowd=1`` regions, same type as ``target`` (often empty).
        annotation_ids: ``(N,)`` int64 COCO annotation ids of ``target`` rows.
    """

    image_id: int
    file_name: str
    image: np.ndarray
    target: Detections
    crowd: Detections
    annotation_ids: np.ndarray

    @property
    def crowd_mask(self) -> np.ndarray:
        """``(H, W)`` bool union of crowd regions (boxes when masks were not loaded)."""
        h, w = self.image.shape[:2]
        out = np.zeros((h, w), dtype=bool)
        if isinstance(self.crowd, InstanceMasks):
            for m in self.crowd.masks:
                out |= m
            return out
        for x1, y1, x2, y2 in self.crowd.boxes:
            out[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = True
        return out


class CocoDataset:
    """Images and instance annotations from a COCO-format JSON file.

    Args:
        annotation_file: COCO ``instances`` JSON (``images``, ``annotations``, ``categories``).
        image_dir: folder that ``file_name`` entries are relative to.
        masks: decode segmentations into :class:`InstanceMasks` (else :class:`Detections`).
        data: the already-loaded COCO dictionary (e.g. converted from YOLO labels by
            :mod:`edgevision.data.detection`); ``annotation_file`` then only names it in
            messages.

    Raises:
        DataError: missing/invalid file, missing or mistyped fields, unknown category or image
            id, duplicate ids — each message names the file and the field.
    """

    def __init__(
        self,
        annotation_file: str | os.PathLike[str],
        image_dir: str | os.PathLike[str],
        *,
        masks: bool = True,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.annotation_file = Path(annotation_file)
        self.image_dir = Path(image_dir)
        self.masks = masks
        require_dir(self.image_dir, "image folder")
        af = str(self.annotation_file)
        if data is None:
            data, self.class_names, self.category_ids = load_annotation_file(self.annotation_file)
        else:
            self.class_names, self.category_ids = parse_categories(data, af)
        self._cat_index = {cid: k for k, cid in enumerate(self.category_ids)}

        self._images: list[dict[str, Any]] = []
        index: dict[int, int] = {}
        for w, iid, im in entries_by_id(data, "images", af):
            rec = {
                "id": iid,
                "file_name": need_field(im, "file_name", str, w),
                "height": need_field(im, "height", int, w),
                "width": need_field(im, "width", int, w),
            }
            if "ignore_file" in im:  # weak labels: uncertain pixels (PNG, 255 = ignore)
                rec["ignore_file"] = need_field(im, "ignore_file", str, w)
            index[iid] = len(self._images)
            self._images.append(rec)
        self._anns: list[list[dict[str, Any]]] = [[] for _ in self._images]
        for w, i, a in annotations_of(data, af, "image_id", index, self._cat_index):
            bbox = need_field(a, "bbox", list, w)
            if len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
                raise DataError(f"{w}: field 'bbox' must be [x, y, w, h], got {bbox!r:.60}")
            if masks and "segmentation" not in a:
                raise DataError(f"{w}: missing field 'segmentation' (pass masks=False for boxes)")
            self._anns[i].append(a)

    @property
    def image_ids(self) -> list[int]:
        """COCO image ids in file order (index ``i`` of the dataset)."""
        return [im["id"] for im in self._images]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self._images)

    def __iter__(self) -> Iterator[CocoSample]:
        for i in range(len(self)):
            yield self[i]

    def annotations(self, i: int) -> list[dict[str, Any]]:
        """The raw annotation dicts of image ``i``."""
        return list(self._anns[i])

    @property
    def root(self) -> Path:
        """The dataset folder (``annotations/`` is inside it)."""
        return self.annotation_file.parent.parent

    def has_ignore(self) -> bool:
        """Whether image entries name ignore regions (``ignore_file``, weak labels)."""
        return any("ignore_file" in im for im in self._images)

    def ignore_mask(self, i: int) -> np.ndarray | None:
        """``(H, W)`` bool ignore region of image ``i`` (``ignore_file`` relative to
        :attr:`root`, nonzero = ignore), or ``None`` when the entry names none.

        Raises:
            DataError: the file is missing, unreadable or of another size than the image.
        """
        im = self._images[i]
        rel = im.get("ignore_file")
        if rel is None:
            return None
        from edgevision.io import read_mask

        path = self.root / rel
        m = read_mask(path)
        if m.shape[:2] != (im["height"], im["width"]):
            raise DataError(
                f"ignore region {path} is {m.shape[1]}x{m.shape[0]} (WxH), the image "
                f"{im['width']}x{im['height']}"
            )
        return m > 0

    def confidences(self, i: int) -> np.ndarray:
        """``(N,)`` float32 confidence of the non-crowd objects of image ``i`` in
        :meth:`read_target` order (field ``confidence``; 1 where absent)."""
        return np.array(
            [float(a.get("confidence", 1.0)) for a in self._anns[i] if not a.get("iscrowd", 0)],
            dtype=np.float32,
        )

    def read_target(self, i: int) -> tuple[Detections, Detections, np.ndarray]:
        """Decode the annotations of image ``i`` without reading the image.

        Returns:
            ``(target, crowd, annotation_ids)`` as in :class:`CocoSample`.
        """
        im = self._images[i]
        h, w = im["height"], im["width"]
        rows: dict[bool, list[tuple[list[float], int, np.ndarray | None, int]]] = {
            False: [],
            True: [],
        }
        for a in self._anns[i]:
            x, y, bw, bh = (float(v) for v in a["bbox"])
            mask = None
            if self.masks:
                where = f"{self.annotation_file}: annotation id {a['id']}"
                mask = decode_segmentation(a["segmentation"], h, w, where=where)
            crowd = bool(a.get("iscrowd", 0))
            rows[crowd].append(
                ([x, y, x + bw, y + bh], self._cat_index[a["category_id"]], mask, a["id"])
            )
        out: list[Detections] = []
        for crowd in (False, True):
            r = rows[crowd]
            boxes = np.array([b for b, _, _, _ in r], dtype=np.float32).reshape(-1, 4)
            cls = np.array([c for _, c, _, _ in r], dtype=np.int64)
            scores = np.ones(len(r), dtype=np.float32)
            if self.masks:
                mks: list[np.ndarray] = [mk for _, _, mk, _ in r if mk is not None]
                m = np.stack(mks) if mks else np.zeros((0, h, w), dtype=bool)
                out.append(InstanceMasks(boxes, scores, cls, self.class_names, (h, w), masks=m))
            else:
                out.append(Detections(boxes, scores, cls, self.class_names, (h, w)))
        ids = np.array([aid for _, _, _, aid in rows[False]], dtype=np.int64)
        return out[0], out[1], ids

    def __getitem__(self, i: int) -> CocoSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        im = self._images[i]
        path = self.image_dir / im["file_name"]
        image = read_image(path)
        if image.shape[:2] != (im["height"], im["width"]):
            raise DataError(
                f"image is {image.shape[1]}x{image.shape[0]} (WxH) but {self.annotation_file} "
                f"says {im['width']}x{im['height']} (fields 'width', 'height'): {path}"
            )
        target, crowd, ids = self.read_target(i)
        return CocoSample(im["id"], im["file_name"], image, target, crowd, ids)

    def __repr__(self) -> str:
        return (
            f"CocoDataset({str(self.annotation_file)!r}: {len(self)} images, "
            f"{sum(map(len, self._anns))} annotations, {self.num_classes} classes)"
        )


def coco_selection(root: str | os.PathLike[str], split: str) -> tuple[Path, Path, SplitSelector]:
    """``(annotation file, image folder, selector)`` of a split of the edgevision COCO layout.

    ``split`` may select whole sequences of a split (``train:0006R0``, ``train-0006R0``; see
    :mod:`edgevision.data.sequences`): the paths are those of the base split, and the caller
    keeps the images whose ``file_name`` stem the selector keeps (:meth:`SplitSelector.keeps`,
    after :meth:`SplitSelector.select` has checked the sequences).

    Raises:
        DataError: either path is missing.
        ConfigError: a malformed selector.
    """
    r = Path(root)
    sel = resolve_split(split, lambda s: (r / "annotations" / f"instances_{s}.json").is_file())
    ann = r / "annotations" / f"instances_{sel.base}.json"
    img = r / "images" / sel.base
    require_file(ann, f"COCO annotations of split {sel.base!r}")
    require_dir(img, f"image folder of split {sel.base!r}")
    return ann, img, sel


def select_coco(data: dict[str, Any], sel: SplitSelector, where: str) -> dict[str, Any]:
    """A COCO dict with only the images (and their annotations) that ``sel`` keeps.

    Raises:
        DataError: see :meth:`SplitSelector.select`.
    """
    if not sel.filters:
        return data
    images = data.get("images") or []
    stems = [Path(str(im.get("file_name", ""))).stem for im in images]
    kept = set(sel.select(stems, where))
    keep_images = [im for im, s in zip(images, stems) if s in kept]
    ids = {im.get("id") for im in keep_images}
    anns = [a for a in data.get("annotations") or [] if a.get("image_id") in ids]
    return {**data, "images": keep_images, "annotations": anns}


def coco_layout(root: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """``(DIR/annotations/instances_{split}.json, DIR/images/{split})`` of the edgevision layout.

    Raises:
        DataError: either path is missing, or ``split`` selects sequences (read those with
            :func:`coco_selection`; this reader takes whole splits).
    """
    ann, img, sel = coco_selection(root, split)
    if sel.filters:
        raise DataError(
            f"split {split!r}: sequence selectors are read by detection training and "
            f"'edgevision eval'; here give a whole split such as {sel.base!r}"
        )
    return ann, img
