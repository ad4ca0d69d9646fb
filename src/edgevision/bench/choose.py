"""``--backend auto``: the fastest CPU engine for this model on this host, by measurement.

Which engine is faster depends on the host more than on the model: OpenVINO uses AMX-INT8/
BF16 and VNNI kernels that ONNX Runtime's CPU provider does not, so on an AMX Xeon it runs our
DDRNet INT8 file 1.6–2× faster, while on an AMD EPYC the two were within 3 % (issue 29's
measurements). A rule written from one host would be wrong on the next, so ``auto`` measures:

1. ``EDGEVISION_BACKEND=onnxruntime|openvino`` in the environment wins (pinned deployments,
   reproducible tests); a backend that is not installed is a one-line error.
2. With one CPU engine installed, it is the choice.
3. A quantized file (metadata precision ``int8`` or ``mixed``) stays on ONNX Runtime, where
   ``edgevision quantize`` measured its accuracy: OpenVINO runs the same QDQ graph with its
   own INT8 kernels and rounding, which on some models changes accuracy far beyond the
   quantization's own loss (``edgevision report backends``, AMD EPYC: ``yolov5n_camvid`` NNCF
   INT8 10.82 box AP on ONNX Runtime, 0.49 on OpenVINO; ESPNet NNCF INT8 −4.1 mIoU on
   OpenVINO against −0.3 on ONNX Runtime). ``--backend openvino`` runs it there on purpose
   (check it with ``edgevision eval FILE --backend openvino``).
4. Otherwise a short probe times each candidate on the file, alternating in blocks, each
   block in a fresh process (:func:`edgevision.bench.proc.run_worker`: engines timed in
   one process fight with each other's spinning thread pools). The lowest median wins; a
   candidate within :data:`TIE` of ONNX Runtime loses to it (the reference engine, whose
   outputs the project's accuracy tables were measured with).
5. The result is cached in ``backend_choice.json`` under :func:`edgevision.io.cache_root`,
   keyed by the file's SHA-256, the CPU model and flags, the thread count and the engines'
   versions, so later runs on the same host start at once.

Candidates keep the file's precision (OpenVINO at its ``f32`` hint: a QDQ INT8 file still
runs INT8); ``bf16`` changes results and is only used when asked for
(``--backend openvino --ov-precision bf16``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgevision.errors import BackendUnavailable, ConfigError, EdgeVisionError

__all__ = ["AUTO_CANDIDATES", "ENV_VAR", "TIE", "BackendChoice", "choose_backend"]

AUTO_CANDIDATES = ("onnxruntime", "openvino")
"""CPU engines ``auto`` chooses among, in order of preference at equal speed."""

ENV_VAR = "EDGEVISION_BACKEND"
TIE = 0.03
"""Relative margin within which ONNX Runtime is kept (timing noise of a short probe)."""

_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
_CACHE_NAME = "backend_choice.json"


@dataclass
class BackendChoice:
    """What ``--backend auto`` picked and why; recorded in JSON reports and run summaries.

    Attributes:
        backend: ``"onnxruntime"`` or ``"openvino"``.
        source: ``"env"``, ``"only"`` (one engine installed), ``"quantized"`` (an INT8
            file stays on ONNX Runtime), ``"probe"`` or ``"cache"``.
        reason: one line for the console.
        p50_ms: median ``engine.run`` milliseconds per candidate in the probe.
        key: the cache key (file hash, host, versions).
    """

    backend: str
    source: str
    reason: str
    p50_ms: dict[str, float] = field(default_factory=dict)
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _installed() -> list[str]:
    """The candidates whose package is importable (only theirs are looked up: a deployment
    without torch must not even search for it)."""
    import importlib.util

    return [b for b in AUTO_CANDIDATES if importlib.util.find_spec(_PACKAGES[b]) is not None]


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "-"


def _cache_key(path: Path, threads: int, candidates: list[str]) -> str:
    from edgevision.host import cpu_flags, machine_info
    from edgevision.io import file_sha256

    info = machine_info()
    parts = [
        file_sha256(path),
        str(info["cpu"]),
        ",".join(cpu_flags()),
        str(info["usable_cores"]),
        f"threads={threads}",
        *(f"{c}={_version(_PACKAGES[c])}" for c in candidates),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _cache_file() -> Path:
    from edgevision.io import cache_root

    return cache_root() / _CACHE_NAME


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, choice: BackendChoice) -> None:
    from edgevision.io import write_json_atomic

    data = _read_cache()
    data[key] = {"backend": choice.backend, "p50_ms": choice.p50_ms}
    with contextlib.suppress(OSError):  # a read-only home: probe again next time
        write_json_atomic(_cache_file(), data)


def _quantized(path: Path) -> bool:
    """Whether the file's edgevision metadata says INT8 or mixed precision."""
    from edgevision.export.metadata import read_metadata

    try:
        return read_metadata(path).get("edgevision.precision") in ("int8", "mixed")
    except EdgeVisionError:
        return False


def _probe(path: Path, candidates: list[str], threads: int, runs: int, blocks: int) -> dict:
    """Median ms per candidate; a candidate that fails to load is left out."""
    import numpy as np

    from edgevision.bench.proc import run_worker
    from edgevision.config import BenchConfig, to_dict

    samples: dict[str, list[float]] = {c: [] for c in candidates}
    failed: dict[str, str] = {}
    per_block = max(1, runs // blocks)
    for _ in range(blocks):
        for c in candidates:
            if c in failed:
                continue
            cfg = BenchConfig(backend=c, threads=threads, runs=per_block, warmup=3)  # type: ignore[arg-type]
            job = {
                "config": to_dict(cfg),
                "warmup": cfg.warmup,
                "target": str(path),
                "runs": per_block,
                "stages": False,
                "stage_runs": 0,
                "flops": False,
                "accuracy": False,
            }
            try:
                samples[c].extend(run_worker(job)["latency_ms"])
            except EdgeVisionError as e:
                failed[c] = str(e)
    p50 = {c: round(float(np.median(v)), 3) for c, v in samples.items() if v}
    return {"p50": p50, "failed": failed}


def _decide(p50: dict[str, float]) -> str:
    best = min(p50, key=lambda c: p50[c])
    ref = p50.get("onnxruntime")
    if ref is not None and best != "onnxruntime" and p50[best] > ref * (1 - TIE):
        return "onnxruntime"
    return best


def _reason(backend: str, p50: dict[str, float], source: str) -> str:
    times = ", ".join(f"{c} {ms:.2f} ms" for c, ms in sorted(p50.items(), key=lambda kv: kv[1]))
    when = "measured now" if source == "probe" else "cached probe"
    return f"{backend}: fastest p50 on this host ({times}; {when})"


def choose_backend(
    path: str | os.PathLike[str],
    *,
    threads: int = 2,
    runs: int = 16,
    blocks: int = 2,
    use_cache: bool = True,
) -> BackendChoice:
    """The CPU engine ``auto`` runs ``path`` (an ``.onnx`` file) on; see the module docstring.

    Args:
        path: an ``.onnx`` file with edgevision metadata.
        threads: the threads the model will run with (the probe uses the same).
        runs: timed calls per candidate over all blocks.
        blocks: rounds of alternation (fresh process each).
        use_cache: read and write the cached choice.

    Raises:
        BackendUnavailable: no CPU engine installed, or ``EDGEVISION_BACKEND`` names one that
            is not.
        ConfigError: ``EDGEVISION_BACKEND`` names an unknown engine.
        EdgeVisionError: every candidate failed to run the file (the first one's error).
    """
    p = Path(path)
    installed = _installed()
    pinned = os.environ.get(ENV_VAR, "").strip()
    if pinned:
        if pinned not in AUTO_CANDIDATES:
            raise ConfigError(
                f"{ENV_VAR}={pinned!r} is not a CPU engine auto can pin "
                f"(choose from {', '.join(AUTO_CANDIDATES)})"
            )
        if pinned not in installed:
            raise BackendUnavailable(f"{ENV_VAR}={pinned} but {pinned} is not installed")
        return BackendChoice(pinned, "env", f"{pinned}: pinned by {ENV_VAR}")
    if not installed:
        raise BackendUnavailable(
            "no CPU inference engine installed: pip install 'edgevision[onnx]' or "
            "'edgevision[openvino]'"
        )
    if len(installed) == 1:
        return BackendChoice(installed[0], "only", f"{installed[0]}: the only engine installed")
    if "onnxruntime" in installed and _quantized(p):
        return BackendChoice(
            "onnxruntime",
            "quantized",
            "onnxruntime: a quantized file runs where its accuracy was measured (OpenVINO's "
            "INT8 kernels change some models' accuracy; --backend openvino to use them)",
        )
    key = _cache_key(p, threads, installed)
    if use_cache:
        hit = _read_cache().get(key)
        if isinstance(hit, dict) and hit.get("backend") in installed:
            p50 = {str(k): float(v) for k, v in dict(hit.get("p50_ms") or {}).items()}
            return BackendChoice(
                str(hit["backend"]), "cache", _reason(str(hit["backend"]), p50, "cache"), p50, key
            )
    probe = _probe(p, installed, threads, runs, blocks)
    p50 = probe["p50"]
    if not p50:
        raise EdgeVisionError(next(iter(probe["failed"].values())))
    backend = _decide(p50)
    reason = _reason(backend, p50, "probe")
    if probe["failed"]:
        reason += "; failed: " + ", ".join(sorted(probe["failed"]))
    choice = BackendChoice(backend, "probe", reason, p50, key)
    if use_cache and not probe["failed"]:
        _write_cache(key, choice)
    return choice
