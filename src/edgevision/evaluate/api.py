"""``evaluate(predictor, data_dir)``: score any predictor on a dataset folder.

The predictor is anything with a ``spec`` (:class:`~edgevision.config.ModelSpec`) and
``__call__(image) -> result`` on ``(H, W, 3)`` uint8 RGB images, such as
:class:`edgevision.runtime.Predictor`. The task in the spec picks the metric:

* ``"semantic"`` (and the other dense tasks): mIoU, pixel accuracy and per-class IoU over
  ``DIR/images/{split}`` + ``DIR/labels/{split}``, or a Cityscapes folder
  (``leftImg8bit/`` + ``gtFine/``; :func:`edgevision.data.semantic.open_semantic`), from
  one confusion matrix over all pixels. The folder's class list (``dataset.yaml`` or a preset such as CamVid) must equal
  the model's, name for name and in order (else :class:`DataError`); a folder without a
  class list is read with the model's classes and ``ignore_index``. Label pixels equal to
  the *dataset's* ignore id are not scored. ``"panoptic"`` adds PQ / SQ / RQ where the folder
  has COCO panoptic truth, ``"depthseg"`` AbsRel / RMSE / δ<1.25 where it has depth maps
  (the task's ``extra_eval``, in the same pass).
* ``"detect"`` / ``"instance"``: COCO box AP (and mask AP for ``instance``) over
  ``DIR/annotations/instances_{split}.json`` + ``DIR/images/{split}/``; detectors also over
  a YOLO-txt folder or a dataset YAML naming COCO files or YOLO image folders
  (:mod:`edgevision.data.detection`).
* ``"instance"`` on a *semantic* folder (``DIR/labels``, no instance annotations for the
  split; e.g. CamVid and a model from ``edgevision train --weak``): there is no instance
  truth, so the score is the agreement with the semantic mask (:func:`evaluate_agreement`):
  per model class, pixel IoU between the union of the predicted masks (score >=
  ``AGREEMENT_SCORE``) and the class's labelled pixels, void excluded.

Class matching for COCO data is by **name**: every model class must have a ground-truth
category of the same name (else :class:`DataError` listing the missing names), and model
class ``c`` is scored as that category. Ground-truth categories the model does not know
stay in the evaluation (with AP 0), so the AP is the AP on that dataset, never silently
restricted to the classes a model happens to have.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from edgevision.data.sequences import format_sequences, sequence_counts
from edgevision.errors import ConfigError, DataError, EdgeVisionError, require_dir
from edgevision.evaluate.coco import METRIC_KEYS, CocoEvaluator, load_coco_json
from edgevision.evaluate.miou import ConfusionMatrix
from edgevision.progress import track
from edgevision.results import Detections, InstanceMasks, SemanticMask
from edgevision.tasks import get_task, task_names

__all__ = [
    "AGREEMENT_SCORE",
    "EvalReport",
    "PredictorLike",
    "category_ids_by_name",
    "evaluate",
    "evaluate_agreement",
]

AGREEMENT_SCORE = 0.3  # predicted instances below this score are left out of the agreement

T = TypeVar("T")


class PredictorLike(Protocol):
    """What :func:`evaluate` needs: a model spec and a call on one RGB image."""

    spec: Any  # edgevision.config.ModelSpec (task, class_names, ignore_index)

    def __call__(self, image: np.ndarray) -> Detections | InstanceMasks | SemanticMask: ...


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) or math.isinf(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


_EXTRA_ROWS = {
    "pq": "PQ",
    "sq": "SQ",
    "rq": "RQ",
    "pq_things": "PQ things",
    "pq_stuff": "PQ stuff",
    "abs_rel": "depth AbsRel",
    "rmse": "depth RMSE (m)",
    "delta1": "depth delta<1.25",
    "scale": "depth scale (pred/truth)",
}
"""Summary rows of a dense task's extra metrics (``TaskDef.extra_eval``), in order."""


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):.{digits}f}"


@dataclasses.dataclass
class EvalReport:
    """Result of :func:`evaluate`.

    Attributes:
        task: ``"semantic"``, ``"detect"`` or ``"instance"``.
        split: dataset split evaluated.
        num_images: images scored.
        metrics: semantic: ``{"miou", "pixel_acc", "mean_acc", "num_pixels",
            "per_class_iou": {name: iou}}``; detect/instance: ``{"bbox": {...}, "segm": {...}}``
            as returned by :meth:`CocoEvaluator.summarize`; instance models on semantic data:
            ``{"agreement": {"per_class": {name: iou}, "mean_iou", "score_threshold"}}``;
            tracking (:func:`~edgevision.evaluate.track.evaluate_tracking`):
            ``{"tracking": {"overall", "per_video", "by_motion", "tracker_ms", ...}}``. Floats in 0–1; ``None``/``nan`` where undefined.
        model: model name from the spec.
        data_dir: dataset folder.
        sequences: images scored per sequence (NAME prefix before the first ``_``, e.g.
            ``{"0016E5": 101}``; ``""`` counts NAMEs without one), by sequence name.
    """

    task: str
    split: str
    num_images: int
    metrics: dict[str, Any]
    model: str = ""
    data_dir: str = ""
    sequences: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``nan`` becomes ``None``)."""
        return _json_safe(dataclasses.asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        """The report as strict JSON text (no ``NaN`` literals)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @property
    def headline(self) -> float | None:
        """The one number to quote: mIoU (semantic), mask AP (instance) or box AP (detect);
        the mean agreement for an instance model scored on semantic data; IDF1 for tracking."""
        m = self.metrics
        if "tracking" in m:
            v = m["tracking"]["overall"].get("idf1")
        elif get_task(self.task).dense:  # e.g. PQ where the data had panoptic truth
            v = m.get(get_task(self.task).eval_headline, m.get("miou"))
        elif "agreement" in m:
            v = m["agreement"].get("mean_iou")
        else:
            v = m.get("segm", m.get("bbox", {})).get("AP")
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    def table(self, *, width: int = 100) -> str:
        """Readable plain-text tables: the summary and one row per class."""
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        buf = io.StringIO()
        console = Console(file=buf, width=width, color_system=None, force_terminal=False)

        def table(*columns: str) -> Table:
            t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
            for i, col in enumerate(columns):
                t.add_column(Text(col), justify="left" if i == 0 else "right")
            return t

        def row(t: Table, *cells: str) -> None:
            t.add_row(*(Text(c) for c in cells))  # Text: no rich markup in class names

        where = Path(self.data_dir).name or self.data_dir
        console.print(
            Text(f"{self.model or 'model'} on {where} [{self.split}]: {self.num_images} images")
        )
        if self.sequences:
            console.print(Text(f"sequences: {format_sequences(self.sequences)}"))
        if "tracking" in self.metrics:
            tr = self.metrics["tracking"]
            console.print(
                Text(
                    f"tracker {tr['tracker']} (box IoU >= {tr['iou']}): "
                    f"{tr['tracker_ms']['mean']:.3f} ms per frame (max {tr['tracker_ms']['max']:.3f})"
                )
            )
            t = table("videos", "MOTA", "IDF1", "ID switches", "per 100 frames", "frames")
            rows = [(f"motion {k}", v) for k, v in tr.get("by_motion", {}).items()]
            for name, v in [*rows, ("all", tr["overall"])]:
                row(
                    t,
                    name,
                    _fmt(v["mota"], 3),
                    _fmt(v["idf1"], 3),
                    str(v["num_switches"]),
                    _fmt(v["switches_per_100_frames"], 2),
                    str(v["num_frames"]),
                )
            console.print(t)
        elif get_task(self.task).dense:
            m = self.metrics
            t = table("class", "IoU")
            for name, v in m.get("per_class_iou", {}).items():
                row(t, name, _fmt(v))
            t.add_section()
            row(t, "mIoU", _fmt(m.get("miou")))
            row(t, "pixel acc", _fmt(m.get("pixel_acc")))
            row(t, "mean class acc", _fmt(m.get("mean_acc")))
            extra = [k for k in _EXTRA_ROWS if k in m]
            if extra:
                t.add_section()
                for k in extra:
                    row(t, _EXTRA_ROWS[k], _fmt(m.get(k)))
            console.print(t)
        elif "agreement" in self.metrics:
            a = self.metrics["agreement"]
            console.print(
                Text(
                    "no instance truth: pixel IoU of the predicted instances (score >= "
                    f"{a.get('score_threshold')}) vs the semantic mask"
                )
            )
            t = table("class", "agreement IoU")
            for name, v in a.get("per_class", {}).items():
                row(t, name, _fmt(v))
            t.add_section()
            row(t, "mean", _fmt(a.get("mean_iou")))
            console.print(t)
        else:
            types = [k for k in ("bbox", "segm") if k in self.metrics]
            t = table("type", *METRIC_KEYS)
            for it in types:
                row(t, it, *(_fmt(self.metrics[it].get(k), 3) for k in METRIC_KEYS))
            console.print(t)
            names: list[str] = []
            for it in types:
                names += [n for n in self.metrics[it].get("per_class_AP", {}) if n not in names]
            if names:
                t = table("class", *(f"{it} AP" for it in types))
                for n in names:
                    row(t, n, *(_fmt(self.metrics[it]["per_class_AP"].get(n), 3) for it in types))
                console.print(t)
        lines = [ln.rstrip() for ln in buf.getvalue().splitlines()]
        return "\n".join(lines).strip("\n") + "\n"


def _progress(items: Iterable[T], total: int, description: str, enabled: bool) -> Iterator[T]:
    """Iterate with progress on stderr: a bar on a terminal, lines otherwise (nothing when
    ``enabled`` is false)."""
    return track(items, total, description, enabled)


def category_ids_by_name(
    class_names: Sequence[str], categories: Sequence[dict[str, Any]], where: str = "dataset"
) -> list[int]:
    """COCO category id for each model class, matched by exact name.

    Raises:
        DataError: a model class has no category of that name, or a name is duplicated.
    """
    by_name: dict[str, int] = {}
    for c in categories:
        name = str(c.get("name"))
        if name in by_name:
            raise DataError(f"{where}: category name {name!r} appears twice")
        by_name[name] = int(c["id"])
    missing = [n for n in class_names if n not in by_name]
    if missing:
        raise DataError(
            f"{where}: model classes {missing} have no ground-truth category of the same name "
            f"(categories: {sorted(by_name)})"
        )
    return [by_name[n] for n in class_names]


def _limit(n: int, max_images: int) -> int:
    return n if max_images <= 0 else min(n, max_images)


def _select(n: int, max_images: int, images: Sequence[int] | None) -> list[int]:
    """Indices of the samples to score: ``images`` (checked against the ``n`` samples) or
    the first ``max_images`` (all when ``0``)."""
    if images is None:
        return list(range(_limit(n, max_images)))
    bad = [i for i in images if not 0 <= i < n]
    if bad:
        raise DataError(f"image index {bad[0]} is outside the split's {n} images")
    return list(images)


def _predict_all(
    predictor: PredictorLike,
    ds: Any,
    indices: Sequence[int],
    want: type,
    description: str,
    progress: bool,
) -> Iterator[tuple[int, Any, Any]]:
    """``(i, sample, result)`` for the samples ``indices`` of ``ds``, checking the type."""
    for i in _progress(indices, len(indices), description, progress):
        sample = ds[i]
        result = predictor(sample.image)
        if not isinstance(result, want):
            raise EdgeVisionError(
                f"task '{predictor.spec.task}' needs {want.__name__} results, the predictor "
                f"returned {type(result).__name__}"
            )
        yield i, sample, result


def _evaluate_semantic(
    predictor: PredictorLike,
    root: Path,
    split: str,
    max_images: int,
    progress: bool,
    images: Sequence[int] | None = None,
) -> tuple[int, dict[str, Any], list[str]]:
    from edgevision.data.semantic import dataset_classes, open_semantic

    spec = predictor.spec
    model_classes = [str(c) for c in spec.class_names]
    if dataset_classes(root) is not None:
        # the dataset's own classes and ignore id (dataset.yaml, Cityscapes, a preset)
        ds = open_semantic(root, split)
    else:
        # no class list in the folder: its labels are taken to use the model's ids
        ds = open_semantic(
            root, split, class_names=model_classes, ignore_index=int(spec.ignore_index)
        )
    if list(ds.class_names) != model_classes:
        raise DataError(
            f"model classes {model_classes} differ from the classes of {root} "
            f"{list(ds.class_names)}; evaluate on a dataset with the model's classes"
        )
    idx = _select(len(ds), max_images, images)
    if not idx:
        raise DataError(f"no images in split '{split}' of {root}")
    # targets use the dataset's ignore id; a prediction equal to the result's own
    # ignore_index (the model abstains) is counted as a miss, see ConfusionMatrix
    cm = ConfusionMatrix(len(model_classes), int(ds.ignore_index))
    extra_eval = get_task(spec.task).load("extra_eval")
    scorer = extra_eval(root, ds.selector.base, spec) if extra_eval is not None else None
    for _, sample, result in _predict_all(
        predictor, ds, idx, SemanticMask, f"eval {split}", progress
    ):
        if scorer is not None:
            scorer.add(sample.name, result)
        pred = result.class_map
        if result.ignore_index != cm.ignore_index:
            pred = np.where(pred == result.ignore_index, cm.ignore_index, pred)
        try:
            cm.update(pred, sample.mask)
        except ValueError as e:
            raise DataError(f"{sample.name}: {e}") from e
    metrics = cm.to_dict(model_classes)
    if scorer is not None and scorer.images:  # none of the scored images had that truth
        metrics.update(scorer.summarize())
    return len(idx), metrics, [ds.names[i] for i in idx]


def _evaluate_coco(
    predictor: PredictorLike,
    root: Path,
    split: str,
    max_images: int,
    progress: bool,
    images: Sequence[int] | None = None,
) -> tuple[int, dict[str, Any], list[str]]:
    from edgevision.data.detection import load_detection_split
    from edgevision.io import read_image

    spec = predictor.spec
    det = load_detection_split(root, split)
    ann_file, image_dir = det.source, det.image_dir
    gt = load_coco_json(det.gt)
    cat_ids = category_ids_by_name(spec.class_names, gt["categories"], str(ann_file))
    kinds = get_task(spec.task).coco_types
    instance = "segm" in kinds
    ev = CocoEvaluator(gt, kinds, category_ids=cat_ids)
    chosen = [gt["images"][i] for i in _select(len(gt["images"]), max_images, images)]
    if not chosen:
        raise DataError(f"{ann_file}: no images")
    want = InstanceMasks if instance else Detections
    for img in _progress(chosen, len(chosen), f"eval {split}", progress):
        image = read_image(image_dir / img["file_name"])
        if image.shape[:2] != (int(img["height"]), int(img["width"])):
            raise DataError(
                f"{img['file_name']}: image is {image.shape[0]}x{image.shape[1]}, the "
                f"annotations say {img['height']}x{img['width']}"
            )
        result = predictor(image)
        if not isinstance(result, want):
            raise EdgeVisionError(
                f"task '{spec.task}' needs {want.__name__} results, the predictor returned "
                f"{type(result).__name__}"
            )
        ev.add(int(img["id"]), result)
    return len(chosen), ev.summarize(), [Path(str(im["file_name"])).stem for im in chosen]


AP_POST_KWARGS: dict[str, dict[str, float]] = {
    "yolo": {"conf_threshold": 0.001, "iou_threshold": 0.6},
}
"""Post-processing settings for AP, per postprocessor: COCO AP integrates the whole
precision-recall curve, so detections are kept down to a score of 0.001 (YOLOv5's
``val.py``; the detection trainer's evaluation uses the same). The deployment default
(0.25) would cut the curve and under-report AP. YOLACT's default (0.05) is its paper's
evaluation setting and is kept."""


def _for_ap(predictor: PredictorLike) -> PredictorLike:
    """``predictor`` with :data:`AP_POST_KWARGS` filled in where the caller set nothing
    (for a :class:`~edgevision.runtime.Predictor`: anything with ``engine`` and
    ``post_kwargs``; other callables are used as they are)."""
    post_kwargs = getattr(predictor, "post_kwargs", None)
    if not isinstance(post_kwargs, dict) or not hasattr(predictor, "engine"):
        return predictor
    defaults = AP_POST_KWARGS.get(str(getattr(predictor.spec, "postprocess", "")))
    if not defaults or any(k in post_kwargs for k in defaults):
        return predictor
    return type(predictor)(  # type: ignore[call-arg]
        predictor.engine,  # type: ignore[attr-defined]
        input_size=getattr(predictor, "input_size", None),
        **{**defaults, **post_kwargs},
    )


def evaluate(
    predictor: PredictorLike,
    data_dir: str | os.PathLike[str],
    split: str = "val",
    *,
    max_images: int = 0,
    progress: bool = True,
    images: Sequence[int] | None = None,
) -> EvalReport:
    """Run ``predictor`` over a dataset split and compute the task's metrics.

    Args:
        predictor: has ``.spec`` (task, class_names, ignore_index) and maps an ``(H, W, 3)``
            uint8 RGB image to a :class:`SemanticMask`, :class:`Detections` or
            :class:`InstanceMasks` in that image's pixels. A :class:`Predictor` of a YOLO
            detector without score settings is scored at :data:`AP_POST_KWARGS`.
        data_dir: dataset folder (see the module docstring), or for detection a dataset
            YAML file.
        split: split name, e.g. ``"val"`` or ``"test"``, or a selector of its sequences
            (``"train:0006R0"``, ``"train-0006R0"``; :mod:`edgevision.data.sequences`).
        max_images: score only the first ``N`` images (``0``: all).
        progress: show a progress bar on stderr.
        images: score only these images, by index in the split's order (overrides
            ``max_images``; NNCF's accuracy control scores subsets of its validation set).

    Returns:
        An :class:`EvalReport`.

    Raises:
        DataError: missing/malformed data, or classes that do not match the dataset.
        EdgeVisionError: the predictor returns the wrong result type for its task.
    """
    if max_images < 0:
        raise ValueError(f"max_images must be >= 0, got {max_images}")
    from edgevision.data.detection import require_dataset

    root = Path(data_dir)
    require_dataset(root)
    predictor = _for_ap(predictor)
    spec = predictor.spec
    try:
        task = get_task(str(spec.task))
    except ConfigError:
        raise EdgeVisionError(
            f"cannot evaluate task {spec.task!r} (expected one of {', '.join(task_names())})"
        ) from None
    if task.dense:
        n, metrics, names = _evaluate_semantic(predictor, root, split, max_images, progress, images)
    elif task.weak and _semantic_only(root, split):
        return evaluate_agreement(
            predictor, root, split, max_images=max_images, progress=progress, images=images
        )
    else:
        n, metrics, names = _evaluate_coco(predictor, root, split, max_images, progress, images)
    return EvalReport(
        task=task.name,
        split=split,
        num_images=n,
        metrics=metrics,
        model=str(getattr(spec, "name", "")),
        data_dir=str(root),
        sequences=sequence_counts(names),
    )


def _semantic_only(root: Path, split: str) -> bool:
    """A semantic-mask folder without instance annotations for ``split``."""

    from edgevision.data.detection import detection_format

    if not root.is_dir():
        return False
    return (root / "labels").is_dir() and detection_format(root, split) is None


def evaluate_agreement(
    predictor: PredictorLike,
    data_dir: str | os.PathLike[str],
    split: str = "val",
    *,
    score_threshold: float = AGREEMENT_SCORE,
    max_images: int = 0,
    progress: bool = False,
    on_image: Callable[[int, Any, InstanceMasks], None] | None = None,
    images: Sequence[int] | None = None,
) -> EvalReport:
    """Score an instance model on semantic masks only (no instance truth).

    Per model class (each must be a class of the dataset, matched by name): pixel IoU
    between the union of the predicted masks with score >= ``score_threshold`` and the
    class's labelled pixels, intersection and union summed over the split, void pixels
    excluded. It says whether the instances cover the class's pixels and nothing else; it
    cannot see instances merged or split wrongly.

    Args:
        on_image: called as ``on_image(i, sample, result)`` for each image (figures).
        images: score only these images, by index in the split's order (as
            :func:`evaluate`).

    Raises:
        DataError: a model class the dataset does not have; an empty split.
    """
    from edgevision.data.pseudo_instances import check_classes
    from edgevision.data.semantic import open_semantic

    root = Path(data_dir)
    require_dir(root, "dataset folder")
    spec = predictor.spec
    classes = [str(c) for c in spec.class_names]
    ds = open_semantic(root, split)
    sids = check_classes(ds.class_names, classes, root)
    idx = _select(len(ds), max_images, images)
    n = len(idx)
    if n == 0:
        raise DataError(f"no images in split '{split}' of {root}")
    inter = np.zeros(len(classes))
    union = np.zeros(len(classes))
    names = [ds.names[i] for i in idx]
    for i, s, pred in _predict_all(
        predictor, ds, idx, InstanceMasks, f"agreement {split}", progress
    ):
        keep = np.asarray(pred.scores) >= score_threshold
        valid = s.mask != ds.ignore_index
        for k, sid in enumerate(sids):
            sem = (s.mask == sid) & valid
            chosen = keep & (np.asarray(pred.class_ids) == k)
            pm = pred.masks[chosen].any(axis=0) if chosen.any() else np.zeros_like(sem)
            pm = pm & valid
            inter[k] += float((pm & sem).sum())
            union[k] += float((pm | sem).sum())
        if on_image is not None:
            on_image(i, s, pred)
    per = {c: (float(inter[k] / union[k]) if union[k] > 0 else float("nan"))
           for k, c in enumerate(classes)}  # fmt: skip
    vals = [v for v in per.values() if v == v]
    metrics = {
        "agreement": {
            "per_class": per,
            "mean_iou": float(np.mean(vals)) if vals else float("nan"),
            "score_threshold": float(score_threshold),
        }
    }
    return EvalReport(
        task=str(spec.task),
        split=split,
        num_images=n,
        metrics=metrics,
        model=str(getattr(spec, "name", "")),
        data_dir=str(root),
        sequences=sequence_counts(names),
    )
