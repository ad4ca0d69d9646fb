"""Metrics: mIoU for semantic segmentation, COCO AP (via faster-coco-eval) for boxes and
masks, per-frame AP over YouTube-VIS videos, and :func:`evaluate` over a dataset folder.

Numpy only at import time; faster-coco-eval is imported when a COCO evaluator is built.
"""

from __future__ import annotations

from edgevision.evaluate.api import (
    EvalReport,
    category_ids_by_name,
    evaluate,
    evaluate_agreement,
)
from edgevision.evaluate.coco import CocoEvaluator, load_coco_json
from edgevision.evaluate.miou import ConfusionMatrix
from edgevision.evaluate.video import VideoEvaluator, load_ytvis_json, ytvis_to_coco

__all__ = [
    "CocoEvaluator",
    "ConfusionMatrix",
    "EvalReport",
    "VideoEvaluator",
    "category_ids_by_name",
    "evaluate",
    "evaluate_agreement",
    "load_coco_json",
    "load_ytvis_json",
    "ytvis_to_coco",
]
