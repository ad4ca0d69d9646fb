"""Every shipped model on every CPU engine and precision of this host, in one run.

``edgevision report backends WEIGHTS... --data NAME=DIR`` exports each model to FP32 ONNX at
its input size, quantizes it to static INT8 twice — ONNX Runtime's ``quantize_static`` (QDQ,
U8 activations / S8 per-channel weights, min-max) and NNCF's PTQ — on the first training
images of its dataset, and then times and scores the variants alternately in fresh
processes (:func:`~edgevision.bench.harness.benchmark_variants`):

- ONNX Runtime: FP32, INT8 (ORT file), INT8 (NNCF file);
- OpenVINO: f32, bf16 (only where the CPU has BF16 instructions: ``avx512_bf16`` or
  ``amx_bf16``), INT8 (ORT file), INT8 (NNCF file).

Per variant: engine latency p50 and FPS (2 threads), peak RSS of the worker, file size, and
the task's headline metric (mIoU, box AP or mask AP) on the model's validation split. The
page names the CPU and its ISA flags, because the ranking of engines depends on them (AMX).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Variant", "backends_report", "plan_variants"]


@dataclass(frozen=True)
class Variant:
    """One (file, engine, precision) row."""

    label: str
    file: str  # "fp32", "int8_ort" or "int8_nncf"
    backend: str
    ov_precision: str = "f32"


def plan_variants(have: dict[str, bool], flags: list[str], *, nncf: bool) -> list[Variant]:
    """The variants this host can run: installed engines, BF16 only with BF16 instructions,
    NNCF files only when nncf is installed."""
    out: list[Variant] = []
    if have.get("onnxruntime"):
        out += [
            Variant("ONNX Runtime FP32", "fp32", "onnxruntime"),
            Variant("ONNX Runtime INT8 (ORT PTQ)", "int8_ort", "onnxruntime"),
        ]
        if nncf:
            out.append(Variant("ONNX Runtime INT8 (NNCF PTQ)", "int8_nncf", "onnxruntime"))
    if have.get("openvino"):
        out.append(Variant("OpenVINO f32", "fp32", "openvino", "f32"))
        if {"avx512_bf16", "amx_bf16"} & set(flags):
            out.append(Variant("OpenVINO bf16", "fp32", "openvino", "bf16"))
        out.append(Variant("OpenVINO INT8 (ORT PTQ)", "int8_ort", "openvino"))
        if nncf:
            out.append(Variant("OpenVINO INT8 (NNCF PTQ)", "int8_nncf", "openvino"))
    return out


def _package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions (the engines ran in worker processes, not imported here)."""
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def _fmt(v: Any, nd: int = 2) -> str:
    try:
        return f"{float(v):.{nd}f}"
    except (TypeError, ValueError):
        return "n/a"


def backends_report(
    weights: list[str],
    *,
    data: dict[str, str],
    out: str | os.PathLike[str] = "docs/results/backends.md",
    work: str | os.PathLike[str] = "runs/backends",
    split: str = "val",
    max_images: int = 0,
    calib_images: int = 32,
    runs: int = 30,
    blocks: int = 3,
    threads: int = 2,
    command: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Measure and write the page (see the module docstring); returns the rows.

    Args:
        weights: model files (checkpoints or FP32 ``.onnx``).
        data: model file stem -> dataset folder for calibration and accuracy; ``"*"`` is the
            default for stems not named.
        out: the markdown page (a JSON of the rows is written next to it).
        work: folder for the exported and quantized files.
        split: the split scored.
        max_images: cap on scored images (0 = all).
        calib_images: calibration images of each INT8 file.
        runs: timed runs per variant over all blocks.
        blocks: alternation rounds (fresh process per block).
        threads: engine threads.

    Raises:
        ConfigError: a model without a dataset in ``data``.
        DataError: a dataset folder that cannot be read.
    """
    import importlib.util

    from edgevision.bench.harness import benchmark_variants
    from edgevision.config import BenchConfig
    from edgevision.errors import ConfigError, EdgeVisionError
    from edgevision.export import export_onnx
    from edgevision.host import cpu_flags, machine_info, versions
    from edgevision.io import write_json_atomic, write_text_atomic
    from edgevision.quantize import QuantConfig, quantize_model
    from edgevision.runtime import list_backends

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    flags = cpu_flags()
    nncf = importlib.util.find_spec("nncf") is not None
    plan = plan_variants(list_backends(), flags, nncf=nncf)
    if not plan:
        raise ConfigError("no CPU engine installed (onnxruntime or openvino)")
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    load_start = _load()
    for w in weights:
        stem = Path(w).stem
        ds = data.get(stem, data.get("*"))
        if not ds:
            raise ConfigError(f"no dataset for {stem}: pass --data {stem}=DIR (or --data DIR)")
        files = {"fp32": work / f"{stem}_fp32.onnx"}
        if Path(w).suffix.lower() == ".onnx":
            files["fp32"] = Path(w)
        else:
            export_onnx(w, files["fp32"])
        needed = {v.file for v in plan}
        for kind, engine in (("int8_ort", "onnxruntime"), ("int8_nncf", "nncf")):
            if kind in needed:
                files[kind] = work / f"{stem}_{kind}.onnx"
                quantize_model(
                    files["fp32"],
                    files[kind],
                    QuantConfig(calib_size=calib_images, engine=engine),  # type: ignore[arg-type]
                    calib_data=ds,
                    check_images=0,
                    progress=progress,
                )
        # a variant an engine cannot run (e.g. a quantizer's graph one engine rejects) is
        # left out with its one-line reason, found by a short run in a fresh process
        usable = []
        for v in plan:
            try:
                benchmark_variants(
                    [(str(files[v.file]), _config(v, threads, runs=2))],
                    blocks=1, progress=False, stages=False, flops=False, command=command,
                )  # fmt: skip
                usable.append(v)
            except EdgeVisionError as e:
                failed.append({"model": stem, "variant": v.label, "error": _one_line(e)})
        variants = [
            (
                str(files[v.file]),
                BenchConfig(
                    backend=v.backend,  # type: ignore[arg-type]
                    ov_precision=v.ov_precision,  # type: ignore[arg-type]
                    threads=threads,
                    runs=runs,
                    warmup=5,
                    data=str(ds),
                    split=split,
                    max_images=max_images,
                ),
            )
            for v in usable
        ]
        if not variants:
            continue
        results = benchmark_variants(
            variants, blocks=blocks, progress=progress, stages=False, flops=False, command=command
        )
        for v, r in zip(usable, results):
            ev = r.meta.get("eval") or {}
            rows.append(
                {
                    "model": stem,
                    "task": r.task,
                    "variant": v.label,
                    "backend": v.backend,
                    "file": v.file,
                    "ov_precision": v.ov_precision if v.backend == "openvino" else None,
                    "p50_ms": r.latency_ms["p50"],
                    "fps": r.fps,
                    "peak_rss_mb": r.peak_rss_mb,
                    "size_mb": r.size_mb,
                    "metric": ev.get("headline"),
                    "images": ev.get("num_images"),
                    "data": str(ds),
                }
            )
    info = machine_info()
    meta = {
        "machine": info,
        "cpu_flags": flags,
        "versions": {**versions(), **_package_versions(("onnxruntime", "openvino", "nncf"))},
        "command": command,
        "split": split,
        "threads": threads,
        "runs": runs,
        "blocks": blocks,
        "load": {"start": load_start, "end": _load()},
    }
    out = Path(out)
    write_json_atomic(out.with_suffix(".json"), {"meta": meta, "rows": rows, "failed": failed})
    write_text_atomic(out, _page(rows, meta, failed))
    return {"meta": meta, "rows": rows, "failed": failed}


def _config(v: Variant, threads: int, *, runs: int) -> Any:
    """A timing-only :class:`~edgevision.config.BenchConfig` of one variant."""
    from edgevision.config import BenchConfig

    return BenchConfig(
        backend=v.backend,  # type: ignore[arg-type]
        ov_precision=v.ov_precision,  # type: ignore[arg-type]
        threads=threads,
        runs=runs,
        warmup=1,
    )


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _page(rows: list[dict[str, Any]], meta: dict[str, Any], failed: list[dict[str, str]]) -> str:
    m = meta["machine"]
    lines = [
        "# CPU engines and precisions",
        "",
        f"Written by `{meta['command']}`." if meta["command"] else "",
        "",
        f"Host: **{m['cpu']}**, {m['usable_cores']} usable cores, {meta['threads']} engine "
        f"threads; ISA flags: {', '.join(meta['cpu_flags']) or 'none of the listed'}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.",
        "",
        f"Timing: `engine.run` p50 over {meta['runs']} calls per variant, in {meta['blocks']} "
        "alternating blocks, each block a fresh process (so engines do not share thread "
        "pools). Accuracy: the task's headline metric (mIoU for segmentation, COCO box AP "
        f"for detection, mask AP or agreement for instances) on split `{meta['split']}` of "
        "each model's dataset (CamVid's `val` is sequence 0016E5, whose neighbouring frames "
        "are in train: in-sequence, it overstates new streets; here it compares engines, not "
        "models). INT8 files: static PTQ calibrated on the first training images."
        + (
            f" Load average (1/5/15 min) of the machine at the start / end: "
            f"{meta['load']['start']} / {meta['load']['end']}: other work on the same cores "
            "slows every variant, alike only on average (blocks alternate)."
            if meta.get("load")
            else ""
        ),
        "",
        "| model | variant | p50 ms | FPS | vs ORT FP32 | peak RSS MiB | file MiB | metric | Δ metric |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    for model, rs in by_model.items():
        base = next((r for r in rs if r["variant"] == "ONNX Runtime FP32"), rs[0])
        for r in rs:
            speed = base["p50_ms"] / r["p50_ms"] if r["p50_ms"] else None
            metric = r["metric"]
            scale = 100.0 if metric is not None and metric <= 1.0 else 1.0
            delta = (
                (metric - base["metric"]) * scale
                if metric is not None and base["metric"] is not None
                else None
            )
            lines.append(
                f"| {model} | {r['variant']} | {_fmt(r['p50_ms'])} | {_fmt(r['fps'], 1)} | "
                f"{_fmt(speed)}× | {_fmt(r['peak_rss_mb'], 0)} | {_fmt(r['size_mb'])} | "
                f"{_fmt(metric * scale if metric is not None else None)} | "
                f"{'' if delta is None else f'{delta:+.2f}'} |"
            )
    if failed:
        lines += ["", "Variants that did not run (left out of the table):", ""]
        lines += [f"- {f['model']}, {f['variant']}: {f['error']}" for f in failed]
    lines += [
        "",
        "`--backend auto` (`bench`, `eval`, `run`) measures the same choice per float file "
        "on the host it runs on (ONNX Runtime vs OpenVINO); an INT8 file stays on ONNX "
        "Runtime, where `edgevision quantize` measured its accuracy, because OpenVINO runs "
        "some QDQ files with a different accuracy (the Δ metric column); BF16 is used only "
        "when asked for (`--backend openvino --ov-precision bf16`).",
        "",
    ]
    return "\n".join(lines)
