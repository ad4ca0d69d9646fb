"""The machine and library versions a measurement or training run happened on.

Recorded with every benchmark (``bench``) and every training start (``OUT/runs.jsonl``), so
that a figure always names the CPU it was measured on.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["BF16_FLAGS", "ISA_FLAGS", "cpu_flags", "machine_info", "versions"]

ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
"""The CPU features that decide which kernels an inference engine can use (VNNI: INT8
dot products; AMX: INT8/BF16 matrix tiles, which OpenVINO uses and ONNX Runtime's CPU
provider does not)."""


BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""Flags of native bfloat16 arithmetic: without one, OpenVINO's ``bf16`` hint is not a
measurement of BF16 kernels."""


def cpu_flags() -> list[str]:
    """Those of :data:`ISA_FLAGS` this CPU reports in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """Platform, CPU model (``/proc/cpuinfo``), logical cores, usable cores and memory."""
    cpu = platform.processor() or platform.machine()
    mem_total_mb = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass  # not Linux: keep platform.processor()
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_total_mb = round(int(line.split()[1]) / 1024, 1)
                    break
    except (OSError, ValueError):
        mem_total_mb = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "usable_cores": usable,
        "memory_mb": mem_total_mb,
    }


def versions(modules: Sequence[str] = ()) -> dict[str, str]:
    """``{"python", <each of modules already imported>, "edgevision"}`` version strings
    (a module not imported yet is left out rather than imported)."""
    from edgevision import __version__

    out = {"python": platform.python_version()}
    for mod in modules:
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = str(getattr(m, "__version__", "?"))
    out["edgevision"] = __version__
    return out
