"""Benchmarks: latency, FPS, peak memory, size, FLOPs and accuracy; comparison tables/plots.

Each target is measured in a fresh subprocess (:mod:`edgevision.bench.worker`); several are
measured alternately in blocks. Importing this package imports nothing heavy (the worker
imports it before it sets the thread variables), so the API is re-exported lazily::

    from edgevision.bench import benchmark, benchmark_many, compare, write_markdown, plot
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.bench.harness": (
        "BenchResult",
        "WorkerError",
        "benchmark",
        "benchmark_many",
        "load_results",
    ),
    "edgevision.bench.flops": ("FlopCount", "onnx_flops", "onnx_params", "torch_flops"),
    "edgevision.bench.report": ("compare", "write_markdown", "plot"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
