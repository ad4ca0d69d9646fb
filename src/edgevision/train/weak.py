"""Weakly supervised instance segmentation from semantic masks, with self-training rounds.

``train_weak(cfg, weak)`` trains a YOLACT from a *semantic* dataset only:

* **round 0**: pseudo-instances from the semantic masks
  (:func:`~edgevision.data.pseudo_instances.semantic_to_instances`: connected components,
  watershed splitting, ignore region, confidence) are written to ``OUT/round0/labels`` and a
  model is trained on them with the shared instance trainer
  (:func:`~edgevision.train.instance.train_instance`), whose loss skips the ignore region
  and weights each object by its confidence.
* **round r >= 1**: the previous round's model predicts instances on the training images;
  :func:`refine_image` turns them into new pseudo-labels that always agree with the
  semantic mask — every semantic component of a thing class is re-partitioned among the
  confident predictions that fall inside it (which splits a blob the model sees as two
  objects, merges parts it sees as one, and re-shapes borders), components the model does
  not cover well keep their previous labels — and a model is retrained from scratch on them
  with the same schedule (``OUT/roundR/labels``, ``OUT/roundR/model``).

Every round's labels and model are kept; a finished round is skipped when the run is
started again (and an interrupted one resumes from its ``last.pt``), so ``train_weak`` is
resumable as a whole. ``OUT/weak.json`` records the settings and each round's label counts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.data.pseudo_instances import (
    PseudoInstance,
    PseudoLabelConfig,
    check_classes,
    component_instances,
    fill_nearest,
    semantic_to_instances,
    write_split,
)
from edgevision.errors import ConfigError
from edgevision.tasks import get_task

__all__ = ["WeakConfig", "WeakResult", "refine_image", "refine_labels", "train_weak"]


@dataclass
class WeakConfig:
    """Weak-supervision settings (the model and schedule are an ``InstanceTrainConfig``).

    Attributes:
        classes: semantic class names that are instance ("thing") classes.
        rounds: self-training rounds after round 0 (0 = pseudo-labels only).
        split: split merged blobs when making the round-0 labels (watershed).
        min_area: smallest instance, px of the original image.
        min_peak: smallest distance peak seeding a part (px).
        neck_ratio: watershed merge threshold (see ``PseudoLabelConfig``).
        boundary_px: ignore band around outlines.
        split_band_px: ignore band around split lines.
        score_threshold: predictions at least this confident take part in refinement.
        min_coverage: a component is re-labelled only when confident predictions of its
            class cover at least this fraction of it; otherwise it keeps its labels.
        label_val: also make round-0 labels for ``val_split`` (for monitoring during
            training; the model is still selected as the trainer does).
    """

    classes: tuple[str, ...] = ()
    rounds: int = 1
    split: bool = True
    min_area: int = 50
    min_peak: float = 3.0
    neck_ratio: float = 0.7
    boundary_px: int = 1
    split_band_px: int = 2
    score_threshold: float = 0.3
    min_coverage: float = 0.5
    label_val: bool = True

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ConfigError(f"rounds must be >= 0, got {self.rounds}")
        if not 0 < self.score_threshold < 1 or not 0 < self.min_coverage <= 1:
            raise ConfigError("score_threshold must be in (0, 1) and min_coverage in (0, 1]")
        self.pseudo()  # validates the label settings and the class list

    def pseudo(self) -> PseudoLabelConfig:
        return PseudoLabelConfig(
            classes=tuple(self.classes),
            min_area=self.min_area,
            split=self.split,
            min_peak=self.min_peak,
            neck_ratio=self.neck_ratio,
            boundary_px=self.boundary_px,
            split_band_px=self.split_band_px,
        )


@dataclass
class WeakResult:
    """What :func:`train_weak` produced.

    Attributes:
        out_dir: the run folder.
        rounds: per round ``{"round", "labels", "model", "label_stats", "best_mask_ap"}``.
        final: checkpoint of the last round (``best.pt`` if the trainer kept one, else
            ``last.pt``).
    """

    out_dir: Path
    rounds: list[dict[str, Any]] = field(default_factory=list)
    final: Path | None = None


# --------------------------------------------------------------------------------------------
# Refinement
# --------------------------------------------------------------------------------------------
def refine_image(
    label: np.ndarray,
    class_ids: Sequence[int],
    previous: Sequence[PseudoInstance],
    pred_masks: np.ndarray,
    pred_classes: np.ndarray,
    pred_scores: np.ndarray,
    cfg: PseudoLabelConfig,
    *,
    score_threshold: float = 0.3,
    min_coverage: float = 0.5,
    ignore_index: int | None = None,
) -> tuple[list[PseudoInstance], np.ndarray, dict[str, int]]:
    """New pseudo-instances of one image from the model's predictions and the semantic mask.

    Args:
        label: ``(H, W)`` semantic ids.
        class_ids: semantic id of each instance class (``cfg.classes`` order).
        previous: this image's pseudo-instances of the last round.
        pred_masks: ``(K, H, W)`` bool predicted masks (original pixels).
        pred_classes: ``(K,)`` instance-class indices of the predictions.
        pred_scores: ``(K,)`` scores in 0–1.
        cfg: the pseudo-label settings (``min_area``, ignore bands, splitting of
            components the model leaves to the previous labels).
        score_threshold: predictions below it are not used.
        min_coverage: fraction of a component the confident predictions must cover for it
            to be re-labelled from them.
        ignore_index: void id of the labels.

    Returns:
        ``(instances, ignore, counts)`` where ``counts`` has ``relabelled`` and ``kept``
        component counts.
    """
    import cv2

    h, w = label.shape
    ignore = np.zeros((h, w), bool)
    if ignore_index is not None:
        ignore |= label == ignore_index
    out: list[PseudoInstance] = []
    counts = {"relabelled": 0, "kept": 0}
    use = pred_scores >= score_threshold
    for k, sid in enumerate(class_ids):
        sem = label == sid
        if not sem.any():
            continue
        preds = [j for j in np.flatnonzero(use & (pred_classes == k))]
        # constrain every prediction to its class's semantic pixels
        pm = [pred_masks[j] & sem for j in preds]
        n, lab, stats, _ = cv2.connectedComponentsWithStats(sem.astype(np.uint8), connectivity=8)
        for c in range(1, n):
            x, y, bw, bh = (int(v) for v in stats[c, :4])
            area = int(stats[c, cv2.CC_STAT_AREA])
            comp = lab[y : y + bh, x : x + bw] == c
            if area < cfg.min_area:
                ignore[y : y + bh, x : x + bw] |= comp
                continue
            # predictions mostly inside this component
            inside = []
            for j, m in zip(preds, pm):
                mc = m[y : y + bh, x : x + bw] & comp
                a = int(mc.sum())
                if a >= cfg.min_area and a >= 0.5 * max(int(m.sum()), 1):
                    inside.append((float(pred_scores[j]), mc))
            covered = np.zeros(comp.shape, bool)
            for _, mc in inside:
                covered |= mc
            if not inside or covered.sum() < min_coverage * area:
                # the model is unsure here: keep the previous labels of this component
                counts["kept"] += 1
                prev = [
                    p
                    for p in previous
                    if p.class_index == k
                    and (p.mask[y : y + bh, x : x + bw] & comp).sum() >= 0.5 * p.mask.sum()
                ]
                if prev:
                    for p in prev:
                        out.append(p)
                    if len(prev) > 1 and cfg.split_band_px > 0:
                        ignore |= _split_band([p.mask for p in prev], cfg.split_band_px) & (
                            lab == c
                        )
                else:  # no previous labels here either: label it as round 0 would
                    pieces, confs, _ = component_instances(comp, cfg)
                    for piece, sc in zip(pieces, confs):
                        full = np.zeros((h, w), bool)
                        full[y : y + bh, x : x + bw] = piece
                        size = min(1.0, float(piece.sum()) / (4.0 * cfg.min_area))
                        conf = float(np.clip(size * sc, 0.05, 1.0))
                        out.append(PseudoInstance(full, k, conf, split=len(pieces) > 1))
                continue
            counts["relabelled"] += 1
            # partition the component: each pixel to the most confident prediction covering
            # it; uncovered pixels to the nearest assigned one
            inside.sort(key=lambda t: -t[0])
            assign = np.zeros(comp.shape, np.int32)
            for idx, (_, mc) in enumerate(inside, start=1):
                assign[mc & (assign == 0)] = idx
            fill_nearest(assign, comp & (assign == 0))
            parts: list[tuple[np.ndarray, float]] = []
            for idx, (score, mc) in enumerate(inside, start=1):
                part = comp & (assign == idx)
                if part.sum() < cfg.min_area:
                    continue
                agree = float((part & mc).sum()) / float((part | mc).sum())
                parts.append((part, float(np.clip(score * agree, 0.05, 1.0))))
            if not parts:
                parts = [(comp, 0.5)]
            # pixels of dropped (tiny) parts join the largest part
            union = np.zeros(comp.shape, bool)
            for part, _ in parts:
                union |= part
            if (comp & ~union).any():
                big = max(range(len(parts)), key=lambda i: int(parts[i][0].sum()))
                parts[big] = (parts[big][0] | (comp & ~union), parts[big][1])
            fulls = []
            for part, conf in parts:
                full = np.zeros((h, w), bool)
                full[y : y + bh, x : x + bw] = part
                out.append(PseudoInstance(full, k, conf, split=len(parts) > 1))
                fulls.append(full)
            if len(fulls) > 1 and cfg.split_band_px > 0:
                ignore |= _split_band(fulls, cfg.split_band_px) & (lab == c)
    if cfg.boundary_px > 0:
        from edgevision.data.pseudo_instances import boundary_band

        for inst in out:
            ignore |= boundary_band(inst.mask, cfg.boundary_px)
    return out, ignore, counts


def _split_band(masks: Sequence[np.ndarray], px: int) -> np.ndarray:
    """Pixels within ``px`` of a border between two of ``masks``."""
    import cv2

    k = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    grown = [cv2.dilate(m.astype(np.uint8), k) > 0 for m in masks]
    band = np.zeros(masks[0].shape, bool)
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            band |= grown[i] & grown[j]
    return band


def _load_previous(
    labels_dir: Path, split: str
) -> tuple[dict[str, list[PseudoInstance]], list[str]]:
    """Pseudo-instances of a written split by image name, and the class list."""
    from edgevision.data.coco import CocoDataset

    ds = CocoDataset(
        labels_dir / "annotations" / f"instances_{split}.json",
        labels_dir / "images" / split,
        masks=True,
    )
    out: dict[str, list[PseudoInstance]] = {}
    for i in range(len(ds)):
        target, _, _ = ds.read_target(i)
        conf = ds.confidences(i)
        name = Path(ds._images[i]["file_name"]).stem
        out[name] = [
            PseudoInstance(np.asarray(m, bool), int(c), float(s))
            for m, c, s in zip(target.masks, target.class_ids, conf)  # type: ignore[attr-defined]
        ]
    return out, list(ds.class_names)


def predict_instances(model: Any, image: np.ndarray, *, conf_threshold: float = 0.05) -> Any:
    """One image -> :class:`~edgevision.results.InstanceMasks` with a torch YOLACT."""
    import torch

    from edgevision.postprocess.yolact import yolact_postprocess
    from edgevision.preprocess import preprocess

    spec = model.spec
    x, tfs = preprocess([image], spec)
    with torch.no_grad():
        outs = [o.float().cpu().numpy() for o in model.export_adapter()(torch.from_numpy(x))]
    return yolact_postprocess(outs, spec, tfs, conf_threshold=conf_threshold)[0]


def refine_labels(
    checkpoint: str | Path,
    data_dir: str | Path,
    previous_dir: str | Path,
    out_dir: str | Path,
    weak: WeakConfig,
    *,
    split: str = "train",
    progress: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Write refined labels of ``split`` to ``out_dir`` (see :func:`refine_image`).

    Returns:
        The split's counts (as :func:`~edgevision.data.pseudo_instances.write_split`) plus
        ``relabelled`` and ``kept`` component totals.
    """
    import torch

    from edgevision.checkpoint import load_model
    from edgevision.data.semantic import SemanticFolder

    cfg = weak.pseudo()
    src = Path(data_dir)
    ds = SemanticFolder(src, split)
    sids = check_classes(ds.class_names, cfg.classes, src)
    prev, prev_classes = _load_previous(Path(previous_dir), split)
    if list(prev_classes) != list(cfg.classes):
        raise ConfigError(f"{previous_dir}: classes {prev_classes} differ from {list(cfg.classes)}")
    model = load_model(str(checkpoint))
    model.eval()
    totals = {"relabelled": 0, "kept": 0}
    threads = torch.get_num_threads()

    def items() -> Iterator[tuple[str, Path, Path, list[PseudoInstance], np.ndarray]]:
        it: Any = range(len(ds))
        if progress:
            from rich.progress import track

            it = track(it, description=f"refine {split}", transient=True)
        for i in it:
            s = ds[i]
            res = predict_instances(model, s.image)
            insts, ignore, counts = refine_image(
                s.mask,
                sids,
                prev.get(s.name, []),
                np.asarray(res.masks, bool),
                np.asarray(res.class_ids),
                np.asarray(res.scores),
                cfg,
                score_threshold=weak.score_threshold,
                min_coverage=weak.min_coverage,
                ignore_index=ds.ignore_index,
            )
            for key in totals:
                totals[key] += counts[key]
            yield s.name, Path(str(s.image_path)), Path(str(s.label_path)), insts, ignore

    try:
        stats = write_split(
            Path(out_dir),
            split,
            items(),
            cfg.classes,
            info={
                "source": str(src.resolve()),
                "refined_from": str(checkpoint),
                "command": command,
            },
        )
    finally:
        torch.set_num_threads(threads)
    return {**stats, **totals}


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def _done(labels: Path) -> bool:
    """A round's labels are complete once ``stats.json`` exists (written last, atomically);
    a partial round is redone from the start (its writers overwrite their outputs)."""
    return (labels / "stats.json").is_file()


def train_weak(
    cfg: Any,
    weak: WeakConfig,
    *,
    progress: bool | None = None,
    quiet: bool = False,
    command: str = "edgevision train --weak",
) -> WeakResult:
    """Round 0 on pseudo-labels, then ``weak.rounds`` self-training rounds (module docstring).

    Args:
        cfg: an :class:`~edgevision.train.instance.InstanceTrainConfig` whose ``data`` is a
            *semantic* dataset folder and ``out`` the run folder; every round trains with
            its model and schedule.
        weak: the weak-supervision settings.
        progress: progress bars (``None``: when stderr is a terminal).
        quiet: no per-round lines.
        command: the command line recorded in the labels' READMEs and ``weak.json``.

    Raises:
        ConfigError / DataError: bad settings, a non-instance model, a dataset without the
            requested classes.
    """
    from edgevision.io import write_json_atomic
    from edgevision.registry import get_entry
    from edgevision.train.instance import train_instance

    if not get_task(get_entry(cfg.model).task).weak:
        raise ConfigError(f"--weak trains an instance model; {cfg.model!r} is not one")
    if not cfg.data:
        raise ConfigError("no dataset: give --data DIR (a semantic dataset)")
    src = Path(cfg.data)
    out = Path(cfg.out)
    show = bool(progress)
    result = WeakResult(out_dir=out)
    record: dict[str, Any] = {
        "command": command,
        "data": str(src),
        "weak": dataclasses.asdict(weak),
        "train": dataclasses.asdict(cfg),
        "rounds": [],
    }
    splits = [cfg.train_split] + ([cfg.val_split] if cfg.val_split and weak.label_val else [])
    for r in range(weak.rounds + 1):
        labels = out / f"round{r}" / "labels"
        model_dir = out / f"round{r}" / "model"
        if not _done(labels):
            if r == 0:
                stats = semantic_to_instances(
                    src, labels, weak.pseudo(), splits=splits, progress=show, command=command
                )[cfg.train_split]
            else:
                prev = out / f"round{r - 1}"
                stats = refine_labels(
                    result.final or prev / "model" / "last.pt",
                    src,
                    prev / "labels",
                    labels,
                    weak,
                    split=cfg.train_split,
                    progress=show,
                    command=command,
                )
                # monitoring labels of the val split stay those of round 0
                if cfg.val_split and weak.label_val:
                    _copy_split(out / "round0" / "labels", labels, cfg.val_split)
            write_json_atomic(labels / "stats.json", stats)
        stats = json.loads((labels / "stats.json").read_text())
        if not quiet:
            print(
                f"round {r}: {stats['instances']} pseudo-instances on {stats['images']} "
                f"images ({stats['from_splits']} from splits"
                + (
                    f", {stats['relabelled']} components re-labelled"
                    if "relabelled" in stats
                    else ""
                )
                + f") -> {labels}",
                flush=True,
            )
        rcfg = dataclasses.replace(
            cfg,
            data=str(labels),
            out=str(model_dir),
            val_split=cfg.val_split if (cfg.val_split and weak.label_val) else "",
        )
        res = train_instance(
            rcfg,
            resume=(model_dir / "last.pt").is_file(),
            progress=progress,
            quiet=quiet,
            command=command,
        )
        result.final = res.best or res.last
        entry = {
            "round": r,
            "labels": str(labels),
            "model": str(result.final),
            "label_stats": stats,
            "best_mask_ap_on_pseudo_val": res.best_mask_ap,
        }
        result.rounds.append(entry)
        record["rounds"].append(entry)
        write_json_atomic(out / "weak.json", record)
    return result


def _copy_split(src: Path, dst: Path, split: str) -> None:
    """Reuse ``split``'s labels of ``src`` in ``dst`` (images and ignore PNGs as symlinks)."""
    import shutil

    from edgevision.io import atomic_path

    for sub in ("images", "ignore"):
        d = dst / sub / split
        if d.is_symlink():
            d.unlink()
        elif d.exists():
            shutil.rmtree(d)
        d.parent.mkdir(parents=True, exist_ok=True)
        d.symlink_to((src / sub / split).resolve(), target_is_directory=True)
    (dst / "annotations").mkdir(parents=True, exist_ok=True)
    with atomic_path(dst / "annotations" / f"instances_{split}.json", suffix=".json") as tmp:
        shutil.copyfile(src / "annotations" / f"instances_{split}.json", tmp)
