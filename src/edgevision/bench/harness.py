"""Benchmark harness: latency, FPS, peak memory, size, FLOPs and accuracy of a model.

Every measurement runs in a **fresh subprocess** (:mod:`edgevision.bench.worker`): the peak
RSS is then the model's own, and no idle ONNX Runtime thread pool of another session
competes for the cores (several sessions in one process, timed one call at a time, were
measured to be off by up to 2× on a 2-core box).

- :func:`benchmark` measures one target in one subprocess.
- :func:`benchmark_many` measures several targets **alternately in blocks**
  (A B C A B C ..., each block a fresh subprocess with its own warmup) and pools the
  timings per target, so their ratio holds on a noisy machine.

What is timed is written into every result (:attr:`BenchResult.meta`): ``latency_ms`` is
``engine.run`` alone on a fixed random NCHW float32 input (no pre/post-processing), and
``stages_ms`` is the end-to-end :class:`~edgevision.runtime.Predictor` path per stage on a
synthetic image of the input size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgevision.bench.proc import WorkerError
from edgevision.bench.proc import run_worker as _run_worker
from edgevision.config import BenchConfig, build_config, to_dict
from edgevision.errors import (
    ConfigError,
    DataError,
)
from edgevision.progress import ProgressLines
from edgevision.runtime.base import ONNX_BACKENDS
from edgevision.runtime.targets import resolve_target

__all__ = [
    "BenchResult",
    "WorkerError",
    "benchmark",
    "benchmark_many",
    "benchmark_variants",
    "load_results",
]

MIB = 1024 * 1024

#: what ``latency_ms`` / ``stages_ms`` measure, written into every result's ``meta``
TIMED_ENGINE = (
    "engine.run only (inference; no preprocessing/postprocessing) on a fixed random NCHW "
    "float32 input of the given shape, wall clock per call (time.perf_counter_ns)"
)
TIMED_STAGES = (
    "end-to-end Predictor.timed on a random HxWx3 uint8 RGB image of the input size: "
    "preprocess / inference / postprocess per call, p50 of each (batch 1)"
)
UNITS = {
    "latency_ms": "milliseconds per engine.run call (the whole batch)",
    "fps": "images per second = batch * 1000 / mean latency",
    "peak_rss_mb": "MiB; peak resident memory of the worker process after timing (before FLOP "
    "counting and accuracy), interpreter and libraries included",
    "size_mb": "MiB (2^20 bytes) of the model file as benchmarked",
    "gflops": "2 x multiply-accumulates of one image at the input size, / 1e9",
}


@dataclass
class BenchResult:
    """One benchmarked target; JSON-serialisable via :meth:`to_dict`.

    Attributes:
        model: registry name of the architecture (from the model's spec).
        label: short display name (file stem, or the registry name).
        target: what was asked for (path or registry name).
        task: ``"detect"``, ``"semantic"`` or ``"instance"``.
        backend: the engine it ran on (``"onnxruntime"``, ``"openvino"``, ``"torch"``,
            ``"tensorrt"``; ``--backend auto``'s choice, with its reason in
            ``meta["backend_choice"]``).
        precision: ``"fp32"``, ``"fp16"``, ``"int8"`` or ``"mixed"``.
        input: ``{"batch", "height", "width"}`` of the timed NCHW input.
        threads: intra-op threads.
        latency_ms: ``p50, p90, p99, mean, std, min, max`` of ``engine.run`` in ms.
        fps: ``batch * 1000 / mean latency``.
        peak_rss_mb: peak resident memory of the worker process, MiB.
        size_mb: model file size in MiB (``None`` if there is no file and no estimate).
        params: parameter count.
        gflops: 2 × MACs of one image at the input size, in 1e9 (``None`` if not counted).
        stages_ms: p50 ``preprocess, inference, postprocess, total`` of the end-to-end
            Predictor path in ms (``None`` when not measured).
        metrics: accuracy metrics (empty without ``data``).
        meta: what was timed and where: method, runs, warmup, blocks, machine, versions,
            timestamp, command, raw samples.
    """

    model: str
    label: str
    target: str
    task: str
    backend: str
    precision: str
    input: dict[str, int]
    threads: int
    latency_ms: dict[str, float]
    fps: float
    peak_rss_mb: float
    size_mb: float | None
    params: int | None
    gflops: float | None
    stages_ms: dict[str, float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (field order kept)."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON atomically; returns the path."""
        from edgevision.io import write_json_atomic

        write_json_atomic(path, self.to_dict())
        return Path(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchResult:
        """Rebuild from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            DataError: required keys are missing.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [k for k in required if k not in data]
        if missing:
            raise DataError(f"not a benchmark result (missing {', '.join(missing)})")
        return cls(**{k: data[k] for k in names if k in data})


def load_results(paths: Sequence[str | os.PathLike[str]]) -> list[BenchResult]:
    """Read results from JSON files, each holding one result object or a list of them.

    Raises:
        DataError: a file is missing, not JSON, or not a benchmark result.
    """
    out: list[BenchResult] = []
    for p in map(Path, paths):
        if not p.is_file():
            raise DataError(f"result file not found: {p}")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"not a JSON file: {p} ({e})") from None
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, Mapping):
                raise DataError(f"{p}: expected a result object or a list of them")
            try:
                out.append(BenchResult.from_dict(item))
            except DataError as e:
                raise DataError(f"{p}: {e}") from None
    return out


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------
@dataclass
class _Target:
    """A target resolved to what the worker loads (an exported ONNX file for a name/ckpt)."""

    given: str
    load: str
    label: str
    kind: str  # "onnx", "openvino" (an IR), "checkpoint", "registry"
    exported: bool = False
    backend: str = ""  # what the worker runs it on ("auto" resolved per file)
    choice: dict[str, Any] | None = None  # why, for --backend auto


def _resolve_target(target: str, cfg: BenchConfig) -> _Target:
    """Check a target before spawning anything; one-line errors for bad paths and names."""
    r = resolve_target(target)
    if r.kind == "onnx" and cfg.backend == "torch":
        raise ConfigError(
            f"backend 'torch' cannot run an ONNX file: {r.path} (use --backend onnxruntime)"
        )
    if r.kind == "openvino" and cfg.backend not in ("auto", "openvino"):
        raise ConfigError(f"an OpenVINO IR runs on backend 'openvino' only: {r.path}")
    return _Target(
        r.given,
        str(r.path) if r.path is not None else r.given,
        r.label,
        r.kind,
        backend="openvino" if r.kind == "openvino" else cfg.backend,
    )


def _choose(resolved: list[_Target], cfg: BenchConfig, *, progress: bool) -> None:
    """Resolve ``--backend auto`` per ONNX file (:func:`edgevision.bench.choose.choose_backend`)."""
    if cfg.backend != "auto":
        return
    from edgevision.bench.choose import choose_backend

    for r in resolved:
        if r.kind == "openvino":
            continue  # an IR has one engine
        choice = choose_backend(r.load, threads=cfg.threads)
        r.backend, r.choice = choice.backend, choice.to_dict()
        if progress:
            _console().print(f"[dim]{r.label}: backend {choice.reason}[/dim]")


@contextlib.contextmanager
def _prepared(
    targets: Sequence[str], cfg: BenchConfig, *, progress: bool
) -> Iterator[list[_Target]]:
    """Resolve targets; export names/checkpoints to temporary ONNX files for the backends
    that run ONNX files."""
    resolved = [_resolve_target(t, cfg) for t in targets]
    onnx_backend = cfg.backend in ONNX_BACKENDS or cfg.backend == "auto"
    needs_export = [r for r in resolved if r.kind not in ("onnx", "openvino") and onnx_backend]
    if not needs_export:
        _choose(resolved, cfg, progress=progress)
        yield resolved
        return
    from edgevision.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="edgevision-bench-") as tmp:
        for i, r in enumerate(needs_export):
            out = Path(tmp) / f"{i:02d}_{Path(r.label).name}.onnx"
            if progress:
                _console().print(f"[dim]exporting {r.given} to ONNX for onnxruntime ...[/dim]")
            export_onnx(r.load, out, input_size=cfg.input_size)
            r.load, r.exported = str(out), True
        _choose(resolved, cfg, progress=progress)
        yield resolved


# --------------------------------------------------------------------------------------------
# Running the worker
# --------------------------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class _Display:
    """Rich progress bars (one per target) on stderr, or nothing."""

    def __init__(self, enabled: bool, labels: Sequence[str], totals: Sequence[int]) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: list[Any] = []
        self._base = [0] * len(labels)
        # not a terminal (a log, CI): a plain line per finished block instead of a bar
        self._lines = (
            [
                ProgressLines(f"bench {label}", total, every=1)
                for label, total in zip(labels, totals)
            ]
            if enabled and not sys.stderr.isatty()
            else []
        )
        if not enabled or self._lines:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[phase]}"),
            TimeElapsedColumn(),
            console=_console(),
            transient=True,
            refresh_per_second=4,
        )
        self._tasks = [
            self._progress.add_task(label, total=total, phase="queued")
            for label, total in zip(labels, totals)
        ]

    def __enter__(self) -> _Display:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def callback(self, index: int, block: str) -> Callable[[str, int, int], None] | None:
        if self._progress is None:
            return None
        progress, task, base = self._progress, self._tasks[index], self._base[index]

        def cb(phase: str, done: int, total: int) -> None:
            text = f"{block} {phase} {done}/{total}".strip()
            if phase == "timing":
                progress.update(task, completed=base + done, phase=text)
            else:
                progress.update(task, phase=text)

        return cb

    def finish_block(self, index: int, runs: int, *, last: bool) -> None:
        self._base[index] += runs
        if self._lines:
            self._lines[index].update(self._base[index], "done" if last else "")
        if self._progress is not None:
            self._progress.update(
                self._tasks[index], completed=self._base[index], phase="done" if last else "waiting"
            )


# --------------------------------------------------------------------------------------------
# Pooling raw worker results into a BenchResult
# --------------------------------------------------------------------------------------------
def _stats(samples: Sequence[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(samples, dtype=np.float64)
    return {
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
    }


def _r(x: float, nd: int = 4) -> float:
    return float(round(x, nd))


def _pool(
    target: _Target,
    cfg: BenchConfig,
    raws: list[dict[str, Any]],
    *,
    command: str,
    blocks: int,
) -> BenchResult:
    import numpy as np

    first = raws[0]
    samples = [s for r in raws for s in r["latency_ms"]]
    lat = {k: _r(v) for k, v in _stats(samples).items()}
    batch, _, h, w = first["input_shape"]
    stage_lists: dict[str, list[float]] = {}
    for r in raws:
        for k, v in (r.get("stages_ms") or {}).items():
            stage_lists.setdefault(k, []).extend(v)
    stages = (
        {k: _r(float(np.percentile(v, 50))) for k, v in stage_lists.items() if v}
        if stage_lists
        else None
    )
    flops = next((r["flops"] for r in raws if r.get("flops")), None)
    metrics: dict[str, Any] = next((r["metrics"] for r in raws if r.get("metrics")), {})
    eval_info = next((r["eval"] for r in raws if r.get("eval")), None)
    # the graph count excludes quantization scales/zero points and shape constants
    params = flops.get("params") if flops else first.get("params")

    size_bytes = first.get("size_bytes")
    if target.exported:
        size_source = f"ONNX file exported from {target.given} (export_onnx defaults)"
    elif size_bytes is not None:
        size_source = "model file"
    else:
        size_source = None
    if size_bytes is None and params:
        size_bytes = int(params) * 4
        size_source = "estimate: parameters x 4 bytes (fp32; no model file)"

    meta: dict[str, Any] = {
        "timed": TIMED_ENGINE,
        "stages_timed": TIMED_STAGES if stages else None,
        "units": UNITS,
        "runs": len(samples),
        "warmup": first["warmup"],
        "blocks": blocks,
        "process": "a fresh subprocess per block (python -m edgevision.bench.worker)",
        "block_runs": [len(r["latency_ms"]) for r in raws],
        "block_p50_ms": [_r(float(np.percentile(r["latency_ms"], 50))) for r in raws],
        "stage_runs": len(stage_lists.get("total", [])),
        "target": target.given,
        "model_path": None if target.exported else first.get("path"),
        "size_source": size_source,
        "flops_source": flops.get("source") if flops else None,
        "other_gflops": _r(flops["other_gflops"], 6) if flops else None,
        "flops_uncounted_nodes": flops.get("uncounted") if flops else None,
        "peak_rss_source": first.get("peak_rss_source"),
        "rss_baseline_mb": _r(first["rss_baseline_kib"] / 1024, 1),
        "rss_after_load_mb": _r(first["rss_after_load_kib"] / 1024, 1),
        "params_engine": first.get("params"),
        "load_seconds": first.get("load_seconds"),
        "providers": list(cfg.providers),
        "thread_env": first.get("env", {}),
        "config": to_dict(cfg),
        "backend_choice": target.choice,
        "engine": first.get("engine", {}),
        "eval": eval_info,
        "machine": first["machine"],
        "versions": first["versions"],
        "edgevision": first["versions"].get("edgevision"),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "samples_ms": [_r(s) for s in samples],
    }
    mean = lat["mean"]
    return BenchResult(
        model=first["model"],
        label=target.label,
        target=target.given,
        task=first["task"],
        backend=first["backend"],
        precision=first["precision"],
        input={"batch": int(batch), "height": int(h), "width": int(w)},
        threads=int(first["threads"]),
        latency_ms=lat,
        fps=_r(batch * 1000.0 / mean, 3) if mean > 0 else 0.0,
        peak_rss_mb=_r(max(r["peak_rss_kib"] for r in raws) / 1024, 1),
        size_mb=_r(size_bytes / MIB, 3) if size_bytes is not None else None,
        params=int(params) if params is not None else None,
        gflops=_r(flops["gflops"], 6) if flops else None,
        stages_ms=stages,
        metrics=dict(metrics),
        meta=meta,
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]])


def benchmark_many(
    targets: Sequence[str | os.PathLike[str]],
    config: BenchConfig | None = None,
    *,
    blocks: int = 5,
    progress: bool = True,
    stages: bool = True,
    flops: bool = True,
    command: str | None = None,
    **options: Any,
) -> list[BenchResult]:
    """Benchmark several targets alternately in blocks and pool the timings per target.

    Order: A B C A B C ... (``blocks`` rounds). Each block is a fresh subprocess that warms
    up (``config.warmup``) and then times ``config.runs / blocks`` calls (the remainder goes
    to the first blocks), so slow drifts of the machine hit every target alike. FLOPs and
    accuracy are measured once per target, in its first block, after the timing.

    Args:
        targets: ``.onnx`` files, checkpoints (``.pt``/``.safetensors``) or registry names.
            Names and checkpoints are exported to a temporary ONNX file first when
            ``config.backend`` is ``"onnxruntime"``.
        config: backend, threads, input size, batch, runs, warmup, providers, data ...
        blocks: rounds of alternation (capped at ``config.runs``).
        progress: show rich progress bars on stderr.
        stages: also time the end-to-end Predictor path per stage.
        flops: count FLOPs.
        command: the command line recorded in ``meta`` (default: ``sys.argv``).
        **options: :class:`~edgevision.config.BenchConfig` fields replacing those of
            ``config`` (``runs=10``, ``backend="openvino"`` ...), checked by type.

    Returns:
        One :class:`BenchResult` per target, in the order given.

    Raises:
        ModelFileError: a file is missing or not an ONNX file / checkpoint.
        ModelNotFoundError: an unknown registry name.
        ConfigError: bad options (e.g. ``blocks < 1``, an unknown ``options`` field).
        EdgeVisionError: the worker's one-line error when a measurement fails.
    """
    cfg = build_config(BenchConfig, config, **options)
    if isinstance(targets, (str, os.PathLike)):
        raise ConfigError("targets must be a list of models; for one, use benchmark()")
    if not targets:
        raise ConfigError("no targets to benchmark")
    if blocks < 1:
        raise ConfigError(f"blocks must be >= 1, got {blocks}")
    blocks = min(blocks, cfg.runs)
    cmd = command if command is not None else _default_command()
    with _prepared([str(t) for t in targets], cfg, progress=progress) as resolved:
        cfgs = [dataclasses.replace(cfg, backend=t.backend or cfg.backend) for t in resolved]  # type: ignore[arg-type]
        return _alternate(
            resolved, cfgs, cfg, blocks=blocks, progress=progress, stages=stages, flops=flops,
            command=cmd,
        )  # fmt: skip


def _alternate(
    resolved: Sequence[_Target],
    cfgs: Sequence[BenchConfig],
    pooled_cfg: BenchConfig | None,
    *,
    blocks: int,
    progress: bool,
    stages: bool,
    flops: bool,
    command: str,
) -> list[BenchResult]:
    """Time ``resolved[i]`` with ``cfgs[i]`` in rounds A B C A B C ..., a fresh process per
    block; ``pooled_cfg`` is what each result records as its config (default: its own)."""
    runs = cfgs[0].runs
    blocks = min(blocks, runs)
    runs_per_block = _split(runs, blocks)
    stage_total = min(runs, max(5, runs // 2)) if stages else 0
    stage_per_block = _split(stage_total, blocks)
    raws: list[list[dict[str, Any]]] = [[] for _ in resolved]
    labels = [r.label for r in resolved]
    with _Display(progress, labels, [runs] * len(resolved)) as display:
        for b in range(blocks):
            for i, (tgt, c) in enumerate(zip(resolved, cfgs)):
                job = {
                    "warmup": c.warmup,
                    "config": to_dict(c),
                    "target": tgt.load,
                    "runs": runs_per_block[b],
                    "stages": stage_per_block[b] > 0,
                    "stage_runs": stage_per_block[b],
                    "flops": flops and b == 0,
                    "accuracy": b == 0,
                }
                tag = f"block {b + 1}/{blocks}" if blocks > 1 else ""
                raws[i].append(_run_worker(job, display.callback(i, tag)))
                display.finish_block(i, runs_per_block[b], last=b == blocks - 1)
    return [
        _pool(tgt, pooled_cfg or c, raw, command=command, blocks=blocks)
        for tgt, c, raw in zip(resolved, cfgs, raws)
    ]


def benchmark_variants(
    variants: Sequence[tuple[str | os.PathLike[str], BenchConfig]],
    *,
    blocks: int = 5,
    progress: bool = True,
    stages: bool = True,
    flops: bool = True,
    command: str | None = None,
) -> list[BenchResult]:
    """Like :func:`benchmark_many`, but each ``(file, config)`` pair has its own options —
    the same ONNX file on several engines or precisions, timed alternately in one run.

    Files are used as given (no export; ``"auto"`` is not resolved). Every config must have
    the same ``runs`` (the blocks split them alike).

    Raises:
        ConfigError: no variants, ``blocks < 1``, differing ``runs`` or ``backend="auto"``.
        ModelFileError: a missing file.
        EdgeVisionError: the worker's one-line error when a measurement fails.
    """
    if not variants:
        raise ConfigError("no variants to benchmark")
    if blocks < 1:
        raise ConfigError(f"blocks must be >= 1, got {blocks}")
    cfgs = [c for _, c in variants]
    if len({c.runs for c in cfgs}) != 1:
        raise ConfigError("every variant must time the same number of runs")
    if any(c.backend == "auto" for c in cfgs):
        raise ConfigError("benchmark_variants needs explicit backends, not 'auto'")
    resolved = [_resolve_target(str(t), c) for t, c in variants]
    return _alternate(
        resolved,
        cfgs,
        None,
        blocks=blocks,
        progress=progress,
        stages=stages,
        flops=flops,
        command=command if command is not None else _default_command(),
    )


def benchmark(
    target: str | os.PathLike[str],
    config: BenchConfig | None = None,
    *,
    progress: bool = True,
    stages: bool = True,
    flops: bool = True,
    command: str | None = None,
    **options: Any,
) -> BenchResult:
    """Benchmark one target in one fresh subprocess.

    Times ``config.runs`` calls of ``engine.run`` after ``config.warmup`` untimed ones on a
    fixed random input of ``(batch, 3, H, W)``; with ``stages`` also times the end-to-end
    Predictor path per stage; counts FLOPs; evaluates accuracy when ``config.data`` is set.

    Args:
        target: an ``.onnx`` file, a checkpoint (``.pt``/``.safetensors``) or a registry
            name (random weights); names/checkpoints are exported to a temporary ONNX file
            first when ``config.backend`` is ``"onnxruntime"`` or ``"tensorrt"``.
        config: benchmark options (:class:`~edgevision.config.BenchConfig`).
        progress: show a rich progress bar on stderr.
        stages: also time the end-to-end Predictor path per stage.
        flops: count FLOPs.
        command: the command line recorded in ``meta`` (default: ``sys.argv``).
        **options: :class:`~edgevision.config.BenchConfig` fields replacing those of
            ``config`` (``runs=10`` ...), checked by type.

    Returns:
        The :class:`BenchResult`.

    Raises:
        ModelFileError: missing file or not an ONNX file / checkpoint.
        ModelNotFoundError: an unknown registry name.
        EdgeVisionError: the worker's one-line error when the measurement fails.
    """
    return benchmark_many(
        [target],
        config,
        blocks=1,
        progress=progress,
        stages=stages,
        flops=flops,
        command=command,
        **options,
    )[0]
