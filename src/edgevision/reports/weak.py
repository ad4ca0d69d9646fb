"""``edgevision report weak``: weak supervision measured against exact instances.

On a dataset that has both semantic masks and true instances (the synthetic set), the same
YOLACT and schedule are trained four ways and scored on the true instances of ``val``:

(a) fully supervised — the true instance labels;
(b) weak, connected components only — pseudo-instances without splitting;
(c) weak + splitting — watershed splitting, ignore region, confidence (round 0 of (d));
(d) weak + self-training — (c) followed by ``rounds`` refinement rounds.

Every variant uses the trainer's last checkpoint (no model selection: the weak variants
have no true labels to select on, so (a) gets none either). Besides mask and box AP, the
page reports the quality of each stage's *training labels* against the truth: recall and
precision of pseudo-instances at mask IoU 0.5. A PNG puts val images, the truth, the
pseudo-labels and the predictions of (a) and (d) side by side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError
from edgevision.evaluate.api import AGREEMENT_SCORE
from edgevision.reports.common import dataset_figure_lines, save_image_grid

__all__ = ["label_quality", "weak_report"]


def _masks_by_name(ann: Path) -> dict[str, list[np.ndarray]]:
    from edgevision.data.coco import decode_segmentation

    d = json.loads(ann.read_text())
    ims = {im["id"]: im for im in d["images"]}
    out: dict[str, list[np.ndarray]] = {Path(im["file_name"]).stem: [] for im in d["images"]}
    for a in d["annotations"]:
        if a.get("iscrowd", 0):
            continue
        im = ims[a["image_id"]]
        m = decode_segmentation(a["segmentation"], im["height"], im["width"]).astype(bool)
        out[Path(im["file_name"]).stem].append(m.ravel())
    return out


def label_quality(truth: str | os.PathLike[str], pseudo: str | os.PathLike[str]) -> dict[str, Any]:
    """Recall / precision of pseudo-instances against the true ones at mask IoU >= 0.5
    (one-to-one greedy matching by IoU, class-agnostic), over the images of ``truth``.

    Returns:
        ``{"true", "pseudo", "matched", "recall", "precision", "mean_iou"}`` (``mean_iou``
        over matched pairs).
    """
    t, p = _masks_by_name(Path(truth)), _masks_by_name(Path(pseudo))
    n_true = n_pseudo = matched = 0
    ious: list[float] = []
    for name, ts in t.items():
        ps = p.get(name, [])
        n_true += len(ts)
        n_pseudo += len(ps)
        if not ts or not ps:
            continue
        pm, tm = np.stack(ps).astype(np.float32), np.stack(ts).astype(np.float32)
        inter = pm @ tm.T
        iou = inter / np.maximum(pm.sum(1)[:, None] + tm.sum(1)[None] - inter, 1.0)
        while True:
            i, j = np.unravel_index(int(iou.argmax()), iou.shape)
            if iou[i, j] < 0.5:
                break
            matched += 1
            ious.append(float(iou[i, j]))
            iou[i, :] = -1
            iou[:, j] = -1
    return {
        "true": n_true,
        "pseudo": n_pseudo,
        "matched": matched,
        "recall": matched / max(n_true, 1),
        "precision": matched / max(n_pseudo, 1),
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
    }


def _figure(
    data: Path,
    pseudo_val: Path,
    models: Sequence[tuple[str, Path]],
    path: Path,
    *,
    images: int = 4,
) -> Path:
    """Rows of val images: image | truth | pseudo-labels | each model's prediction."""
    from edgevision.checkpoint import load_model
    from edgevision.data.coco import CocoDataset, coco_layout
    from edgevision.train.weak import predict_instances

    ann, img_dir = coco_layout(data, "val")
    truth = CocoDataset(ann, img_dir, masks=True)
    pann, pimg = coco_layout(pseudo_val, "val")
    pseudo = CocoDataset(pann, pimg, masks=True)
    pseudo_by_name = {Path(im["file_name"]).stem: i for i, im in enumerate(pseudo._images)}
    nets = [(label, load_model(str(ckpt)).eval()) for label, ckpt in models]
    idx = np.linspace(0, len(truth) - 1, min(images, len(truth))).round().astype(int)
    rows = []
    for i in idx:
        s = truth[int(i)]
        name = Path(s.file_name).stem
        pt = pseudo.read_target(pseudo_by_name[name])[0] if name in pseudo_by_name else None
        panels = [s.image, s.target.draw(s.image, show_scores=False)]
        titles = [name, f"truth ({len(s.target)})"]
        panels.append(pt.draw(s.image, show_scores=False) if pt is not None else s.image)
        titles.append(f"pseudo-labels ({len(pt) if pt is not None else 0})")
        for label, net in nets:
            pred = predict_instances(net, s.image)
            pred = pred[pred.scores >= 0.3] if len(pred) else pred
            panels.append(pred.draw(s.image, show_scores=False))
            titles.append(f"{label} ({len(pred)})")
        rows.append(list(zip(panels, titles)))
    return save_image_grid(rows, path, cell=(2.4, 2.4), pad=0.3, fontsize=7)


def weak_report(
    data: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] = "docs/results/weak.md",
    work: str | os.PathLike[str] = "runs/weak_report",
    train: Any = None,
    rounds: int = 2,
    classes: Sequence[str] | None = None,
    command: str = "edgevision report weak",
    progress: bool = False,
) -> list[Path]:
    """Train (a)–(d) (module docstring), score them on val's true instances, write the page.

    Args:
        data: a dataset with semantic masks (``labels/``) *and* true instances
            (``annotations/instances_{train,val}.json``), e.g. ``edgevision data synth``.
        out: markdown path; the PNG goes next to it (``STEM.png``).
        work: folder for the runs (resumable: finished runs are reused).
        train: :class:`~edgevision.train.instance.InstanceTrainConfig` template (model,
            schedule); ``data``/``out``/``val_split`` are set per variant.
        rounds: self-training rounds of (d).
        classes: thing classes (default: the dataset's ``thing_classes`` or COCO categories).
        command: the command line quoted on the page.
        progress: progress bars.

    Returns:
        The files written (markdown first).
    """
    from edgevision.checkpoint import load_model
    from edgevision.data.coco import coco_layout
    from edgevision.io import write_text_atomic
    from edgevision.train.instance import InstanceTrainConfig, evaluate_instance, train_instance
    from edgevision.train.weak import WeakConfig, train_weak

    data, work, out = Path(data), Path(work), Path(out)
    for split in ("train", "val"):
        ann, _ = coco_layout(data, split)  # raises DataError when the truth is missing
        if not (data / "labels" / split).is_dir():
            raise DataError(f"{data}: no semantic labels for split {split!r} (labels/{split})")
    if classes is None:
        classes = [c["name"] for c in json.loads(ann.read_text())["categories"]]
    base = train or InstanceTrainConfig()
    base = dataclasses.replace(base, val_split="")  # last.pt for every variant
    t0 = time.perf_counter()
    quiet = not progress

    full = train_instance(
        dataclasses.replace(base, data=str(data), out=str(work / "a_full")),
        resume=(work / "a_full" / "last.pt").is_file(),
        progress=progress,
        quiet=quiet,
    )
    weak_common = dict(classes=tuple(classes), label_val=True)
    cc = train_weak(
        dataclasses.replace(
            base, data=str(data), out=str(work / "b_cc"), val_split="val", eval_every=base.epochs
        ),
        WeakConfig(**weak_common, split=False, rounds=0),  # type: ignore[arg-type]
        progress=progress,
        quiet=quiet,
        command=command,
    )
    st = train_weak(
        dataclasses.replace(
            base, data=str(data), out=str(work / "d_self"), val_split="val", eval_every=base.epochs
        ),
        WeakConfig(**weak_common, split=True, rounds=rounds),  # type: ignore[arg-type]
        progress=progress,
        quiet=quiet,
        command=command,
    )
    # the weak runs' val_split only labels val for the figure; their models are last.pt
    truth_train, _ = coco_layout(data, "train")
    rows: list[dict[str, Any]] = []

    def score(ckpt: Path) -> dict[str, float]:
        m = evaluate_instance(load_model(str(ckpt)), data, "val")
        return {
            "mask_ap": m["segm"]["AP"],
            "mask_ap50": m["segm"]["AP50"],
            "box_ap": m["bbox"]["AP"],
        }

    def last_of(run: dict[str, Any]) -> Path:
        return Path(run["model"]).with_name("last.pt")

    rows.append({"stage": "(a) fully supervised", "labels": "true instances",
                 "quality": None, **score(full.last)})  # fmt: skip
    rows.append({"stage": "(b) weak: connected components", "labels": cc.rounds[0]["labels"],
                 "quality": label_quality(truth_train, Path(cc.rounds[0]["labels"]) / "annotations/instances_train.json"),
                 **score(last_of(cc.rounds[0]))})  # fmt: skip
    for r, run in enumerate(st.rounds):
        stage = "(c) weak: + splitting" if r == 0 else f"(d) + self-training round {r}"
        rows.append({"stage": stage, "labels": run["labels"],
                     "quality": label_quality(truth_train, Path(run["labels"]) / "annotations/instances_train.json"),
                     **score(last_of(run))})  # fmt: skip
    ref = rows[0]["mask_ap"]
    png = out.with_suffix(".png")
    _figure(
        data,
        Path(st.rounds[0]["labels"]),
        [("(a) full", full.last), (f"(d) round {len(st.rounds) - 1}", last_of(st.rounds[-1]))],
        png,
    )
    cfg_d = dataclasses.asdict(base)
    lines = [
        "# Weak supervision from semantic masks (generated)",
        "",
        f"Written by `{command}` — do not edit by hand. Machine: {platform.machine()} / "
        f"{platform.system()}, {os.cpu_count()} CPU(s); wall time {time.perf_counter() - t0:.0f} s "
        "for this invocation (finished runs under the work folder are reused).",
        "",
        f"Data: `{data}` (semantic masks + exact instances). Model `{base.model}` "
        f"(kwargs {cfg_d['model_kwargs'] or '{}'}), input {'x'.join(map(str, base.input_size or ()))}, "
        f"{base.epochs} epochs, batch {base.batch_size}, lr {base.lr}, seed {base.seed} — the "
        "same for every row; each row is the trainer's last checkpoint, scored on the true "
        "instances of `val` (COCO mask/box AP through faster-coco-eval).",
        "",
        "Training-label quality: the pseudo-instances of `train` against the true ones "
        "(one-to-one matches at mask IoU >= 0.5).",
        "",
        "| stage | mask AP | mask AP50 | box AP | % of (a) mask AP | label recall | label precision | matched IoU |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        q = row["quality"]
        qcells = (
            f"{q['recall']:.3f} | {q['precision']:.3f} | {q['mean_iou']:.3f}" if q else "1 | 1 | 1"
        )
        pct = 100 * row["mask_ap"] / ref if ref > 0 else float("nan")
        lines.append(
            f"| {row['stage']} | {row['mask_ap']:.4f} | {row['mask_ap50']:.4f} | "
            f"{row['box_ap']:.4f} | {pct:.1f} % | {qcells} |"
        )
    final = rows[-1]
    lines += [
        "",
        (
            f"Target: (d) >= 85 % of (a): {100 * final['mask_ap'] / ref:.1f} % "
            + ("(met)." if final["mask_ap"] >= 0.85 * ref else "(not met).")
            if ref > 0
            else "Target: (d) >= 85 % of (a): undefined, (a) has mask AP 0 (train longer)."
        ),
        "",
        f"![truth, pseudo-labels and predictions on val]({png.name})",
        "",
        "Columns of the figure: the val image, its true instances, the round-0 pseudo-labels "
        "made from its semantic mask (with splitting), and the predictions (score >= 0.3) of "
        "(a) and of the last self-training round.",
        "",
    ]
    write_text_atomic(out, "\n".join(lines))
    from edgevision.io import write_json_atomic

    write_json_atomic(work / "report.json", {"rows": rows, "command": command})
    return [out, png]


# --------------------------------------------------------------------------------------------
# Data without instance truth (CamVid): agreement with the semantic mask
# --------------------------------------------------------------------------------------------
def semantic_agreement(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    split: str = "val",
    score_threshold: float = AGREEMENT_SCORE,
    max_images: int = 0,
    figure: str | os.PathLike[str] | None = None,
    figure_images: int = 4,
    threads: int = 2,
    progress: bool = False,
) -> dict[str, Any]:
    """Pixel IoU, per thing class, between the union of a weak instance model's predicted
    masks (score >= ``score_threshold``) and that class's pixels in the semantic labels.

    The instance model's classes must be classes of the semantic dataset. IoU accumulates
    intersection and union over the split (void pixels excluded); the numbers are those of
    :func:`edgevision.evaluate.evaluate_agreement`, i.e. of ``edgevision eval CKPT --data
    DIR``. With ``figure``, a PNG of ``figure_images`` images: image | semantic thing pixels |
    predicted instances.

    Returns:
        ``{"split", "images", "score_threshold", "per_class": {name: iou}, "mean_iou"}``.
    """
    from edgevision.data.pseudo_instances import check_classes
    from edgevision.data.semantic import SemanticFolder
    from edgevision.evaluate import evaluate_agreement
    from edgevision.runtime import Predictor, load_engine

    predictor = Predictor(load_engine(str(checkpoint), threads=threads))
    ds = SemanticFolder(data, split)
    sids = check_classes(ds.class_names, [str(c) for c in predictor.spec.class_names], Path(data))
    n = len(ds) if max_images <= 0 else min(len(ds), max_images)
    shown = set()
    if figure is not None and n:
        shown = set(np.linspace(0, n - 1, min(figure_images, n)).round().astype(int).tolist())
    panels: list[tuple[str, np.ndarray, np.ndarray, Any]] = []

    def collect(i: int, s: Any, pred: Any) -> None:
        if i in shown:
            keep = pred.scores >= score_threshold
            panels.append(
                (s.name, s.image, np.isin(s.mask, sids), pred[keep] if len(pred) else pred)
            )

    rep = evaluate_agreement(predictor, data, split, score_threshold=score_threshold,
                             max_images=max_images, progress=progress, on_image=collect)  # fmt: skip
    a = rep.metrics["agreement"]
    if figure is not None and panels:
        _agreement_figure(panels, Path(figure))
    return {
        "split": split,
        "images": rep.num_images,
        "score_threshold": score_threshold,
        "per_class": a["per_class"],
        "mean_iou": a["mean_iou"],
    }


def _agreement_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, Any]], path: Path
) -> None:
    rows = []
    for name, img, things, pred in panels:
        sem = img.copy()
        sem[things] = (0.4 * sem[things] + 0.6 * np.array([255, 64, 64])).astype(np.uint8)
        rows.append(
            [
                (img, name),
                (sem, "semantic thing pixels"),
                (pred.draw(img, show_scores=False), f"predicted instances ({len(pred)})"),
            ]
        )
    save_image_grid(rows, path, cell=(3.6, 2.8), pad=0.3)


def _starts_line(runs: Path) -> list[str]:
    """One line when the model's run was started more than once (a resume may change the
    planned epochs, so the quoted command alone does not say the schedule)."""
    try:
        starts = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []
    if len(starts) < 2:
        return []
    parts = [
        f"from epoch {s.get('start_epoch', '?')} with {s.get('epochs', '?')} epochs planned"
        + (f" (`{s['command']}`)" if s.get("command") else "")
        for s in starts
    ]
    return [
        f"The model's run was started {len(starts)} times (`{runs}`): " + "; ".join(parts) + "."
    ]


def _training_lines(checkpoint: str) -> list[str]:
    """How the weak model was trained, from the ``weak.json`` of its run folder (if any)."""
    for d in list(Path(checkpoint).parents)[:3]:
        f = d / "weak.json"
        if f.is_file():
            try:
                rec = json.loads(f.read_text())
                train = rec.get("train", {})
                size = train.get("input_size")
                at = "x".join(map(str, size)) if size else "the model's input size"
                return [
                    f"Training: `{rec['command']}` ({len(rec.get('rounds', []))} round(s) of "
                    f"{train.get('epochs')} epochs at {at}; record `{f}`).",
                    *_starts_line(Path(checkpoint).parent / "runs.jsonl"),
                    "",
                ]
            except (ValueError, KeyError, OSError):
                return []
    return []


def _iou(v: float) -> str:
    return "–" if v != v else f"{v:.3f}"  # nan: the class is in neither labels nor predictions


def _model_label(checkpoint: str) -> str:
    """``round R`` for a checkpoint of a weak run's round (``.../roundR/model/X.pt``)."""
    parts = Path(checkpoint).parts
    if len(parts) >= 3 and parts[-2] == "model" and parts[-3].startswith("round"):
        return f"round {parts[-3][len('round') :]}"
    return Path(checkpoint).name


def write_agreement_page(
    results: dict[str, dict[str, Any]],
    md: str | os.PathLike[str],
    *,
    data: str,
    command: str,
    figure: str | os.PathLike[str] | None = None,
) -> Path:
    """Markdown page of :func:`semantic_agreement` for one or more models (``{checkpoint:
    result}``, one column each, in order); ``figure`` (its PNG of dataset images, kept
    outside ``docs/``) is named, not embedded."""
    from edgevision.io import write_text_atomic

    if not results:
        raise ValueError("no results")
    md = Path(md)
    ckpts = list(results)
    first = results[ckpts[0]]
    labels = [_model_label(c) for c in ckpts]
    if len(set(labels)) < len(labels):
        labels = ckpts
    from edgevision.train.card import weak_record

    training: list[str] = []
    for c, lab in zip(ckpts, labels):
        for line in _training_lines(c):
            if line and line not in training:
                training.append(line)
        w = weak_record(Path(c).parent)
        st = (w or {}).get("label_stats") or {}
        if st:
            relab = f", {st.get('relabelled')} components re-labelled by the round before's model"
            training.append(
                f"{lab}: trained on {st.get('instances')} pseudo-instances on "
                f"{st.get('images')} images ({st.get('from_splits')} made by splitting blobs"
                + (relab if "relabelled" in st else "")
                + ")."
            )
    models = (
        f"Model `{ckpts[0]}`"
        if len(ckpts) == 1
        else "Models " + ", ".join(f"`{c}` ({lab})" for c, lab in zip(ckpts, labels))
    )
    classes = list(first["per_class"])
    lines = [
        "# Weak instance model on data without instance labels (generated)",
        "",
        f"Written by `{command}` — do not edit by hand. Machine: {platform.machine()} / "
        f"{platform.system()}.",
        "",
        f"{models}, trained with `edgevision train --weak` from semantic labels only; data "
        f"`{data}`, split `{first['split']}` ({first['images']} images). The labels have no "
        "instances, so the check is agreement with the semantic mask: per class, pixel IoU "
        "between the union of the predicted masks (score >= "
        f"{first['score_threshold']}) and the class's labelled pixels (void excluded)"
        + (
            f"; `edgevision eval CKPT --data {data}` prints the same numbers."
            if first["score_threshold"] == AGREEMENT_SCORE
            else "."
        ),
        "",
        *[x for t in training for x in (t, "")],
        "Pixel IoU of predicted instances vs semantic mask:",
        "",
        "| class | " + " | ".join(labels) + " |",
        "|:---|" + "---:|" * len(labels),
        *[
            f"| {c} | " + " | ".join(_iou(results[k]["per_class"][c]) for k in ckpts) + " |"
            for c in classes
        ],
        "| mean | " + " | ".join(_iou(results[k]["mean_iou"]) for k in ckpts) + " |",
        "",
    ]
    if figure is not None:
        lines += dataset_figure_lines(
            figure,
            data,
            "Image, semantic thing pixels, predicted instances"
            + (f" (of {labels[-1]})" if len(ckpts) > 1 else ""),
        )
    write_text_atomic(md, "\n".join(lines))
    return md
