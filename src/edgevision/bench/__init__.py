"""Benchmarks: latency, FPS, peak memory, size, FLOPs and accuracy; comparison tables/plots.

Each target is measured in a fresh subprocess (:mod:`edgevision.bench.worker`); several are
measured alternately in blocks. Importing this package imports nothing heavy (the worker
imports it before it sets the thread variables), so the API is re-exported lazily::

    from edgevision.bench import benchmark, benchmark_many, compare, write_markdown, plot
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BenchResult": "edgevision.bench.harness",
    "WorkerError": "edgevision.bench.harness",
    "benchmark": "edgevision.bench.harness",
    "benchmark_many": "edgevision.bench.harness",
    "load_results": "edgevision.bench.harness",
    "FlopCount": "edgevision.bench.flops",
    "onnx_flops": "edgevision.bench.flops",
    "onnx_params": "edgevision.bench.flops",
    "torch_flops": "edgevision.bench.flops",
    "compare": "edgevision.bench.report",
    "write_markdown": "edgevision.bench.report",
    "plot": "edgevision.bench.report",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
