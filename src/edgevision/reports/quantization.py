"""The quantization pages: ``edgevision compare`` (FP32 vs QAT vs static / dynamic PTQ) and
``edgevision report calibration`` (static PTQ vs calibration size and method).

:func:`write_page` turns the :class:`~edgevision.quantize.compare.ModelComparison` results of
:func:`~edgevision.quantize.compare.compare_modes` into the field study's Table 2 (mIoU /
size / FPS per mode) and Table 3 (mIoU change / size decrease / RAM decrease vs FP32) in the
study's own shape, with the study's numbers (:mod:`edgevision.reports.field_study`) quoted
beside ours; then the detailed measurements, the task metrics of the multi-head models
(panoptic, depth + segmentation), the end-to-end table against the torch eager reference and
a PNG of mIoU vs FPS.
:func:`calibration_sweep` quantizes one checkpoint for every (method, calibration size) and
:func:`write_sweep_page` tabulates the mIoU drops.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgevision.bench.report import provenance
from edgevision.data.semantic import SemanticFolder
from edgevision.errors import ConfigError, ModelFileError
from edgevision.evaluate import evaluate
from edgevision.export import export_onnx
from edgevision.io import atomic_path, file_sha256, write_json_atomic, write_text_atomic
from edgevision.quantize.compare import (
    ENGINE_MODES,
    MODE_TITLES,
    MODES,
    CompareOptions,
    ModelComparison,
    checkpoint_label,
    read_manifest,
)
from edgevision.quantize.config import QuantConfig
from edgevision.quantize.ptq import quantize_model
from edgevision.reports.field_study import CITATION, study_row
from edgevision.runtime import Predictor, load_engine
from edgevision.tasks import get_task

__all__ = [
    "calibration_sweep",
    "model_rss",
    "plot_page",
    "study_table2",
    "study_table3",
    "table2",
    "table3",
    "table_e2e",
    "task_metrics_table",
    "write_page",
    "write_sweep_page",
]


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------
def _f(v: float | None, nd: int = 2, suffix: str = "") -> str:
    return "-" if v is None else f"{v:.{nd}f}{suffix}"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


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


TASK_METRICS: dict[str, tuple[str, int, float]] = {
    "pq": ("PQ", 1, 100.0),
    "sq": ("SQ", 1, 100.0),
    "rq": ("RQ", 1, 100.0),
    "delta1": ("δ<1.25", 1, 100.0),
    "abs_rel": ("AbsRel", 3, 1.0),
    "rmse": ("RMSE (m)", 2, 1.0),
    "scale": ("scale (pred/truth)", 3, 1.0),
}
"""Metrics of the multi-head tasks shown next to mIoU: key -> (title, decimals, scale)."""


def _modes(comps: Sequence[ModelComparison], *, fp32: bool) -> list[str]:
    """Modes measured or skipped for some model, in table order."""
    seen = {m for c in comps for m in (*c.results, *c.skipped)}
    return [m for m in MODES if m in seen and (fp32 or m != "fp32")]


def _changes(c: ModelComparison, mode: str) -> tuple[float | None, float | None, float | None]:
    """``(mIoU change pts, size decrease %, model-RAM decrease %)`` of ``mode`` vs FP32."""
    r, ref = c.results[mode], c.results["fp32"]
    miou, ref_miou = c.miou(mode), c.miou("fp32")
    d = None if miou is None or ref_miou is None else 100 * (miou - ref_miou)
    return (
        d,
        _pct_less(r.get("size_mb"), ref.get("size_mb")),
        _pct_less(model_rss(r), model_rss(ref)),
    )


def _study_tables(
    comps: Sequence[ModelComparison],
    modes: Sequence[str],
    ours: Callable[[ModelComparison, str], str],
    theirs: Callable[[Any, str], str],
) -> list[str]:
    """One row per model (``ours``' cells) and, under each architecture the study has, its
    row (``theirs``' cells, once per architecture)."""
    lines = [
        _row("model", *(MODE_TITLES[m] for m in modes)),
        "|:---|" + "---:|" * len(modes),
    ]
    quoted: set[str] = set()
    for c in comps:
        cells = [
            f"not made: {c.skipped[m]}" if m in c.skipped else ours(c, m) if m in c.results else "-"
            for m in modes
        ]
        lines.append(_row(f"ours: {c.label} (`{c.model}`)", *cells))
        study = study_row(c.model)
        if study is not None and study.name not in quoted:
            quoted.add(study.name)
            lines.append(_row(f"*study: {study.name}*", *(f"*{theirs(study, m)}*" for m in modes)))
    return lines


def study_table2(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of the study's Table 2 shape: per model, ``mIoU / size MB / FPS`` for
    FP32 (the study's Table 1) and each quantization mode, with the study's row beneath."""

    def ours(c: ModelComparison, m: str) -> str:
        miou, r = c.miou(m), c.results[m]
        return (
            f"{_f(None if miou is None else 100 * miou, 1)} / {_f(r.get('size_mb'))} MB / "
            f"{_f(r.get('fps'), 1)}"
        )

    def theirs(study: Any, m: str) -> str:
        if m != "fp32" and m not in study.modes:  # an engine row the study has not
            return "–"
        miou, size, fps = study.fp32 if m == "fp32" else study.modes[m]
        return f"{miou:.1f} / {size:g} MB / {fps:.1f}"

    return _study_tables(comps, _modes(comps, fp32=True), ours, theirs)


def study_table3(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of the study's Table 3 shape: per model and quantization mode, ``mIoU
    change (pts) / size decrease % / RAM decrease %`` vs FP32, with the study's row beneath
    (RAM: the model's own RSS, :func:`model_rss`)."""

    def ours(c: ModelComparison, m: str) -> str:
        d, size, ram = _changes(c, m)
        return f"{_f(d, 1)} / {_f(size, 1)} % / {_f(ram, 0)} %"

    def theirs(study: Any, m: str) -> str:
        if m not in study.changes:  # an engine row the study has not
            return "–"
        d, size, ram = study.changes[m]
        return f"{d:.1f} / {size:g} % / {ram:g} %"

    return _study_tables(comps, _modes(comps, fp32=False), ours, theirs)


def task_metrics_table(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of the multi-head models' own metrics (PQ, depth) per mode; ``[]``
    when no model has any (a semantic model has none)."""
    keys = [
        k
        for k in TASK_METRICS
        if any(k in (r.get("metrics") or {}) for c in comps for r in c.results.values())
    ]
    if not keys:
        return []
    lines = [
        _row("model", "mode", "mIoU", *(TASK_METRICS[k][0] for k in keys)),
        "|:---|:---|" + "---:|" * (len(keys) + 1),
    ]
    for c in comps:
        for mode, r in c.results.items():
            m = r.get("metrics") or {}
            if not any(k in m for k in keys):
                continue
            miou = c.miou(mode)
            cells = [
                _f(None if m.get(k) is None else TASK_METRICS[k][2] * m[k], TASK_METRICS[k][1])
                for k in keys
            ]
            lines.append(
                _row(c.label, MODE_TITLES[mode], _f(None if miou is None else 100 * miou), *cells)
            )
    return lines


def _multi_head_note(comps: Sequence[ModelComparison]) -> str:
    """What "mIoU" means for the models with heads besides the class logits ("" if none)."""
    titles = sorted(
        {get_task(c.task).title for c in comps if c.task and len(get_task(c.task).output_names) > 1}
    )
    if not titles:
        return ""
    return (
        f"For {' and '.join(f'*{t}*' for t in titles)} models, mIoU is the semantic mIoU of the class map "
        "they output (each pixel's class after the task's postprocess: the argmax of the "
        "class logits; after panoptic fusion, the class of the pixel's segment), scored "
        "exactly as a semantic model's; their own metrics are in *Task metrics* below."
    )


def table2(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of the detailed Table 2: mIoU / size / FPS / latency / RSS, one row per
    model and mode (the page's *Every variant, measured*)."""
    lines = [
        "| model | mode | mIoU | size (MB) | FPS | p50 ms | peak RSS (MiB) | model RSS (MiB) |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comps:
        for mode, r in c.results.items():
            miou = c.miou(mode)
            lines.append(
                _row(
                    c.label,
                    MODE_TITLES[mode],
                    _f(None if miou is None else 100 * miou),
                    _f(r.get("size_mb")),
                    _f(r.get("fps"), 1),
                    _f(r["latency_ms"].get("p50")),
                    _f(r.get("peak_rss_mb"), 0),
                    _f(model_rss(r), 0),
                )
            )
    return lines


def table3(comps: Sequence[ModelComparison]) -> list[str]:
    """Markdown rows of the detailed Table 3: changes vs FP32 (mIoU pts, size %, peak and
    model RAM %, speed-up), one row per model and mode (the page's *Change vs FP32, in
    detail*)."""
    lines = [
        "| model | mode | mIoU change (pts) | size decrease | peak-RAM decrease | model-RAM decrease | speed-up |",
        "|:---|:---|---:|---:|---:|---:|---:|",
    ]
    for c in comps:
        ref = c.results["fp32"]
        for mode, r in c.results.items():
            if mode == "fp32":
                continue
            d, size, ram = _changes(c, mode)
            speed = ref["latency_ms"]["p50"] / r["latency_ms"]["p50"]
            peak = _pct_less(r.get("peak_rss_mb"), ref.get("peak_rss_mb"))
            lines.append(
                _row(
                    c.label,
                    MODE_TITLES[mode],
                    _f(d, 2),
                    *(_f(v, 1, " %") for v in (size, peak, ram)),
                    f"{speed:.2f}×",
                )
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
            (f"ours: {_engine_title(m)}", r["stages_ms"])
            for m, r in c.results.items()
            if r.get("stages_ms")
        ]
        for name, st in entries:
            speed = ref["total"] / st["total"] if st.get("total") else None
            stages = " / ".join(
                _f(st.get(k), 1) for k in ("preprocess", "inference", "postprocess")
            )
            lines.append(_row(c.label, name, stages, _f(st.get("total")), _f(speed, 2, "×")))
    return lines


def _engine_title(mode: str) -> str:
    """``"ONNX Runtime static PTQ"``; OpenVINO modes name their engine already."""
    return MODE_TITLES[mode] if mode in ENGINE_MODES else f"ONNX Runtime {MODE_TITLES[mode]}"


def plot_page(comps: Sequence[ModelComparison], path: str | os.PathLike[str]) -> Path:
    """PNG: mIoU vs FPS, one colour per model, one marker per mode."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    markers = {"fp32": "o", "qat": "s", "static": "^", "dynamic": "v"}
    markers.update({"ov_fp32": "D", "ov_bf16": "P", "ov_int8": "X"})
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
    shown = {m for c in comps for m in c.results}
    for mode, mk in markers.items():  # marker legend
        if mode in shown:
            ax.scatter([], [], marker=mk, color="grey", label=MODE_TITLES[mode])
    ax.set_xlabel("FPS (engine.run; higher is better)")
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
    data: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the markdown page (and the PNG, default ``md`` with ``.png``) atomically.

    With ``data`` (the scored dataset folder), the page names the street sequences of the
    scored split, so a reader sees whether they are ones the models trained on.
    """
    md = Path(md)
    seqs = ""
    if data is not None:
        from edgevision.data.sequences import format_sequences, split_sequences
        from edgevision.errors import EdgeVisionError

        try:
            seqs = f" (sequences: {format_sequences(split_sequences(data, options.split))})"
        except EdgeVisionError:
            seqs = ""
    png = Path(plot) if plot is not None else md.with_suffix(".png")
    plot_page(comps, png)
    all_results = [r for c in comps for r in c.results.values()]
    o = dataclasses.asdict(options)
    where = _calib_where(o)
    lines = [
        "# Quantization: FP32 vs QAT vs static PTQ vs dynamic PTQ (generated)",
        "",
        f"Written by `{command}` — do not edit by hand.",
        "",
        provenance(all_results, markdown=True).replace("\n", "\n\n"),
        "",
        "How each variant was made: static PTQ = ONNX Runtime QDQ, "
        f"{o['method']} calibration on {o['calib_size']} `{o['calib_split']}` images"
        + where
        + ", U8 "
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
        + f", batch {o['qat_batch_size']}) on `{o['calib_split']}`"
        + where
        + ", exported as QDQ. mIoU on the "
        f"`{o['split']}` split{seqs}"
        + (f" (first {o['eval_images']} images)" if o["eval_images"] else "")
        + " through the ONNX Runtime path (resize, engine, argmax, labels upsampled). FPS = "
        "1000 / mean `engine.run` latency at batch 1. Sizes are ONNX file sizes."
        + (
            " OpenVINO rows run the FP32 file (f32 or bf16 hint) and the static PTQ file "
            "on OpenVINO, timed in the same alternation and scored through the same path."
            if any(m in ENGINE_MODES for c in comps for m in c.results)
            else ""
        ),
        "",
        *([_multi_head_note(comps), ""] if _multi_head_note(comps) else []),
        f"The *study* rows quote {CITATION}: another dataset, another machine (a Xavier GPU), "
        "quoted as printed for reference, not comparable number for number (the study's "
        "Table 3 size decreases do not all follow from its Tables 1 and 2).",
        "",
        "## Table 2: mIoU / size / FPS per quantization mode (the study's shape)",
        "",
        "Each cell: mIoU (%) / ONNX file size / FPS. The FP32 column is the study's Table 1.",
        "",
        *study_table2(comps),
        "",
        "## Table 3: change vs FP32 per quantization mode (the study's shape)",
        "",
        "Each cell: mIoU change (points) / model size decrease / RAM decrease; positive "
        "decreases are savings. RAM is the model's own: the peak RSS above the benchmark "
        "process's RSS after importing ONNX Runtime and before loading the model.",
        "",
        *study_table3(comps),
        "",
        "## Every variant, measured",
        "",
        *table2(comps),
        "",
        "## Change vs FP32, in detail",
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
    metrics = task_metrics_table(comps)
    if metrics:
        lines += [
            "## Task metrics of the multi-head models",
            "",
            "Scored in the same pass as mIoU on the same split, where the data has the truth "
            "(panoptic PNGs: PQ / SQ / RQ in %; depth maps: δ<1.25 in %, AbsRel, RMSE).",
            "",
            *metrics,
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
    cache = read_manifest(manifest_path)
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


def _calib_where(o: dict[str, Any]) -> str:
    """Which folder the calibration / QAT images came from, as the page's text says it
    (per model where ``calib_data_for`` names one)."""
    default = f" of `{o['calib_data']}`" if o.get("calib_data") else ""
    folders, splits = o.get("calib_data_for") or {}, o.get("calib_split_for") or {}
    if not folders and not splits:
        return default
    rest = f"`{o['calib_data']}`" if o.get("calib_data") else "the scored folder"
    named = ", ".join(
        f"`{k}`: `{splits.get(k, o['calib_split'])}` of "
        + (f"`{folders[k]}`" if k in folders else rest)
        for k in sorted(set(folders) | set(splits))
    )
    return f"{default} (per model: {named})"
