"""COCO box and mask AP through **faster-coco-eval** (a maintained, pycocotools-compatible
C++ evaluator); this module only converts edgevision results and reads the numbers out.

Typical use::

    ev = CocoEvaluator("annotations/instances_val.json", iou_types=("bbox", "segm"))
    for image_id, image in ...:
        ev.add(image_id, predictor(image))      # Detections or InstanceMasks
    metrics = ev.summarize()                     # {"bbox": {"AP": ..., ...}, "segm": {...}}

Only the images passed to :meth:`CocoEvaluator.add` are evaluated (so a run over the first
``N`` images of a split is scored on those ``N``); an image added with an empty result
counts its ground-truth objects as missed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edgevision.errors import BackendUnavailable, DataError
from edgevision.results import Detections, InstanceMasks

__all__ = ["IOU_TYPES", "METRIC_KEYS", "CocoEvaluator", "load_coco_json"]

IOU_TYPES = ("bbox", "segm")
"""Supported ``iou_types``."""

METRIC_KEYS = {
    "AP": "AP_all",
    "AP50": "AP_50",
    "AP75": "AP_75",
    "APs": "AP_small",
    "APm": "AP_medium",
    "APl": "AP_large",
    "AR1": "AR_all",
    "AR10": "AR_second",
    "AR100": "AR_third",
}
"""Our metric name -> faster-coco-eval ``stats_as_dict`` key (maxDets 1/10/100)."""


def _fce() -> Any:
    try:
        import faster_coco_eval
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendUnavailable(
            "COCO evaluation needs faster-coco-eval: pip install 'edgevision[eval]' "
            "(or pip install faster-coco-eval)"
        ) from e
    return faster_coco_eval


def load_annotation_json(
    gt: str | os.PathLike[str] | dict[str, Any], kind: str, required: tuple[str, ...]
) -> dict[str, Any]:
    """Read an annotation JSON (or deep-copy a dict) and check its top-level lists.

    Args:
        gt: path or already-loaded dict.
        kind: what it is, for messages ("COCO", "YouTube-VIS").
        required: top-level keys that must hold lists; ``annotations`` defaults to ``[]``.

    Raises:
        DataError: missing file, invalid JSON, or a required list missing.
    """
    from edgevision.data.coco import load_json

    if isinstance(gt, dict):
        data, where = copy.deepcopy(gt), f"{kind} dict"
    else:
        data, where = load_json(gt), str(gt)
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object with {'/'.join(required)}/annotations")
    for key in required:
        if not isinstance(data.get(key), list):
            raise DataError(f"{where}: missing '{key}' list")
    data.setdefault("annotations", [])
    return data


def load_coco_json(gt: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """Read a COCO instances JSON (or deep-copy a dict); see :func:`load_annotation_json`."""
    return load_annotation_json(gt, "COCO", ("images", "categories"))


def _to_rle(seg: Any, h: int, w: int) -> dict[str, Any]:
    """Polygons, uncompressed or compressed RLE -> one compressed RLE (faster-coco-eval)."""
    mask = _fce().mask
    if isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes)):
        return seg
    rle = mask.frPyObjects(seg, h, w)
    return mask.merge(rle) if isinstance(rle, list) else rle


def _complete_annotations(data: dict[str, Any], need_segm: bool, where: str) -> None:
    """Fill derivable fields the evaluator needs (``area``, ``bbox``, ``iscrowd``) in place.

    ``area`` and ``bbox`` are derived from the segmentation when missing (``area`` from the
    box when there is no segmentation). Raises :class:`DataError` when an annotation has
    neither, or lacks a segmentation that ``segm`` evaluation needs.
    """
    mask = _fce().mask
    imgs = {int(im["id"]): im for im in data["images"]}
    for ann in data["annotations"]:
        aid = ann.get("id")
        if "id" not in ann or "image_id" not in ann or "category_id" not in ann:
            raise DataError(f"{where}: annotation {aid} lacks id, image_id or category_id")
        img = imgs.get(int(ann["image_id"]))
        if img is None:
            raise DataError(f"{where}: annotation {aid} refers to unknown image {ann['image_id']}")
        seg = ann.get("segmentation")
        if need_segm and not seg:
            raise DataError(
                f"{where}: annotation {aid} has no segmentation; use iou_types=('bbox',)"
            )
        ann.setdefault("iscrowd", 0)
        if "area" in ann and "bbox" in ann:
            continue
        if seg:
            rle = _to_rle(seg, int(img["height"]), int(img["width"]))
            ann.setdefault("area", float(mask.area(rle)))
            ann.setdefault("bbox", [float(v) for v in mask.toBbox(rle)])
        elif "bbox" in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        else:
            raise DataError(f"{where}: annotation {aid} has neither bbox nor segmentation")


def _nan_if_missing(v: float) -> float:
    # the evaluator reports -1 where a metric is undefined (e.g. no large objects in the GT)
    return float("nan") if v < 0 else float(v)


class CocoEvaluator:
    """Accumulate per-image predictions and compute COCO AP with faster-coco-eval.

    Args:
        gt: COCO instances JSON path, or the parsed dict (copied, never modified).
        iou_types: ``("bbox",)``, ``("segm",)`` or ``("bbox", "segm")``. ``segm`` needs
            :class:`InstanceMasks` predictions and ground truth with segmentations.
        category_ids: ``category_ids[c]`` is the COCO category id of model class ``c``
            (default: ``c + 1``, the :meth:`Detections.to_coco` default).
        verbose: print the evaluator's usual AP/AR table while summarising.

    Raises:
        DataError: the ground truth is missing or malformed.
        ValueError: an unknown IoU type.
    """

    def __init__(
        self,
        gt: str | os.PathLike[str] | dict[str, Any],
        iou_types: Sequence[str] = ("bbox",),
        *,
        category_ids: Sequence[int] | None = None,
        verbose: bool = False,
    ) -> None:
        self.iou_types = tuple(iou_types)
        if not self.iou_types or any(t not in IOU_TYPES for t in self.iou_types):
            raise ValueError(
                f"iou_types must be a non-empty subset of {IOU_TYPES}, got {iou_types}"
            )
        self.verbose = verbose
        fce = _fce()
        where = "ground truth" if isinstance(gt, dict) else str(gt)
        self.dataset = load_coco_json(gt)
        _complete_annotations(self.dataset, "segm" in self.iou_types, where)
        self.images = {int(im["id"]): im for im in self.dataset["images"]}
        self.categories = {int(c["id"]): c for c in self.dataset["categories"]}
        self.category_ids = None if category_ids is None else [int(c) for c in category_ids]
        if self.category_ids is not None:
            unknown = sorted(set(self.category_ids) - set(self.categories))
            if unknown:
                raise DataError(f"{where}: category ids {unknown} are not in the ground truth")
        self._coco_gt = fce.COCO(self.dataset, print_function=self._print)
        self._results: list[dict[str, Any]] = []
        self._image_ids: list[int] = []
        self._seen: set[int] = set()

    # ---------------------------------------------------------------------------------------
    def _print(self, *args: Any, **kwargs: Any) -> None:
        if self.verbose:
            print(*args, **kwargs)

    @property
    def image_ids(self) -> list[int]:
        """Ids of the images added so far, in order."""
        return list(self._image_ids)

    def __len__(self) -> int:
        return len(self._image_ids)

    def add(self, image_id: int, result: Detections | InstanceMasks) -> None:
        """Add the prediction for one ground-truth image.

        Args:
            image_id: the COCO ``id`` of the image.
            result: boxes in that image's pixels (:class:`Detections`), or
                :class:`InstanceMasks` whose masks are the image's ``(height, width)``.

        Raises:
            DataError: unknown or already added image id, or ``result.image_size`` (when
                set) is not the image's size.
            TypeError: ``segm`` evaluation given a result without masks.
        """
        image_id = int(image_id)
        img = self.images.get(image_id)
        if img is None:
            raise DataError(f"image id {image_id} is not in the ground truth")
        if not isinstance(result, Detections):
            raise TypeError(f"expected Detections or InstanceMasks, got {type(result).__name__}")
        has_masks = isinstance(result, InstanceMasks)
        if "segm" in self.iou_types and not has_masks:
            raise TypeError("segm evaluation needs InstanceMasks results, got Detections")
        h, w = int(img["height"]), int(img["width"])
        if result.image_size not in ((0, 0), (h, w)):
            raise DataError(
                f"image {image_id}: the result is for a {result.image_size[0]}x"
                f"{result.image_size[1]} image, the ground-truth image is {h}x{w}"
            )
        if len(result) and self.category_ids is not None:
            top = int(result.class_ids.max())
            if top >= len(self.category_ids) or int(result.class_ids.min()) < 0:
                raise DataError(
                    f"class id {top} has no COCO category (category_ids has "
                    f"{len(self.category_ids)} entries)"
                )
        if image_id in self._seen:
            raise DataError(f"image {image_id} was already added")
        dets = result.to_coco(image_id, self.category_ids)
        if has_masks:
            mask = _fce().mask
            for d in dets:
                # to_coco gives uncompressed RLE; the evaluator takes compressed RLE for results
                d["segmentation"] = mask.frPyObjects(d["segmentation"], h, w)
        self._results.extend(dets)
        self._seen.add(image_id)
        self._image_ids.append(image_id)

    def add_results(self, results: Iterable[dict[str, Any]], image_ids: Iterable[int]) -> None:
        """Add raw COCO result dicts, e.g. from a results JSON written elsewhere.

        Args:
            results: dicts with ``image_id``, ``category_id`` (a COCO id), ``score``, ``bbox``
                (``x, y, w, h``) and, for ``segm``, ``segmentation`` (RLE or polygons).
            image_ids: the images these results cover, including those with no result.

        Raises:
            DataError: an unknown image, a result for an image not in ``image_ids``, or a
                result without the field an IoU type needs.
        """
        ids = [int(i) for i in image_ids]
        for i in ids:
            if i not in self.images:
                raise DataError(f"image id {i} is not in the ground truth")
        covered = set(ids)
        new = []
        for r in results:
            r = dict(r)
            i = int(r["image_id"])
            if i not in covered:
                raise DataError(f"result for image {i} not listed in image_ids")
            for need in ("bbox", "segm"):
                key = "bbox" if need == "bbox" else "segmentation"
                if need in self.iou_types and not r.get(key):
                    raise DataError(f"{need} evaluation needs '{key}' in every result")
            if r.get("segmentation"):
                img = self.images[i]
                r["segmentation"] = _to_rle(r["segmentation"], img["height"], img["width"])
            new.append(r)
        self._results.extend(new)
        for i in ids:
            if i not in self._seen:
                self._seen.add(i)
                self._image_ids.append(i)

    # ---------------------------------------------------------------------------------------
    def _evaluate(self, iou_type: str, image_ids: list[int]) -> dict[str, Any]:
        fce = _fce()
        # the evaluator adds keys (id, area, rle ...) to each result: give it fresh dicts
        results = [dict(r) for r in self._results]
        if iou_type == "segm":
            # Without the box, the evaluator uses the mask area for small/medium/large
            # (as detectron2 does); with it, it would use the box area.
            for r in results:
                r.pop("bbox", None)
        coco_dt = self._coco_gt.loadRes(results)
        ev = fce.COCOeval_faster(self._coco_gt, coco_dt, iou_type, print_function=self._print)
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        stats = ev.stats_as_dict
        out: dict[str, Any] = {k: _nan_if_missing(stats[v]) for k, v in METRIC_KEYS.items()}
        # per-category AP@[.5:.95] from the accumulated precision array [T, R, K, A, M]
        precision = np.asarray(ev.eval["precision"])[:, :, :, 0, -1]
        per_class: dict[str, float] = {}
        for k, cid in enumerate(ev.params.catIds):
            p = precision[:, :, k]
            name = str(self.categories[int(cid)].get("name", cid))
            per_class[name] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        out["per_class_AP"] = per_class
        out["num_images"] = len(image_ids)
        out["num_detections"] = len(results)
        return out

    def summarize(self) -> dict[str, dict[str, Any]]:
        """Compute AP/AR over the added images (all GT images if none was added).

        Returns:
            ``{iou_type: {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10",
            "AR100": float 0–1, "per_class_AP": {category name: float}, "num_images": int,
            "num_detections": int}}``. A metric that is undefined (e.g. ``APl`` without large
            ground-truth objects, or a category without ground truth) is ``nan``.
        """
        image_ids = self._image_ids or sorted(self.images)
        return {t: self._evaluate(t, image_ids) for t in self.iou_types}
