"""FP32 vs QAT vs static PTQ vs dynamic PTQ, measured in one run: the field study's tables.

:func:`compare_modes` takes trained semantic-segmentation checkpoints and, for each one,

1. makes the four variants: the FP32 ONNX export, QAT (fake-quant fine-tuning through the
   trainer, QDQ export), static PTQ (calibrated QDQ) and dynamic PTQ — each with the
   project's own tools (:func:`~edgevision.quantize.ptq.quantize_model`,
   :func:`~edgevision.quantize.qat.quantize_qat`), written under ``work/LABEL/``;
2. measures all four with :func:`~edgevision.bench.harness.benchmark_many`: fresh processes,
   alternating blocks (so a drift of the machine hits every variant alike), peak RSS of
   the worker, file size, and mIoU on the evaluation split through the ONNX Runtime path;
3. writes the field study's Table 2 (mIoU / size / FPS per mode) and Table 3 (mIoU change /
   size decrease / peak-RAM decrease vs FP32) to a markdown page with a PNG of mIoU vs FPS.

Variants are cached: a variant file is reused when ``work/LABEL/variants.json`` says it was
made from the same checkpoint (SHA-256) with the same options, so an interrupted compare
re-runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevision.errors import ConfigError, ModelFileError
from edgevision.io import file_sha256
from edgevision.quantize.config import PTQ_GRAPH_REVISION, QAT_EXPORT_REVISION

__all__ = [
    "MODES",
    "CompareOptions",
    "ModelComparison",
    "calibration_sweep",
    "compare_modes",
    "write_page",
    "write_sweep_page",
]

MODES: tuple[str, ...] = ("fp32", "qat", "static", "dynamic")
"""Variants in table order: FP32 reference, QAT, static PTQ, dynamic PTQ."""

MODE_TITLES = {
    "fp32": "FP32",
    "qat": "QAT",
    "static": "static PTQ",
    "dynamic": "dynamic PTQ",
}


@dataclass
class CompareOptions:
    """What :func:`compare_modes` does.

    Attributes:
        modes: variants to make and measure (subset of :data:`MODES`; ``fp32`` is always
            included, as the reference).
        method: calibration method of static PTQ (``minmax``, ``entropy``, ``percentile``).
        calib_size: calibration images for static PTQ (from ``calib_split``).
        calib_split: split the calibration (and QAT) images come from.
        qat_epochs: QAT fine-tuning epochs.
        qat_lr: QAT learning rate.
        qat_schedule: QAT LR schedule (``constant`` or ``cosine``).
        qat_freeze_observers: freeze the QAT observers after this many epochs (0: never).
        qat_batch_size: QAT images per step.
        qat_crop: QAT training crop ``(H, W)`` (``None``: the model's input size).
        split: split the mIoU is measured on.
        eval_images: cap on evaluation images (0: the whole split).
        threads: intra-op threads for timing and evaluation.
        runs: timed runs per variant (spread over ``blocks``).
        blocks: alternation rounds.
        warmup: untimed runs at the start of every block.
        reference: also time each checkpoint end to end "the usual way" (torch eager FP32,
            logits upsampled then argmax; :mod:`edgevision.bench.seg_reference`), the speed
            reference of the end-to-end table.
    """

    modes: tuple[str, ...] = MODES
    method: str = "minmax"
    calib_size: int = 100
    calib_split: str = "train"
    qat_epochs: int = 1
    qat_lr: float = 1e-3
    qat_schedule: str = "constant"
    qat_freeze_observers: int = 0
    qat_batch_size: int = 8
    qat_crop: tuple[int, int] | None = None
    split: str = "val"
    eval_images: int = 0
    threads: int = 2
    runs: int = 30
    blocks: int = 3
    warmup: int = 5
    reference: bool = True

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ConfigError(
                f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}"
            )
        self.modes = tuple(m for m in MODES if m in self.modes or m == "fp32")
        for name in ("calib_size", "qat_epochs", "qat_batch_size", "threads", "runs", "blocks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_images < 0 or self.warmup < 0 or self.qat_lr <= 0:
            raise ConfigError("eval_images and warmup must be >= 0 and qat_lr > 0")

    def recipe(self, mode: str) -> dict[str, Any]:
        """The options that decide the file a mode produces (the cache key besides the
        checkpoint)."""
        if mode == "static":
            return {
                "method": self.method,
                "calib_size": self.calib_size,
                "split": self.calib_split,
                "graph_revision": PTQ_GRAPH_REVISION,
            }
        if mode == "dynamic":
            return {"graph_revision": PTQ_GRAPH_REVISION}
        if mode == "qat":
            return {
                "epochs": self.qat_epochs,
                "lr": self.qat_lr,
                "batch_size": self.qat_batch_size,
                **(
                    {"schedule": self.qat_schedule, "freeze_observers": self.qat_freeze_observers}
                    if (self.qat_schedule, self.qat_freeze_observers) != ("constant", 0)
                    else {}
                ),
                "crop": list(self.qat_crop) if self.qat_crop else None,
                "split": self.calib_split,
                "export_revision": QAT_EXPORT_REVISION,
            }
        return {}


@dataclass
class ModelComparison:
    """The measured variants of one checkpoint.

    Attributes:
        label: display name (checkpoint stem, or its folder for ``best``/``last``).
        checkpoint: the checkpoint compared.
        model: registry name of the architecture.
        results: mode -> :class:`~edgevision.bench.harness.BenchResult` dict.
        records: mode -> quantization record (QuantResult dict; ``{}`` for FP32).
        reference: the torch eager "usual way" BenchResult dict (``None``: not measured).
    """

    label: str
    checkpoint: str
    model: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: dict[str, Any] | None = None

    def miou(self, mode: str) -> float | None:
        v = (self.results.get(mode) or {}).get("metrics", {}).get("miou")
        return None if v is None else float(v)


def checkpoint_label(path: str | os.PathLike[str]) -> str:
    """``runs/ddr/best.pt`` -> ``ddr``; ``weights/x/x.safetensors`` -> ``x``."""
    p = Path(path)
    return p.parent.name if p.stem in ("best", "last") and p.parent.name else p.stem


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_variants(
    ckpt: Path,
    folder: Path,
    data: Path,
    opts: CompareOptions,
    *,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[dict[str, Path], dict[str, dict[str, Any]], str]:
    """Make (or reuse) the variant files of one checkpoint; returns paths, records, model."""
    from edgevision.export import export_onnx
    from edgevision.export.metadata import read_spec
    from edgevision.io import write_json_atomic
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.ptq import quantize_model
    from edgevision.quantize.qat import QATConfig, quantize_qat

    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "variants.json"
    manifest = _read_manifest(manifest_path)
    digest = file_sha256(ckpt)
    paths: dict[str, Path] = {}
    records: dict[str, dict[str, Any]] = {}
    for mode in opts.modes:
        out = folder / f"{mode}.onnx"
        key = {
            "checkpoint_sha256": digest,
            "data": str(data.resolve()),
            "recipe": opts.recipe(mode),
        }
        entry = manifest.get(mode) or {}
        if out.is_file() and entry.get("key") == key:
            log(f"{folder.name}: {mode} reused ({out})")
            paths[mode], records[mode] = out, entry.get("record", {})
            continue
        log(f"{folder.name}: making {MODE_TITLES[mode]} -> {out}")
        record: dict[str, Any] = {}
        if mode == "fp32":
            export_onnx(str(ckpt), out)
        elif mode == "static":
            res = quantize_model(
                ckpt,
                out,
                QuantConfig(
                    mode="static",
                    method=opts.method,  # type: ignore[arg-type]
                    calib_size=opts.calib_size,
                    calib_split=opts.calib_split,
                ),
                calib_data=data,
                measure=False,
                progress=progress,
            )
            record = res.to_dict()
        elif mode == "dynamic":
            res = quantize_model(
                ckpt,
                out,
                QuantConfig(
                    mode="dynamic", calib_size=opts.calib_size, calib_split=opts.calib_split
                ),
                calib_data=data,
                measure=False,
                progress=progress,
            )
            record = res.to_dict()
        else:  # qat
            res = quantize_qat(
                ckpt,
                out,
                data,
                qat=QATConfig(
                    epochs=opts.qat_epochs,
                    lr=opts.qat_lr,
                    schedule=opts.qat_schedule,  # type: ignore[arg-type]
                    freeze_observers=opts.qat_freeze_observers,
                    batch_size=opts.qat_batch_size,
                    crop=opts.qat_crop,
                    split=opts.calib_split,
                ),
                progress=progress,
            )
            record = res.to_dict()
        paths[mode], records[mode] = out, record
        manifest[mode] = {"key": key, "record": record}
        write_json_atomic(manifest_path, manifest)  # after each variant: resumable
    return paths, records, read_spec(paths["fp32"]).name


def compare_modes(
    checkpoints: Sequence[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    *,
    work: str | os.PathLike[str] = "runs/compare",
    options: CompareOptions | None = None,
    progress: bool = True,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> list[ModelComparison]:
    """Make and measure FP32 / QAT / static PTQ / dynamic PTQ for each checkpoint.

    Args:
        checkpoints: trained semantic-segmentation checkpoints (``.pt``/``.safetensors``).
        data: dataset folder (edgevision layout): calibration and QAT images come from
            ``options.calib_split``, mIoU from ``options.split``.
        work: folder for the variant files (``work/LABEL/MODE.onnx``) and their cache
            manifest.
        options: :class:`CompareOptions`.
        progress: progress bars / lines.
        command: command line recorded in the benchmark results.
        log: where one-line status messages go.

    Returns:
        One :class:`ModelComparison` per checkpoint, in the order given.

    Raises:
        ModelFileError: a checkpoint is missing or is not a checkpoint file.
        ConfigError: two checkpoints with the same label, a non-semantic model, bad options.
        DataError: a bad dataset folder (from the readers).
    """
    from edgevision.bench.harness import benchmark_many
    from edgevision.config import BenchConfig
    from edgevision.errors import require_dir

    opts = options or CompareOptions()
    if not checkpoints:
        raise ConfigError("no checkpoints to compare")
    data = Path(data)
    require_dir(data, "dataset folder")
    ckpts = [Path(c) for c in checkpoints]
    for c in ckpts:
        if not c.is_file():
            raise ModelFileError(f"checkpoint not found: {c}")
        if c.suffix.lower() not in (".pt", ".pth", ".safetensors"):
            raise ModelFileError(
                f"{c}: not a checkpoint (.pt/.safetensors); compare starts from one"
            )
    labels = [checkpoint_label(c) for c in ckpts]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"two checkpoints share the label {dup[0]!r}; give them distinct names")

    out: list[ModelComparison] = []
    for ckpt, label in zip(ckpts, labels):
        paths, records, model = _make_variants(
            ckpt, Path(work) / label, data, opts, progress=progress, log=log
        )
        cfg = BenchConfig(
            threads=opts.threads,
            runs=opts.runs,
            warmup=opts.warmup,
            data=str(data),
            split=opts.split,
            max_images=opts.eval_images,
        )
        log(f"{label}: measuring {', '.join(paths)} alternately ({opts.blocks} blocks)")
        results = benchmark_many(
            [str(paths[m]) for m in paths],
            cfg,
            blocks=opts.blocks,
            progress=progress,
            command=command,
        )
        task = results[0].task
        if task != "semantic":
            raise ConfigError(f"{ckpt}: compare is for semantic segmentation, got task {task!r}")
        reference = None
        if opts.reference:
            log(f"{label}: timing the torch eager reference (logits upsampled, then argmax)")
            ref_cfg = dataclasses.replace(
                cfg, backend="torch", semantic_reference=True, data=None, max_images=0
            )
            reference = benchmark_many(
                [str(ckpt)],
                ref_cfg,
                blocks=opts.blocks,
                progress=progress,
                flops=False,
                command=command,
            )[0].to_dict()
        out.append(
            ModelComparison(
                label=label,
                checkpoint=str(ckpt),
                model=model,
                results={m: r.to_dict() for m, r in zip(paths, results)},
                records=records,
                reference=reference,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------
def _f(v: float | None, nd: int = 2, suffix: str = "") -> str:
    return "-" if v is None else f"{v:.{nd}f}{suffix}"


def _pct_less(new: float | None, ref: float | None) -> float | None:
    if new is None or ref is None or ref == 0:
        return None
    return 100.0 * (1.0 - new / ref)


def model_rss(r: dict[str, Any]) -> float | None:
    """Peak RSS above the worker's baseline after importing the runtime (MiB): the memory
    the model itself takes (weights, pre-packed weights, arena, activations)."""
    base = (r.get("meta") or {}).get("rss_baseline_mb")
    peak = r.get("peak_rss_mb")
    return None if base is None or peak is None else float(peak) - float(base)


def table2(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of Table 2: mIoU / size / FPS for every model and mode."""
    lines = [
        "| model | mode | mIoU | size (MB) | FPS | p50 ms | peak RSS (MiB) | model RSS (MiB) |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comps:
        for mode, r in c.results.items():
            miou = c.miou(mode)
            lines.append(
                f"| {c.label} | {MODE_TITLES[mode]} | {_f(None if miou is None else 100 * miou)}"
                f" | {_f(r.get('size_mb'))} | {_f(r.get('fps'), 1)}"
                f" | {_f(r['latency_ms'].get('p50'))} | {_f(r.get('peak_rss_mb'), 0)}"
                f" | {_f(model_rss(r), 0)} |"
            )
    return lines


def table3(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of Table 3: changes vs FP32 (mIoU pts, size %, peak RAM %, speed)."""
    lines = [
        "| model | mode | mIoU change (pts) | size decrease | peak-RAM decrease | model-RAM decrease | speed-up |",
        "|:---|:---|---:|---:|---:|---:|---:|",
    ]
    for c in comps:
        ref = c.results["fp32"]
        ref_miou = c.miou("fp32")
        for mode, r in c.results.items():
            if mode == "fp32":
                continue
            miou = c.miou(mode)
            d = None if miou is None or ref_miou is None else 100 * (miou - ref_miou)
            speed = ref["latency_ms"]["p50"] / r["latency_ms"]["p50"]
            lines.append(
                f"| {c.label} | {MODE_TITLES[mode]} | {_f(d, 2)}"
                f" | {_f(_pct_less(r.get('size_mb'), ref.get('size_mb')), 1, ' %')}"
                f" | {_f(_pct_less(r.get('peak_rss_mb'), ref.get('peak_rss_mb')), 1, ' %')}"
                f" | {_f(_pct_less(model_rss(r), model_rss(ref)), 1, ' %')}"
                f" | {speed:.2f}× |"
            )
    return lines


def table_e2e(comps: Sequence[ModelComparison]) -> list[str]:
    """End to end (pre-process, inference, label map at the image size; p50 ms) of each
    variant next to the torch eager reference, and the speed-up over it."""
    rows = [c for c in comps if c.reference and c.reference.get("stages_ms")]
    if not rows:
        return []
    lines = [
        "| model | path | pre / inf / label map ms | end to end p50 ms | speed-up vs reference |",
        "|:---|:---|---:|---:|---:|",
    ]
    for c in rows:
        ref = c.reference["stages_ms"]  # type: ignore[index]
        entries = [("reference: torch eager FP32, logits upsampled then argmax", ref)]
        entries += [
            (f"ours: ONNX Runtime {MODE_TITLES[m]}", r["stages_ms"])
            for m, r in c.results.items()
            if r.get("stages_ms")
        ]
        for name, st in entries:
            speed = ref["total"] / st["total"] if st.get("total") else None
            lines.append(
                f"| {c.label} | {name} | {_f(st.get('preprocess'), 1)} / "
                f"{_f(st.get('inference'), 1)} / {_f(st.get('postprocess'), 1)} | "
                f"{_f(st.get('total'))} | {_f(speed, 2, '×')} |"
            )
    return lines


def plot_page(comps: Sequence[ModelComparison], path: str | os.PathLike[str]) -> Path:
    """PNG: mIoU vs FPS, one colour per model, one marker per mode."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from edgevision.io import atomic_path

    markers = {"fp32": "o", "qat": "s", "static": "^", "dynamic": "v"}
    fig = Figure(figsize=(8, 5.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours = [f"C{i % 10}" for i in range(len(comps))]
    for c, col in zip(comps, colours):
        xs, ys = [], []
        for mode, r in c.results.items():
            miou = c.miou(mode)
            if miou is None:
                continue
            xs.append(r["fps"])
            ys.append(100 * miou)
            ax.scatter([r["fps"]], [100 * miou], marker=markers[mode], color=col, s=50, zorder=3)
        ax.plot(xs, ys, color=col, alpha=0.3, zorder=2, label=c.label)
    for mode, mk in markers.items():  # marker legend
        ax.scatter([], [], marker=mk, color="grey", label=MODE_TITLES[mode])
    ax.set_xlabel("FPS (ONNX Runtime, engine.run; higher is better)")
    ax.set_ylabel("mIoU, % (higher is better)")
    ax.set_title("FP32 vs QAT vs static / dynamic PTQ")
    ax.grid(True, alpha=0.3, zorder=0)
    ax.legend(fontsize=8, loc="best")
    fig.text(0.01, 0.01, f"measured on {platform.machine()} / {platform.system()}", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def write_page(
    comps: Sequence[ModelComparison],
    md: str | os.PathLike[str],
    *,
    options: CompareOptions,
    command: str,
    plot: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the markdown page (and the PNG, default ``md`` with ``.png``) atomically."""
    from edgevision.bench.report import provenance
    from edgevision.io import write_text_atomic

    md = Path(md)
    png = Path(plot) if plot is not None else md.with_suffix(".png")
    plot_page(comps, png)
    all_results = [r for c in comps for r in c.results.values()]
    o = dataclasses.asdict(options)
    lines = [
        "# Quantization: FP32 vs QAT vs static PTQ vs dynamic PTQ (generated)",
        "",
        f"Written by `{command}` — do not edit by hand.",
        "",
        provenance(all_results, markdown=True).replace("\n", "\n\n"),
        "",
        "How each variant was made: static PTQ = ONNX Runtime QDQ, "
        f"{o['method']} calibration on {o['calib_size']} `{o['calib_split']}` images, U8 "
        "activations + S8 per-channel weights; dynamic PTQ = ONNX Runtime dynamic "
        "quantization (INT8 weights, activations quantized at run time); QAT = "
        f"{o['qat_epochs']} epoch(s) of fake-quant fine-tuning (lr {o['qat_lr']}"
        + (
            f" {o.get('qat_schedule', 'constant')}"
            + (
                f", observers frozen after epoch {o['qat_freeze_observers']}"
                if o.get("qat_freeze_observers")
                else ""
            )
        )
        + f", batch {o['qat_batch_size']}) on `{o['calib_split']}`, exported as QDQ. mIoU on the "
        f"`{o['split']}` split"
        + (f" (first {o['eval_images']} images)" if o["eval_images"] else "")
        + " through the ONNX Runtime path (resize, engine, argmax, labels upsampled). FPS = "
        "1000 / mean `engine.run` latency at batch 1. Sizes are ONNX file sizes.",
        "",
        "## Table 2: mIoU, model size and FPS",
        "",
        *table2(comps),
        "",
        "## Table 3: change vs FP32",
        "",
        "Positive decreases are savings; mIoU change is in percentage points. *Peak RSS* is "
        "the whole benchmark process (Python, NumPy and ONNX Runtime included); *model RSS* "
        "is the peak above that process's RSS after importing ONNX Runtime and before "
        "loading the model, i.e. what the model itself takes.",
        "",
        *table3(comps),
        "",
        f"![mIoU vs FPS]({png.name})",
        "",
    ]
    e2e = table_e2e(comps)
    if e2e:
        lines += [
            "## End to end vs the usual way",
            "",
            "p50 of the end-to-end path on a random image at the input size (decode "
            "excluded): pre-process, inference, label map at the image size. *Reference* is "
            "the same checkpoint run the usual way in one process per block: torch eager "
            "FP32, all logit channels upsampled bilinearly to the image size, then argmax "
            "(`edgevision.bench.seg_reference`); ours take the argmax at the network's output "
            "resolution and upsample the labels. The reference's blocks run after the "
            "variants' in the same run.",
            "",
            *e2e,
            "",
        ]
    warnings = []
    for c in comps:
        for mode, r in c.results.items():
            if mode != "fp32" and r["latency_ms"]["p50"] >= c.results["fp32"]["latency_ms"]["p50"]:
                warnings.append(
                    f"- {c.label}: {MODE_TITLES[mode]} is slower than FP32 here "
                    f"({r['latency_ms']['p50']:.1f} vs "
                    f"{c.results['fp32']['latency_ms']['p50']:.1f} ms p50)."
                )
    if warnings:
        lines += ["## Slower than FP32", "", *warnings, ""]
    write_text_atomic(md, "\n".join(lines))
    return md


# --------------------------------------------------------------------------------------------
# Calibration sweep: how many images, which method
# --------------------------------------------------------------------------------------------
def calibration_sweep(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    sizes: Sequence[int] = (4, 16, 64, 200),
    methods: Sequence[str] = ("minmax", "entropy", "percentile"),
    calib_split: str = "train",
    split: str = "val",
    eval_images: int = 0,
    threads: int = 2,
    work: str | os.PathLike[str] = "runs/calibration",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Static PTQ of one checkpoint for every (method, calibration size); mIoU of each.

    Calibration images are evenly spaced over ``calib_split`` (sizes above the split's size
    are capped, and said so). Each model is scored on ``split`` through the ONNX Runtime
    path, like ``edgevision eval``. Files are kept under ``work`` and reused when the
    checkpoint is unchanged.

    Returns:
        ``{"checkpoint", "fp32_miou", "rows": [{"method", "calib_size", "miou", "drop",
        "seconds"}], "calib_images_available"}`` (mIoU in %, drop in points).
    """
    import time

    from edgevision.data.semantic import SemanticFolder
    from edgevision.evaluate import evaluate
    from edgevision.export import export_onnx
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.ptq import quantize_model
    from edgevision.runtime import Predictor, load_engine

    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise ModelFileError(f"checkpoint not found: {ckpt}")
    bad = [m for m in methods if m not in ("minmax", "entropy", "percentile")]
    if bad or not methods:
        raise ConfigError(f"unknown calibration method(s) {bad}; use minmax, entropy, percentile")
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"calibration sizes must be >= 1, got {list(sizes)}")
    available = len(SemanticFolder(data, calib_split))
    folder = Path(work) / checkpoint_label(ckpt)
    folder.mkdir(parents=True, exist_ok=True)
    digest = file_sha256(ckpt)
    manifest_path = folder / "sweep.json"
    cache = _read_manifest(manifest_path)
    cache_key = {
        "checkpoint_sha256": digest,
        "data": str(Path(data).resolve()),
        "split": split,
        "eval_images": eval_images,
    }
    if {k: cache.get(k) for k in cache_key} != cache_key:
        cache = {**cache_key, "scores": {}}

    def score(path: Path) -> float:
        rep = evaluate(
            Predictor(load_engine(path, threads=threads)),
            data,
            split,
            max_images=eval_images,
            progress=False,
        )
        return 100.0 * float(rep.headline or 0.0)

    from edgevision.io import write_json_atomic

    scores: dict[str, Any] = cache["scores"]
    if "fp32" not in scores:
        fp32 = folder / "fp32.onnx"
        export_onnx(str(ckpt), fp32)
        scores["fp32"] = {"miou": score(fp32)}
        write_json_atomic(manifest_path, cache)
    rows = []
    for method in methods:
        for size in sorted(set(min(s, available) for s in sizes)):
            key = f"{method}:{size}:{calib_split}"
            if key not in scores:
                log(f"static PTQ, {method}, {size} calibration images ...")
                t0 = time.perf_counter()
                out = folder / f"{method}_{size}.onnx"
                quantize_model(
                    ckpt,
                    out,
                    QuantConfig(
                        mode="static",
                        method=method,  # type: ignore[arg-type]
                        calib_size=size,
                        calib_split=calib_split,
                    ),
                    calib_data=data,
                    measure=False,
                    check_images=0,
                    progress=False,
                )
                seconds = time.perf_counter() - t0
                scores[key] = {"miou": score(out), "seconds": seconds}
                write_json_atomic(manifest_path, cache)
            s = scores[key]
            rows.append(
                {
                    "method": method,
                    "calib_size": size,
                    "miou": s["miou"],
                    "drop": scores["fp32"]["miou"] - s["miou"],
                    "seconds": s["seconds"],
                }
            )
    return {
        "checkpoint": str(ckpt),
        "fp32_miou": scores["fp32"]["miou"],
        "rows": rows,
        "calib_images_available": available,
        "requested_sizes": list(sizes),
    }


def write_sweep_page(
    sweep: dict[str, Any], md: str | os.PathLike[str], *, command: str
) -> list[Path]:
    """Markdown table (method x calibration size -> mIoU drop) and a PNG next to it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from edgevision.io import atomic_path, write_text_atomic

    md = Path(md)
    png = md.with_suffix(".png")
    rows = sweep["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    sizes = sorted({r["calib_size"] for r in rows})
    by = {(r["method"], r["calib_size"]): r for r in rows}
    fig = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for m in methods:
        xs = [s for s in sizes if (m, s) in by]
        ax.plot(xs, [by[(m, s)]["drop"] for s in xs], marker="o", label=m)
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="1-point budget")
    ax.set_xscale("log")
    ax.set_xlabel("calibration images")
    ax.set_ylabel("mIoU drop vs FP32 (points; lower is better)")
    ax.set_title(f"static PTQ of {Path(sweep['checkpoint']).name}: calibration size and method")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    capped = [s for s in sweep["requested_sizes"] if s > sweep["calib_images_available"]]
    lines = [
        "# Static PTQ: calibration size and method (generated)",
        "",
        f"Written by `{command}` — do not edit by hand. Machine: {platform.machine()} / "
        f"{platform.system()}.",
        "",
        f"Checkpoint `{sweep['checkpoint']}`; FP32 mIoU {sweep['fp32_miou']:.2f}. Each cell: "
        "mIoU of the static INT8 model (ONNX Runtime QDQ, U8 activations, S8 per-channel "
        "weights) and, in brackets, its drop vs FP32 in points; calibration images evenly "
        "spaced over the training split."
        + (
            f" Sizes {capped} were capped at the {sweep['calib_images_available']} images "
            "the split has."
            if capped
            else ""
        ),
        "",
        "| method | " + " | ".join(f"{s} images" for s in sizes) + " |",
        "|:---|" + "---:|" * len(sizes),
    ]
    for m in methods:
        cells = []
        for s in sizes:
            r = by.get((m, s))
            cells.append("-" if r is None else f"{r['miou']:.2f} ({r['drop']:+.2f})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Calibration time (s, quantization only):", ""]
    lines.append("| method | " + " | ".join(f"{s}" for s in sizes) + " |")
    lines.append("|:---|" + "---:|" * len(sizes))
    for m in methods:
        lines.append(
            f"| {m} | "
            + " | ".join("-" if (m, s) not in by else f"{by[(m, s)]['seconds']:.0f}" for s in sizes)
            + " |"
        )
    lines += ["", f"![mIoU drop vs calibration size]({png.name})", ""]
    write_text_atomic(md, "\n".join(lines))
    return [md, png]
