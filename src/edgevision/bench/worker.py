"""Benchmark worker: measures one target in its own process.

Run as ``python -m edgevision.bench.worker JOB [--out RESULT.json]`` where ``JOB`` is a JSON
file, ``-`` (read stdin) or an inline JSON object::

    {"target": "model.onnx", "config": {...BenchConfig fields...},
     "runs": 50, "warmup": 10, "stages": true, "stage_runs": 25,
     "flops": true, "accuracy": true}

``runs``/``warmup`` override the config's (the harness splits runs into blocks);
``stages`` times the end-to-end :class:`~edgevision.runtime.Predictor` path per stage;
``flops`` counts FLOPs; ``accuracy`` evaluates on ``config.data`` when it is set.

A fresh process per target means the peak RSS is the model's own and no idle thread pool
of another session competes for the cores. Thread variables (``OMP_NUM_THREADS`` ...) are
set **before** numpy / onnxruntime / torch are imported, so this module imports only the
standard library at top level.

Protocol (stderr, one line each; everything else on stderr/stdout is free-form log):

- ``@@progress {"phase": "...", "done": i, "total": n}`` while working;
- ``@@error {"type": "ModelFileError", "message": "..."}`` on failure (exit code 2 for a user
  error, 1 for a crash, after a traceback);
- the result, a JSON object (see :func:`measure`), goes to ``--out`` or else to stdout.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from edgevision.host import machine_info, versions
from edgevision.tasks import get_task

PROGRESS = "@@progress "
ERROR = "@@error "

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def set_thread_env(threads: int, env: dict[str, str] | None = None) -> dict[str, str]:
    """Set the BLAS/OpenMP thread variables to ``threads`` in ``env`` (default ``os.environ``)."""
    target = os.environ if env is None else env
    for k in THREAD_ENV_VARS:
        target[k] = str(int(threads))
    return dict(target)


class _Progress:
    """Throttled ``@@progress`` lines on stderr (at most ~10 per second per phase)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and done not in (0, total) and now - self._last < 0.1:
            return
        self._last = now
        msg = json.dumps({"phase": phase, "done": done, "total": total})
        sys.stderr.write(PROGRESS + msg + "\n")
        sys.stderr.flush()


def _rss_now_kib() -> int:
    """Current resident set size in KiB (Linux ``/proc/self/statm``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss_kib() -> tuple[int, str]:
    """Peak RSS of this process in KiB and how it was read.

    Linux: ``VmHWM`` from ``/proc/self/status``, the high-water mark of this process's own
    address space. ``getrusage(RUSAGE_SELF).ru_maxrss`` is *not* used there because Linux
    carries it over from the parent through fork + exec: a worker started by a parent that
    had imported torch (~540 MiB) reported 543 MiB for a model whose own peak was 153 MiB.
    Elsewhere ``ru_maxrss`` (KiB on Linux/BSD, bytes on macOS) is the fallback.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]), "VmHWM (/proc/self/status)"
    except (OSError, ValueError, IndexError):
        pass  # not Linux: fall back to getrusage below
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib = int(peak // 1024) if sys.platform == "darwin" else int(peak)
    return kib, "getrusage ru_maxrss"


def _import_backend(backend: str) -> None:
    """Import the backend library up front so the baseline RSS includes it."""
    import importlib

    name = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt"}.get(
        backend, "torch"
    )
    try:
        importlib.import_module(name)
    except ImportError:
        return  # load_engine raises BackendUnavailable with the install hint


def _file_size(path: Path | None) -> int | None:
    """Bytes of a model file, plus ONNX external-data files next to it."""
    if path is None or not Path(path).is_file():
        return None
    p = Path(path)
    total = p.stat().st_size
    if p.suffix == ".onnx":
        try:
            import onnx
        except ImportError:
            return total  # onnx not installed: the .onnx file alone
        m = onnx.load(str(p), load_external_data=False)
        seen: set[str] = set()
        for t in m.graph.initializer:
            if t.data_location != onnx.TensorProto.EXTERNAL:
                continue
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            if loc and loc not in seen and (p.parent / loc).is_file():
                seen.add(loc)
                total += (p.parent / loc).stat().st_size
    return total


def _count_flops(engine: Any, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """FLOPs of one image at ``shape`` (batch 1): from the ONNX graph, or by torch counting."""
    from edgevision.bench.flops import onnx_flops, torch_flops

    path = getattr(engine, "path", None)
    one = (1, *shape[1:])
    if path is not None and Path(path).suffix == ".onnx":
        fc = onnx_flops(path, {engine.input_name: one})
        source = "onnx graph"
    else:
        # the module engine.run calls (an export adapter, if any), else the model itself
        module = next(
            (m for m in (getattr(engine, a, None) for a in ("runner", "model")) if m is not None),
            None,
        )
        if module is None:
            return None
        fc = torch_flops(module, one)
        source = "torch FlopCounterMode"
    return {
        "gflops": fc.flops / 1e9,
        "other_gflops": fc.other_flops / 1e9,
        "params": fc.params,
        "source": source,
        "uncounted": fc.uncounted,
    }


def measure(job: dict[str, Any], progress: _Progress | None = None) -> dict[str, Any]:
    """Measure one target as described by ``job``; returns the raw (unpooled) result.

    The returned dict holds raw samples (``latency_ms`` list, ``stages_ms`` lists), the peak
    RSS in KiB, engine facts and versions; :mod:`edgevision.bench.harness` pools and
    summarises them into a :class:`~edgevision.bench.harness.BenchResult`.
    """
    from edgevision.config import BenchConfig, from_dict

    prog = progress or _Progress(False)
    cfg = from_dict(BenchConfig, job.get("config", {}))
    target = str(job["target"])
    runs = int(job.get("runs", cfg.runs))
    warmup = int(job.get("warmup", cfg.warmup))
    set_thread_env(cfg.threads)

    t_start = time.perf_counter()
    import numpy as np

    _import_backend(cfg.backend)
    rss_baseline_kib = _rss_now_kib()

    from edgevision.runtime import Predictor, load_engine

    prog("load", 0, 1, force=True)
    t0 = time.perf_counter()
    options: dict[str, Any] = {}
    if cfg.backend == "tensorrt":
        options = {
            "precision": cfg.trt_precision,
            "layer_precision": cfg.trt_layers,
            "calib_data": cfg.calib_data,
            "batch": cfg.batch,
            "input_size": tuple(cfg.input_size) if cfg.input_size else None,
        }
    elif cfg.backend == "openvino":
        options = {"precision": cfg.ov_precision}
    engine = load_engine(
        target,
        backend=cfg.backend,
        threads=cfg.threads,
        providers=cfg.providers or None,
        **options,
    )
    load_s = time.perf_counter() - t0
    rss_loaded_kib = _rss_now_kib()
    prog("load", 1, 1, force=True)

    spec = engine.spec
    post_kw: dict[str, Any] = {}
    if cfg.conf is not None:
        if not get_task(spec.task).scored:
            from edgevision.errors import ConfigError

            raise ConfigError(
                f"--conf applies to detection and instance models; {target} is {spec.task}"
            )
        post_kw["conf_threshold"] = cfg.conf
    size_override: tuple[int, int] | None = (
        (int(cfg.input_size[0]), int(cfg.input_size[1])) if cfg.input_size else None
    )
    h, w = size_override or (int(spec.input_size[0]), int(spec.input_size[1]))
    shape = (cfg.batch, 3, int(h), int(w))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)

    for i in range(warmup):
        engine.run(x)
        prog("warmup", i + 1, warmup)
    samples: list[float] = []
    clock = time.perf_counter_ns
    for i in range(runs):
        t = clock()
        engine.run(x)
        samples.append((clock() - t) / 1e6)
        prog("timing", i + 1, runs)

    stages: dict[str, list[float]] | None = None
    if job.get("stages", True):
        stage_runs = int(job.get("stage_runs", min(runs, max(5, runs // 2))))
        predictor: Any = Predictor(engine, input_size=size_override, **post_kw)
        if cfg.semantic_reference:
            from edgevision.bench.seg_reference import TorchLogitsReference

            predictor = TorchLogitsReference(engine)
        image = rng.integers(0, 256, size=(int(h), int(w), 3), dtype=np.uint8)
        predictor.timed(image)  # warm the pre/post-processing path once
        stages = {"preprocess": [], "inference": [], "postprocess": [], "total": []}
        for i in range(stage_runs):
            t = clock()
            res, st = predictor.timed(image)
            total = (clock() - t) / 1e6
            for k in ("preprocess", "inference", "postprocess"):
                stages[k].append(float(st[k]))
            stages["total"].append(total)
            if get_task(spec.task).scored:  # how much NMS/mask work it did
                stages.setdefault("objects", []).append(float(len(res.scores)))
            prog("end-to-end", i + 1, stage_runs)

    # snapshot before FLOP counting / accuracy, which allocate memory of their own
    peak_rss_kib, peak_rss_source = _peak_rss_kib()

    flops = None
    if job.get("flops", True):
        flops = _count_flops(engine, shape)

    metrics: dict[str, Any] = {}
    eval_info: dict[str, Any] | None = None
    if job.get("accuracy", True) and cfg.data:
        from edgevision.evaluate.api import evaluate

        prog("accuracy", 0, 1, force=True)
        t0 = time.perf_counter()
        report = evaluate(
            Predictor(engine, input_size=size_override),
            cfg.data,
            cfg.split,
            max_images=cfg.max_images,
            progress=False,
        )
        metrics = dict(report.to_dict()["metrics"])  # JSON-safe: nan -> None
        eval_info = {
            "data": str(cfg.data),
            "split": cfg.split,
            "max_images": cfg.max_images,
            "num_images": int(report.num_images),
            "headline": report.headline,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        prog("accuracy", 1, 1, force=True)

    path = getattr(engine, "path", None)
    try:
        description = dict(engine.describe())
    except Exception as e:  # a description is informative only; say it failed
        description = {"error": f"describe() failed: {type(e).__name__}: {e}"}
    flag = (getattr(engine, "metadata", None) or {}).get("edgevision.trained")
    if flag is not None:  # recorded by edgevision export: "0" = the untrained architecture
        description["trained"] = flag == "1"
    return {
        "target": target,
        "model": spec.name,
        "task": spec.task,
        "backend": engine.backend,
        "precision": engine.precision,
        "path": str(path) if path is not None else None,
        "input_name": getattr(engine, "input_name", None),
        "input_shape": list(shape),
        "threads": cfg.threads,
        "runs": runs,
        "warmup": warmup,
        "latency_ms": samples,
        "stages_ms": stages,
        "peak_rss_kib": peak_rss_kib,
        "peak_rss_source": peak_rss_source,
        "rss_baseline_kib": rss_baseline_kib,
        "rss_after_load_kib": rss_loaded_kib,
        "size_bytes": _file_size(Path(path)) if path is not None else None,
        "params": int(engine.num_params()),
        "flops": flops,
        "metrics": metrics,
        "eval": eval_info,
        "load_seconds": round(load_s, 4),
        "worker_seconds": round(time.perf_counter() - t_start, 3),
        "engine": description,
        "versions": versions(("numpy", "onnxruntime", "torch", "onnx")),
        "machine": machine_info(),
        "pid": os.getpid(),
        "env": {k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ},
    }


def _read_job(arg: str) -> dict[str, Any]:
    if arg == "-":
        text = sys.stdin.read()
    elif arg.lstrip().startswith("{"):
        text = arg
    else:
        text = Path(arg).read_text()
    job = json.loads(text)
    if not isinstance(job, dict) or "target" not in job:
        raise ValueError("job must be a JSON object with a 'target'")
    return job


def _fail(kind: str, message: str, code: int) -> int:
    first = (message.strip().splitlines() or [""])[0]
    sys.stderr.write(ERROR + json.dumps({"type": kind, "message": first}) + "\n")
    sys.stderr.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m edgevision.bench.worker JOB [--out FILE] [--quiet]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    out: str | None = None
    quiet = False
    if "--out" in args:
        i = args.index("--out")
        if i + 1 >= len(args):
            return _fail("UsageError", "--out needs a file path", 2)
        out = args[i + 1]
        del args[i : i + 2]
    if "--quiet" in args:
        args.remove("--quiet")
        quiet = True
    if len(args) != 1:
        return _fail("UsageError", "usage: python -m edgevision.bench.worker JOB [--out FILE]", 2)
    try:
        job = _read_job(args[0])
    except (OSError, ValueError) as e:
        return _fail("UsageError", f"cannot read benchmark job: {e}", 2)
    # threads before anything imports numpy (the config is validated later, in measure())
    threads = job.get("config", {}).get("threads", 2)
    if isinstance(threads, int) and threads > 0:
        set_thread_env(threads)

    from edgevision.errors import EdgeVisionError

    try:
        result = measure(job, _Progress(not quiet))
    except EdgeVisionError as e:
        return _fail(type(e).__name__, str(e), 2)
    except KeyboardInterrupt:
        return _fail("KeyboardInterrupt", "interrupted", 130)
    except Exception as e:  # a crash: keep the traceback for --debug, one line for the user
        import traceback

        traceback.print_exc(file=sys.stderr)
        return _fail(type(e).__name__, f"{type(e).__name__}: {e}", 1)
    text = json.dumps(result)
    if out:
        from edgevision.io import write_text_atomic

        write_text_atomic(out, text + "\n")
    else:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
