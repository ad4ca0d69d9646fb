"""Generated result pages for semantic segmentation (``docs/results/segmentation*.md``).

:func:`segmentation_report` benchmarks shipped models side by side in fresh ONNX Runtime
processes (:func:`edgevision.bench.benchmark_many`), scores them on a dataset split through
the same ONNX path, measures this machine's convolution ceiling on its best engine and
precision (:func:`edgevision.bench.ceiling.conv_ceiling`) and writes a markdown table in the shape of
the field study's Table 1, a per-class IoU table, a PNG of mIoU vs latency and a PNG grid of
predictions next to the ground truth.

:func:`ablation_report` puts the per-class IoU of two (or more) models of the same
architecture side by side — e.g. plain cross-entropy vs the class-balanced loss — with the
training-split pixel share of each class, the rarest classes first, and a bar chart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.bench.ceiling import conv_ceiling
from edgevision.bench.report import plot, provenance
from edgevision.errors import ConfigError, DataError, EdgeVisionError
from edgevision.reports.common import DATASET_FIGURES, dataset_figure_lines, save_image_grid
from edgevision.tasks import get_task

__all__ = [
    "ablation_report",
    "held_out_status",
    "prediction_grid",
    "segmentation_report",
    "trained_sequences",
]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join(":---" if i < left else "---:" for i in range(len(header))) + "|")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _f(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{float(v):.{nd}f}"


def _pct(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{100 * float(v):.{nd}f}"


def _held_cell(v: dict[str, Any] | str) -> str:
    return _pct(v.get("miou"), 2) if isinstance(v, dict) else f"– ({v})"


def _grid_indices(n_total: int, n: int) -> list[int]:
    if n_total <= 0 or n <= 0:
        return []
    n = min(n, n_total)
    return sorted({int(round(i * (n_total - 1) / max(n - 1, 1))) for i in range(n)})


def prediction_grid(
    weights: Sequence[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    split: str = "val",
    images: int = 4,
    labels: Sequence[str] | None = None,
    threads: int = 2,
) -> Path:
    """PNG grid: one row per image (evenly spaced over the split), columns image | ground
    truth | each model's prediction, coloured with the shared class palette.

    Args:
        weights: model files (checkpoints or ONNX) of semantic models with the same classes.
        data: dataset folder (edgevision semantic layout).
        path: output ``.png``.
        split: split to draw images from.
        images: number of rows.
        labels: column titles for the models (default: file stems).
        threads: inference threads.

    Returns:
        The path written.
    """
    from edgevision.data.semantic import SemanticFolder
    from edgevision.results import SemanticMask
    from edgevision.runtime import Predictor, load_engine

    folder = SemanticFolder(data, split)
    idx = _grid_indices(len(folder), images)
    if not idx:
        raise DataError(f"{data}: split {split!r} has no images to draw")
    preds = [Predictor(load_engine(w, threads=threads)) for w in weights]
    names = list(labels) if labels else [Path(w).stem for w in weights]
    rows = []
    for r, i in enumerate(idx):
        s = folder[i]
        gt = SemanticMask(
            s.mask.astype(np.int32),
            class_names=folder.class_names,
            ignore_index=folder.ignore_index,
        )
        panels = [s.image, gt.colorize()] + [p(s.image).colorize() for p in preds]
        titles = [s.name, "ground truth", *names]
        # titles on the first row and column only
        rows.append(
            [
                (img, t if r == 0 or c == 0 else None)
                for c, (img, t) in enumerate(zip(panels, titles))
            ]
        )
    return save_image_grid(rows, path, cell=(2.6, 2.0), pad=0.4)


def trained_sequences(weights: str | os.PathLike[str]) -> dict[str, int] | None:
    """The street sequences a model was trained on (images per sequence), or ``None``
    when that is not known: its card (``card.json`` beside a shipped file:
    ``data.train_sequences``), else the training folder and split its spec records
    (``extra.dataset``, ``extra.train_split``) where that folder is on this machine."""
    from edgevision.data.sequences import split_sequences

    w = Path(weights)
    card = w.parent / "card.json"
    if card.is_file():
        try:
            seqs = (json.loads(card.read_text()).get("data") or {}).get("train_sequences")
        except (OSError, ValueError):
            seqs = None
        if isinstance(seqs, dict):
            return {str(k): int(v) for k, v in seqs.items()}
    try:
        if w.suffix.lower() == ".onnx":
            from edgevision.export.metadata import read_spec
        else:
            from edgevision.checkpoint import read_spec  # type: ignore[assignment]

        extra = read_spec(w).extra or {}
        if extra.get("dataset") and extra.get("train_split"):
            return split_sequences(extra["dataset"], str(extra["train_split"]))
    except (EdgeVisionError, OSError):
        pass
    return None


def held_out_status(
    weights: str | os.PathLike[str], data: str | os.PathLike[str], held_out: str
) -> str | None:
    """``None`` when the model never trained on the sequences of ``held_out`` (a split
    selector of ``data``), else why it cannot be scored there (``"trained on 0006R0"``,
    ``"training data unknown"``)."""
    from edgevision.data.sequences import split_sequences

    held = set(split_sequences(data, held_out))
    trained = trained_sequences(weights)
    if trained is None:
        return "training data unknown"
    shared = sorted(held & set(trained))
    if shared:
        return f"trained on {', '.join(shared)}"
    selected = _selected_sequences(weights)
    if selected is None:
        return "selection data unknown"
    shared = sorted(held & selected)
    return f"checkpoint selected on {', '.join(shared)}" if shared else None


def _selected_sequences(weights: str | os.PathLike[str]) -> set[str] | None:
    """Sequences the checkpoint was chosen on: none for the last checkpoint of a fixed
    schedule (card ``training.checkpoint == "last"``) or a run without validation, else
    those of the run's validation split in its training folder (``None`` when that cannot
    be read here)."""
    from edgevision.data.sequences import split_sequences

    card = Path(weights).parent / "card.json"
    try:
        training = json.loads(card.read_text()).get("training") or {}
    except (OSError, ValueError):
        return None
    if training.get("checkpoint") == "last":
        return set()
    cfg = training.get("config") or {}
    if not cfg.get("val_split"):
        return set()
    try:
        return set(split_sequences(cfg["data"], str(cfg["val_split"])))
    except (EdgeVisionError, OSError, KeyError, TypeError):
        return None


def segmentation_report(
    weights: Sequence[str | os.PathLike[str]],
    *,
    data: str | os.PathLike[str],
    split: str = "val",
    held_out: str | None = None,
    out: str | os.PathLike[str] = "docs/results/segmentation.md",
    input_size: tuple[int, int] = (360, 480),
    threads: int = 2,
    runs: int = 50,
    warmup: int = 10,
    blocks: int = 5,
    grid: int = 4,
    figures: str | os.PathLike[str] = DATASET_FIGURES,
    command: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Benchmark and score semantic models; write the markdown page and its two PNGs.

    Args:
        weights: shipped model files (``weights/NAME/NAME.safetensors``) or ONNX files.
        data: dataset folder scored (its ``split``) and drawn from for the grid.
        split: split scored.
        held_out: a split selector of whole street sequences (``train:0006R0``): each model
            that never trained on them (:func:`held_out_status`) is also scored there, in
            its own column and per-class table; the others show why not.
        out: markdown path; the plot goes next to it (``STEM_miou_latency.png``).
        input_size: ``(H, W)`` of the timed input.
        threads: intra-op threads.
        runs: timed runs per model (split over ``blocks`` fresh processes, alternated).
        warmup: untimed runs per block.
        blocks: alternation rounds.
        grid: rows of the prediction grid (0: no grid).
        figures: folder of the prediction grid (``STEM_predictions.png``): it shows the
            dataset's images and labels, so it goes outside ``docs/`` (default: the
            git-ignored :data:`~edgevision.reports.common.DATASET_FIGURES`) and the page
            names it.
        command: the command line to quote as the writer of the page.
        progress: progress bars.

    Returns:
        The files written (markdown first).
    """
    from edgevision.bench import benchmark_many
    from edgevision.config import BenchConfig
    from edgevision.io import write_text_atomic

    if not weights:
        raise ConfigError("no models to report (give shipped weights files)")
    cfg = BenchConfig(
        threads=threads,
        input_size=input_size,
        runs=runs,
        warmup=warmup,
        data=str(data),
        split=split,
    )
    results = benchmark_many(
        [str(w) for w in weights], cfg, blocks=blocks, progress=progress, command=command
    )
    for r in results:
        if not get_task(r.task).dense:
            raise ConfigError(f"{r.target}: not a semantic segmentation model ({r.task})")
    held: dict[str, dict[str, Any] | str] = {}
    if held_out:
        from edgevision.evaluate import evaluate
        from edgevision.runtime import Predictor, load_fast_engine

        for wfile, r in zip(weights, results):
            why = held_out_status(wfile, data, held_out)
            # the path of the split column: ONNX Runtime FP32 at the timed input size
            held[r.label] = (
                why
                or evaluate(
                    Predictor(
                        load_fast_engine(wfile, backend="onnxruntime", threads=threads),
                        input_size=input_size,
                    ),
                    data,
                    held_out,
                    progress=False,
                ).metrics
            )
    ceiling = conv_ceiling(threads)
    md = Path(out)
    stem = md.with_suffix("")
    written: list[Path] = []

    h, w = input_size
    header = [
        "model",
        "params (M)",
        f"GFLOPs @{h}×{w}",
        "ONNX (MB)",
        "p50 (ms)",
        "FPS",
        "end-to-end p50 (ms)",
        "GFLOP/s (% of ceiling)",
        "peak RSS (MB)",
        f"{split} mIoU (%)",
        *([f"held-out `{held_out}` mIoU (%)"] if held_out else []),
    ]
    rows = []
    for r in results:
        p50 = r.latency_ms.get("p50")
        gfs = (r.gflops / (p50 / 1000)) if (r.gflops and p50) else None
        share = f"{gfs:.0f} ({100 * gfs / ceiling.gops_per_s:.0f}%)" if gfs else "–"
        total = (r.stages_ms or {}).get("total")
        rows.append(
            [
                f"`{r.label}` ({r.model})",
                _f((r.params or 0) / 1e6, 2),
                _f(r.gflops, 2),
                _f(r.size_mb, 1),
                _f(p50, 1),
                _f(r.fps, 1),
                _f(total, 1),
                share,
                _f(r.peak_rss_mb, 0),
                _pct(r.metrics.get("miou"), 2),
                *([_held_cell(held[r.label])] if held_out else []),
            ]
        )
    classes: list[str] = []
    for r in results:
        for k in r.metrics.get("per_class_iou") or {}:
            if k not in classes:
                classes.append(k)
    pc_rows = [
        [c] + [_pct((r.metrics.get("per_class_iou") or {}).get(c)) for r in results]
        for c in classes
    ]
    lines = [
        "# Semantic segmentation: accuracy, speed and size",
        "",
        provenance(results, markdown=True).replace("\n", "\n\n"),
        "",
        f"Ceiling: the best throughput any engine and precision of this machine reached on "
        f"plain 3×3 convolutions in the same session: {ceiling.summary()}. A model's GFLOP/s "
        "= its GFLOPs / p50 latency (ONNX Runtime FP32), its % is of that ceiling.",
        "",
        f"mIoU: {split} split of `{data}`, scored through the same ONNX Runtime FP32 path "
        "(labels upsampled from the network's output, void ignored).",
        "",
        *_md_table(header, rows),
        "",
        *_native_size_lines(weights, [r.label for r in results], input_size),
        f"## Per-class IoU ({split}, %)",
        "",
        *_md_table(["class", *[f"`{r.label}`" for r in results]], pc_rows),
        "",
    ]
    scored = {k: v for k, v in held.items() if isinstance(v, dict)}
    if held_out:
        at = lines.index(f"## Per-class IoU ({split}, %)")
        lines[at:at] = [
            f"Held-out: split `{held_out}` of `{data}`, whole street sequences; scored only "
            "for models whose training data is known (their card's `train_sequences`) and "
            "shares none of them. A model that trained on them shows why it is not scored.",
            "",
        ]
    if scored:
        lines += [
            f"## Per-class IoU (held-out `{held_out}`, %)",
            "",
            *_md_table(
                ["class", *[f"`{k}`" for k in scored]],
                [
                    [c] + [_pct((m.get("per_class_iou") or {}).get(c)) for m in scored.values()]
                    for c in classes
                ],
            ),
            "",
        ]
    png = plot(results, f"{stem}_miou_latency.png")
    lines += [f"![mIoU vs latency]({png.name})", ""]
    written.append(png)
    if grid > 0:
        Path(figures).mkdir(parents=True, exist_ok=True)
        g = prediction_grid(
            weights,
            data,
            Path(figures) / f"{Path(stem).name}_predictions.png",
            split=split,
            images=grid,
            labels=[r.label for r in results],
            threads=threads,
        )
        lines += dataset_figure_lines(g, data, "Predictions next to the ground truth")
        written.append(g)
    write_text_atomic(md, "\n".join(lines))
    return [md, *written]


def _native_size_lines(
    weights: Sequence[str | os.PathLike[str]], labels: Sequence[str], input_size: tuple[int, int]
) -> list[str]:
    """A note for each shipped model whose card was measured at another input size.

    The table times and scores every model at one ``input_size`` so the rows compare; a
    model trained and selected at a smaller input scores differently there, and its card
    (``card.json`` next to the weights, written by ``edgevision ship``) holds the number at
    its own size, which ``edgevision eval`` reproduces.
    """
    h, w = input_size
    notes = []
    for weight, label in zip(weights, labels, strict=True):
        card_path = Path(weight).parent / "card.json"
        if not card_path.is_file():
            continue
        try:
            card = json.loads(card_path.read_text())
            native = tuple(int(v) for v in card["input_size"])
            miou = card["metrics"]["miou"]
        except (ValueError, KeyError, TypeError):
            continue
        if native != (h, w):
            notes.append(
                f"`{label}` was trained and selected at {native[0]}×{native[1]} (its spec input, "
                f"what `edgevision eval` and the runtime use): card mIoU {100 * miou:.2f} at that "
                f"size; the row above is the same weights at {h}×{w}."
            )
    if not notes:
        return []
    return [" ".join(notes), ""]


def _train_config(weights: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The training configuration of a model file: a run checkpoint's ``train_config``, or
    the ``train_config.yaml`` shipped next to a weights file."""
    from edgevision.checkpoint import load_checkpoint

    w = Path(weights)
    try:
        cfg = load_checkpoint(w)[2].get("train_config")
    except Exception:
        cfg = None
    if cfg:
        return dict(cfg)
    y = w.parent / "train_config.yaml"
    if y.is_file():
        import yaml

        loaded = yaml.safe_load(y.read_text())
        return dict(loaded) if isinstance(loaded, dict) else None
    return None


_RUN_ONLY = ("out", "data", "device", "workers", "log_every", "resume")


def _schedule_lines(weights: Sequence[str | os.PathLike[str]], labels: Sequence[str]) -> list[str]:
    """What the training configurations share and where they differ (an ablation should
    differ in the studied setting only)."""
    found = [_train_config(w) for w in weights]
    missing = [lb for lb, c in zip(labels, found) if c is None]
    if missing:
        return [f"Training configuration not recorded for {', '.join(missing)}.", ""]
    cfgs = [c for c in found if c is not None]
    keys = sorted({k for c in cfgs for k in c if k not in _RUN_ONLY})
    differ = [k for k in keys if len({repr(c.get(k)) for c in cfgs}) > 1]
    same = {k: cfgs[0].get(k) for k in keys if k not in differ}
    shown = ("model", "epochs", "batch_size", "crop", "lr", "optimizer", "schedule",
             "weight_decay", "warmup_epochs", "ema", "scale_range", "seed")  # fmt: skip
    lines = [
        "Training (from each model's recorded configuration): same "
        + ", ".join(f"{k} {same[k]}" for k in shown if k in same)
        + " and every other setting; they differ in "
        + (
            "; ".join(
                f"`{k}` (" + ", ".join(f"{lb}: {c.get(k)}" for lb, c in zip(labels, cfgs)) + ")"
                for k in differ
            )
            if differ
            else "nothing"
        )
        + ".",
        "",
    ]
    return lines


def ablation_report(
    weights: Sequence[str | os.PathLike[str]],
    *,
    labels: Sequence[str],
    data: str | os.PathLike[str],
    split: str = "val",
    train_split: str = "train",
    out: str | os.PathLike[str] = "docs/results/segmentation_ablation.md",
    rare: Sequence[str] = ("Bicyclist", "Pedestrian", "Pole"),
    threads: int = 2,
    command: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Per-class IoU of models side by side (same classes), rarest training classes first.

    Args:
        weights: model files, e.g. the same architecture trained with CE and with the
            class-balanced loss.
        labels: one short column name per model.
        data: dataset folder; ``split`` is scored, ``train_split`` gives class frequencies.
        split: split scored.
        train_split: split whose pixel counts give each class's share.
        out: markdown path; the bar chart goes next to it (``STEM.png``).
        rare: classes to call out in the summary.
        threads: inference threads.
        command: the command line to quote as the writer of the page.
        progress: progress bars.

    Returns:
        The files written (markdown, PNG).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from edgevision.data.semantic import SemanticFolder, class_pixel_counts
    from edgevision.evaluate import evaluate
    from edgevision.io import atomic_path, write_text_atomic
    from edgevision.runtime import Predictor, load_engine

    if len(weights) < 2 or len(labels) != len(weights):
        raise ConfigError("give at least two models and one label per model")
    reports = []
    for w in weights:
        reports.append(
            evaluate(Predictor(load_engine(w, threads=threads)), data, split, progress=progress)
        )
    per = [r.metrics.get("per_class_iou") or {} for r in reports]
    classes = list(per[0])
    for p, w in zip(per[1:], weights[1:]):
        if list(p) != classes:
            raise DataError(f"{w}: classes differ from {weights[0]}")
    counts = class_pixel_counts(SemanticFolder(data, train_split), progress=progress)
    share = counts / max(int(counts.sum()), 1)
    order = np.argsort(share)
    header = ["class", f"{train_split} pixels (%)", *[f"{lb} IoU" for lb in labels]]
    header.append(f"{labels[-1]} − {labels[0]}")
    rows = []
    for i in order:
        c = classes[i]
        vals = [p.get(c) for p in per]
        delta = (
            _f(100 * (vals[-1] - vals[0]), 1)
            if vals[0] is not None and vals[-1] is not None
            else "–"
        )
        rows.append([c, _f(100 * share[i], 2), *[_pct(v) for v in vals], delta])
    mrow = ["**mIoU**", "", *[f"**{_pct(r.metrics.get('miou'), 2)}**" for r in reports]]
    d = (reports[-1].metrics.get("miou") or 0) - (reports[0].metrics.get("miou") or 0)
    mrow.append(f"**{100 * d:+.2f}**")
    rows.append(mrow)
    rare_txt = []
    for c in rare:
        if c in classes:
            a, b = per[0].get(c), per[-1].get(c)
            if a is not None and b is not None:
                rare_txt.append(f"{c} {100 * a:.1f} → {100 * b:.1f} ({100 * (b - a):+.1f})")
    stem = Path(out).with_suffix("")
    png = Path(f"{stem}.png")
    fig = Figure(figsize=(10, 4.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(classes))
    bw = 0.8 / len(per)
    for k, (p, lb) in enumerate(zip(per, labels)):
        ys = [100 * (p.get(classes[i]) or 0.0) for i in order]
        ax.bar(x + (k - (len(per) - 1) / 2) * bw, ys, bw, label=lb)
    ax.set_xticks(x)
    ax.set_xticklabels([classes[i] for i in order], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(f"{split} IoU (%)")
    ax.set_title(f"Per-class IoU, rarest {train_split} class first")
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        fig.savefig(str(tmp), format="png")
    lines = [
        "# Class-balanced loss ablation",
        "",
        f"Written by `{command}`." if command else "",
        "",
        "Models: " + ", ".join(f"{lb} = `{w}`" for lb, w in zip(labels, weights)) + ".",
        f"IoU on the {split} split of `{data}` ({reports[0].num_images} images, edgevision "
        f"eval path); class share = pixels of each class in the {train_split} split.",
        "",
        *_schedule_lines(weights, labels),
        *_md_table(header, rows),
        "",
        ("Rarest classes: " + "; ".join(rare_txt) + ".") if rare_txt else "",
        "",
        f"![per-class IoU]({png.name})",
        "",
    ]
    md = Path(out)
    write_text_atomic(md, "\n".join(lines))
    return [md, png]
