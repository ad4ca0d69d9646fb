"""Panoptic quality (Kirillov et al. 2019): PQ = SQ × RQ, computed as the COCO panoptic API
(``panopticapi/evaluation.py``) does.

Per image, a predicted and a ground-truth segment of the same category match when their IoU
is above 0.5 (unique by construction); the union leaves out the predicted pixels on void
ground truth. Unmatched ground-truth segments are false negatives (crowd segments are never
counted); an unmatched predicted segment is a false positive unless more than half of it lies
on void or on a crowd region of its category. Per category: ``PQ = ΣIoU / (TP + FP/2 +
FN/2)``, ``SQ = ΣIoU / TP``, ``RQ = TP / (TP + FP/2 + FN/2)``; the averages run over the
categories that occur (``TP + FP + FN > 0``), for all, things and stuff.

:class:`PanopticFolderScore` scores a predictor's :class:`~edgevision.results.PanopticMask`
results against a folder's COCO panoptic truth (``annotations/panoptic_{split}.json`` and
``panoptic/{split}/NAME.png``, as :mod:`edgevision.data.synth` writes with ``panoptic``).

No maintained PyPI package computes this offline without pulling in a training stack (the
reference ``panopticapi`` is installed from git only), so this is a tested implementation
(``tests/evaluate/test_panoptic.py`` checks it against hand-worked cases).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError
from edgevision.results import PanopticMask, panoptic_rgb_to_id

__all__ = ["PanopticFolderScore", "PanopticQuality", "evaluate_panoptic_folder"]

_OFFSET = 1 << 32


class PanopticQuality:
    """Accumulates PQ statistics over images.

    Args:
        num_classes: categories, ids ``0 … num_classes - 1``.
        is_thing: ``(num_classes,)`` whether each category is a thing.
        class_names: names for :meth:`summarize` (default: the ids).
    """

    def __init__(
        self, num_classes: int, is_thing: Sequence[bool], class_names: Sequence[str] = ()
    ) -> None:
        if len(is_thing) != num_classes:
            raise ValueError(f"is_thing has {len(is_thing)} entries, expected {num_classes}")
        self.num_classes = num_classes
        self.is_thing = np.asarray(is_thing, dtype=bool)
        self.class_names = list(class_names) or [str(c) for c in range(num_classes)]
        self.iou = np.zeros(num_classes)
        self.tp = np.zeros(num_classes, dtype=np.int64)
        self.fp = np.zeros(num_classes, dtype=np.int64)
        self.fn = np.zeros(num_classes, dtype=np.int64)

    def update(
        self,
        gt_map: np.ndarray,
        gt_segments: Mapping[int, tuple[int, bool]],
        pred_map: np.ndarray,
        pred_segments: Mapping[int, int],
    ) -> None:
        """Add one image.

        Args:
            gt_map: ``(H, W)`` ground-truth segment ids, 0 = void.
            gt_segments: ``{id: (category, iscrowd)}`` of every ground-truth segment.
            pred_map: ``(H, W)`` predicted segment ids, 0 = none.
            pred_segments: ``{id: category}`` of every predicted segment.

        Raises:
            ValueError: shapes differ, or a map holds an id its segment table lacks.
        """
        gt = np.asarray(gt_map, dtype=np.int64)
        pred = np.asarray(pred_map, dtype=np.int64)
        if gt.shape != pred.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ")
        for name, m, table in (
            ("ground truth", gt, gt_segments),
            ("prediction", pred, pred_segments),
        ):
            extra = set(np.unique(m).tolist()) - {0} - set(table)
            if extra:
                raise ValueError(f"{name} map holds ids without a segment: {sorted(extra)[:5]}")
        ids, counts = np.unique(gt * _OFFSET + pred, return_counts=True)
        inter = {(int(i // _OFFSET), int(i % _OFFSET)): int(c) for i, c in zip(ids, counts)}
        gt_area: dict[int, int] = {}
        pred_area: dict[int, int] = {}
        for (g, p), c in inter.items():
            gt_area[g] = gt_area.get(g, 0) + c
            pred_area[p] = pred_area.get(p, 0) + c
        matched_gt: set[int] = set()
        matched_pred: set[int] = set()
        for (g, p), c in inter.items():
            if g == 0 or p == 0 or g not in gt_segments or p not in pred_segments:
                continue
            cat, crowd = gt_segments[g]
            if crowd or cat != pred_segments[p]:
                continue
            union = pred_area[p] + gt_area[g] - c - inter.get((0, p), 0)
            iou = c / union
            if iou > 0.5:
                self.tp[cat] += 1
                self.iou[cat] += iou
                matched_gt.add(g)
                matched_pred.add(p)
        crowd_of: dict[int, int] = {}  # category -> its crowd segment id
        for g, (cat, crowd) in gt_segments.items():
            if crowd:
                crowd_of[cat] = g
            elif g not in matched_gt and gt_area.get(g, 0) > 0:
                self.fn[cat] += 1
        for p, cat in pred_segments.items():
            if p in matched_pred or pred_area.get(p, 0) == 0:
                continue
            ignored = inter.get((0, p), 0)
            if cat in crowd_of:
                ignored += inter.get((crowd_of[cat], p), 0)
            if ignored / pred_area[p] > 0.5:
                continue
            self.fp[cat] += 1

    def add(self, gt: PanopticMask, pred: PanopticMask, gt_crowd: Sequence[bool] = ()) -> None:
        """Add one image given as two :class:`PanopticMask` (same class ids)."""
        crowd = list(gt_crowd) or [False] * len(gt)
        self.update(
            gt.segment_map,
            {
                int(i): (int(c), bool(w))
                for i, c, w in zip(gt.segment_ids, gt.segment_classes, crowd)
            },
            pred.segment_map,
            {int(i): int(c) for i, c in zip(pred.segment_ids, pred.segment_classes)},
        )

    def summarize(self) -> dict[str, Any]:
        """``{"pq", "sq", "rq", "pq_things", "sq_things", "rq_things", "pq_stuff", …,
        "per_class": {name: {"pq", "sq", "rq", "tp", "fp", "fn"}}}``, values in 0–1, NaN
        where no category of the kind occurs."""
        denom = self.tp + 0.5 * self.fp + 0.5 * self.fn
        seen = (self.tp + self.fp + self.fn) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            pq = np.where(seen, self.iou / np.maximum(denom, 1e-12), np.nan)
            sq = np.where(self.tp > 0, self.iou / np.maximum(self.tp, 1), 0.0)
            rq = np.where(seen, self.tp / np.maximum(denom, 1e-12), np.nan)
        sq = np.where(seen, sq, np.nan)
        out: dict[str, Any] = {}
        for suffix, sel in (
            ("", seen),
            ("_things", seen & self.is_thing),
            ("_stuff", seen & ~self.is_thing),
        ):
            for key, arr in (("pq", pq), ("sq", sq), ("rq", rq)):
                out[key + suffix] = float(arr[sel].mean()) if sel.any() else float("nan")
        out["per_class"] = {
            self.class_names[c]: {
                "pq": float(pq[c]),
                "sq": float(sq[c]),
                "rq": float(rq[c]),
                "tp": int(self.tp[c]),
                "fp": int(self.fp[c]),
                "fn": int(self.fn[c]),
            }
            for c in range(self.num_classes)
        }
        return out


class PanopticFolderScore:
    """PQ of a predictor's results on a folder with COCO panoptic truth.

    Args:
        root: dataset folder with ``annotations/panoptic_{split}.json`` and
            ``panoptic/{split}/NAME.png``.
        split: split name.
        spec: the model's spec: every ground-truth category must be a model class of the
            same name; a category's ``isthing`` decides thing or stuff.

    Raises:
        DataError: unreadable truth, or a category the model does not have.
    """

    def __init__(self, root: Path, split: str, spec: Any) -> None:
        self.root, self.split = Path(root), split
        ann_file = self.root / "annotations" / f"panoptic_{split}.json"
        try:
            data = json.loads(ann_file.read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"{ann_file}: cannot read COCO panoptic JSON: {e}") from None
        names = [str(c) for c in spec.class_names]
        self.cat_to_class: dict[int, int] = {}
        is_thing = [False] * len(names)
        for cat in data.get("categories", []):
            if cat["name"] not in names:
                raise DataError(
                    f"{ann_file}: category {cat['name']!r} is not a model class ({names})"
                )
            c = names.index(cat["name"])
            self.cat_to_class[int(cat["id"])] = c
            is_thing[c] = bool(cat.get("isthing", 0))
        self.by_name = {Path(a["file_name"]).stem: a for a in data.get("annotations", [])}
        self.pq = PanopticQuality(len(names), is_thing, names)
        self.images = 0

    def add(self, name: str, result: PanopticMask) -> None:
        """Score the result of sample ``name`` (skipped when the truth has no such image).

        Raises:
            DataError: unreadable PNG, or a result of another size.
        """
        from edgevision.io import read_image

        ann = self.by_name.get(name)
        if ann is None:
            return
        png = self.root / "panoptic" / self.split / ann["file_name"]
        gt_map = panoptic_rgb_to_id(read_image(png))
        gt_segments = {
            int(s["id"]): (self.cat_to_class[int(s["category_id"])], bool(s.get("iscrowd", 0)))
            for s in ann["segments_info"]
        }
        pred = {int(i): int(c) for i, c in zip(result.segment_ids, result.segment_classes)}
        try:
            self.pq.update(gt_map, gt_segments, result.segment_map, pred)
        except ValueError as e:
            raise DataError(f"{png}: {e}") from None
        self.images += 1

    def summarize(self) -> dict[str, Any]:
        """Metrics merged into the evaluation report: ``pq``, ``sq``, ``rq``, their
        ``_things`` / ``_stuff`` variants (0–1) and ``per_class_pq``."""
        s = self.pq.summarize()
        per = s.pop("per_class")
        return {**s, "per_class_pq": {k: v["pq"] for k, v in per.items()}, "pq_images": self.images}


def evaluate_panoptic_folder(root: Path, split: str, spec: Any) -> PanopticFolderScore | None:
    """A :class:`PanopticFolderScore` when ``root`` has panoptic truth for ``split``, else
    ``None`` (the task table's ``extra_eval`` of ``panoptic``)."""
    if not (Path(root) / "annotations" / f"panoptic_{split}.json").is_file():
        return None
    return PanopticFolderScore(Path(root), split, spec)
