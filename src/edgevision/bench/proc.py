"""One benchmark job in a fresh ``python -m edgevision.bench.worker`` process.

Shared by the harness (:mod:`edgevision.bench.harness`) and the ``--backend auto`` probe
(:mod:`edgevision.bench.choose`): engines timed in one process fight with each other's
spinning thread pools, so every timed block runs in its own process.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgevision.errors import (
    BackendUnavailable,
    CheckpointError,
    ConfigError,
    DataError,
    EdgeVisionError,
    ExportError,
    ModelFileError,
    ModelNotFoundError,
)

__all__ = ["WorkerError", "run_worker"]

# worker error type name -> class (an explicit table, never a globals() lookup)
_ERRORS: dict[str, type[EdgeVisionError]] = {
    c.__name__: c
    for c in (
        EdgeVisionError,
        ConfigError,
        DataError,
        ModelNotFoundError,
        CheckpointError,
        BackendUnavailable,
        ExportError,
        ModelFileError,
    )
}


class WorkerError(EdgeVisionError):
    """The benchmark worker process crashed (not a user error it reported itself)."""


def _package_root() -> str:
    import edgevision

    return str(Path(edgevision.__file__).resolve().parent.parent)


def run_worker(
    job: dict[str, Any],
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run one job in a fresh ``python -m edgevision.bench.worker`` and return its raw result.

    Raises:
        EdgeVisionError: (the same subclass as in the worker) with the worker's one-line
            message; :class:`WorkerError` if it crashed without one.
    """
    from edgevision.bench.worker import ERROR, PROGRESS, set_thread_env

    env = dict(os.environ)
    set_thread_env(int(job["config"]["threads"]), env)
    root = _package_root()
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    tail: collections.deque[str] = collections.deque(maxlen=40)
    error: dict[str, str] | None = None
    with tempfile.TemporaryDirectory(prefix="edgevision-worker-") as tmp:
        job_path = Path(tmp) / "job.json"
        out_path = Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        cmd = [
            sys.executable,
            "-m",
            "edgevision.bench.worker",
            str(job_path),
            "--out",
            str(out_path),
        ]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith(PROGRESS):
                    if on_progress is not None:
                        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                            msg = json.loads(line[len(PROGRESS) :])
                            on_progress(str(msg["phase"]), int(msg["done"]), int(msg["total"]))
                elif line.startswith(ERROR):
                    try:
                        error = json.loads(line[len(ERROR) :])
                    except json.JSONDecodeError:
                        error = {"type": "WorkerError", "message": line[len(ERROR) :]}
                elif line.strip():
                    tail.append(line)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code == 0 and out_path.is_file():
            return dict(json.loads(out_path.read_text()))
    if error is not None:
        cls = _ERRORS.get(str(error.get("type")))
        message = str(error.get("message", "")).strip() or f"worker exited with code {code}"
        if cls is not None:
            raise cls(message)
        err = WorkerError(f"benchmark of {job['target']} failed: {message}")
    else:
        last = tail[-1] if tail else "no output"
        err = WorkerError(f"benchmark worker for {job['target']} exited with code {code}: {last}")
    err.log = "\n".join(tail)  # type: ignore[attr-defined]
    raise err
