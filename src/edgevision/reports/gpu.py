"""The GPU page: what ``scripts/gpu_check.sh`` measured on one CUDA machine.

The script benches DDRNet-23-slim, ``yolo_ret_m075`` and YOLACT MobileNetV2 550 in
FP32/FP16/INT8 on TensorRT and ONNX Runtime's CUDA execution provider with
``edgevision bench --json``, runs one ``edgevision run`` stream, and records in its results
folder:

- ``rows.jsonl``: one line per planned row, ``{"model", "engine", "precision", "command",
  "json"}`` (the bench JSON, relative to the folder) or ``"error"`` (the command's last
  line: the row was skipped, e.g. an option this version lacks or a backend that is missing);
- ``gpu.txt``: ``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader``;
- ``tests.txt`` (optional): the last line of ``pytest -m "gpu or trt"``;
- ``stream.json`` and ``stream.cmd`` (optional): the run's summary and its command.

:func:`gpu_report` reads only those files: the engine and precision of each row are taken
from its bench JSON (the engine that ran, e.g. CPU when a CUDA provider fell back), never
from the plan, and the issue's targets (TensorRT FP16 ≥ 2× FP32 on DDRNet-23-slim, INT8 ≥
1.3× FP16, YOLACT MobileNetV2 550 INT8 ≥ 150 FPS) are computed from the rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgevision.errors import DataError
from edgevision.host import machine_info
from edgevision.io import write_json_atomic, write_text_atomic

__all__ = ["engine_label", "gpu_report", "read_rows"]

PRECISIONS = ("fp32", "fp16", "int8")


def engine_label(result: dict[str, Any]) -> str:
    """The engine a bench result ran on: ``TensorRT``, ``ORT CUDA EP``, ``ORT TensorRT EP``,
    ``ORT CPU`` … from its backend and the session's first provider."""
    backend = str(result.get("backend", "?"))
    if backend == "tensorrt":
        return "TensorRT"
    if backend != "onnxruntime":
        return backend
    providers = [str(p) for p in (result.get("meta") or {}).get("providers") or []]
    first = providers[0] if providers else "CPUExecutionProvider"
    return "ORT " + {
        "CUDAExecutionProvider": "CUDA EP",
        "TensorrtExecutionProvider": "TensorRT EP",
        "CPUExecutionProvider": "CPU",
    }.get(first, first)


def read_rows(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of ``folder/rows.jsonl``, each with its bench result (``"result"``) loaded.

    Raises:
        DataError: the manifest is missing or a line or a named JSON is unreadable.
    """
    folder = Path(folder)
    manifest = folder / "rows.jsonl"
    if not manifest.is_file():
        raise DataError(f"{manifest} not found (written by scripts/gpu_check.sh)")
    rows = []
    for n, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row.get("json"):
                row["result"] = json.loads((folder / row["json"]).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"{manifest}:{n}: {e}") from None
        rows.append(row)
    return rows


def _fps(row: dict[str, Any]) -> float | None:
    r = row.get("result")
    return float(r["fps"]) if r and r.get("fps") else None


def _e2e_fps(row: dict[str, Any]) -> float | None:
    stages = (row.get("result") or {}).get("stages_ms") or {}
    total = stages.get("total")
    return 1000.0 / total if total else None


def _find(rows: list[dict[str, Any]], model: str, engine: str, precision: str) -> Any:
    return next(
        (
            r
            for r in rows
            if r["model"] == model
            and r.get("result")
            and engine_label(r["result"]) == engine
            and r["result"].get("precision") == precision
        ),
        None,
    )


def _ratio(a: Any, b: Any) -> float | None:
    fa, fb = (_fps(a) if a else None), (_fps(b) if b else None)
    return fa / fb if fa and fb else None


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each ``{"target", "value", "met"}`` (``None``: not measured)."""
    ddr = "ddrnet23_slim"
    fp32, fp16 = _find(rows, ddr, "TensorRT", "fp32"), _find(rows, ddr, "TensorRT", "fp16")
    int8 = _find(rows, ddr, "TensorRT", "int8")
    yolact = _find(rows, "yolact_mobilenetv2", "TensorRT", "int8")
    r16, r8 = _ratio(fp16, fp32), _ratio(int8, fp16)
    e2e = _e2e_fps(yolact) if yolact else None
    return [
        {"target": "DDRNet-23-slim TensorRT FP16 / FP32 ≥ 2×", "value": r16, "goal": 2.0},
        {"target": "DDRNet-23-slim TensorRT INT8 / FP16 ≥ 1.3×", "value": r8, "goal": 1.3},
        {
            "target": "YOLACT MobileNetV2 550 TensorRT INT8 end to end ≥ 150 FPS",
            "value": e2e,
            "goal": 150.0,
        },
    ]


def _fmt(v: float | None, nd: int = 1, unit: str = "") -> str:
    return "–" if v is None else f"{v:.{nd}f}{unit}"


def gpu_report(folder: str | Path, *, out: str | Path, command: str) -> dict[str, Any]:
    """Write the GPU page from a ``scripts/gpu_check.sh`` results folder.

    Args:
        folder: the script's results folder (see the module docstring).
        out: the Markdown page (its data goes next to it as ``.json``).
        command: the command line, named on the page.

    Returns:
        ``{"gpu", "rows", "targets", "stream", "tests"}`` as written to the JSON.

    Raises:
        DataError: no GPU recorded (``gpu.txt`` missing or empty), or unreadable rows.
    """
    folder = Path(folder)
    gpu_file = folder / "gpu.txt"
    gpu = gpu_file.read_text().strip() if gpu_file.is_file() else ""
    if not gpu:
        raise DataError(
            f"no GPU recorded in {folder} (gpu.txt); the page is written only from a run of "
            "scripts/gpu_check.sh on a CUDA machine"
        )
    rows = read_rows(folder)
    tests = (folder / "tests.txt").read_text().strip() if (folder / "tests.txt").is_file() else ""
    stream = None
    if (folder / "stream.json").is_file():
        stream = json.loads((folder / "stream.json").read_text())
    stream_cmd = (folder / "stream.cmd").read_text().strip() if stream else ""
    mi = machine_info()
    tg = targets(rows)

    lines = [
        "# GPU: TensorRT and the CUDA execution provider",
        "",
        f"Written by `{command}` from the results of `scripts/gpu_check.sh` — do not edit by "
        f"hand. GPU: {gpu} (nvidia-smi: name, driver, memory). Host CPU: {mi['cpu']}, "
        f"{mi['usable_cores']} usable cores.",
        "",
        "Engine-only latency and FPS from `edgevision bench --json` (engine.run on a fixed "
        "random input, batch 1, a fresh process); e2e FPS = 1000 / the p50 of preprocess + "
        "inference + postprocess of the Predictor path where it was timed. Engine and "
        "precision are those the bench result reports (a CUDA provider that fell back to the "
        "CPU shows as ORT CPU). Untrained models are timed for speed only.",
        "",
        "| model | engine | precision | p50 ms | FPS | e2e FPS | × FP32 (same engine) | note |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        res = row.get("result")
        if res is None:
            note = str(row.get("error") or "not run").replace("|", "\\|")
            lines.append(
                f"| {row['model']} | {row['engine']} | {row['precision']} | – | – | – | – | "
                f"skipped: {note} |"
            )
            continue
        eng = engine_label(res)
        base = _find(rows, row["model"], eng, "fp32")
        ratio = _ratio(row, base) if base is not None and base is not row else None
        note = "" if res.get("precision") == row["precision"] else f"asked {row['precision']}"
        lines.append(
            f"| {row['model']} | {eng} | {res.get('precision', '?')} | "
            f"{_fmt(res['latency_ms']['p50'], 3)} | {_fmt(_fps(row))} | "
            f"{_fmt(_e2e_fps(row))} | {_fmt(ratio, 2, '×')} | {note} |"
        )
    lines += ["", "## Targets (issue 33)", "", "| target | measured | met |", "|---|---:|---|"]
    for t in tg:
        v = t["value"]
        t["met"] = None if v is None else bool(v >= t["goal"])
        unit = "" if "FPS" in t["target"] else "×"
        met = "not measured" if v is None else ("yes" if t["met"] else "no")
        lines.append(f"| {t['target']} | {_fmt(v, 2, unit)} | {met} |")
    if stream is not None:
        st = stream.get("streams", [{}])[0]
        dec = st.get("decoder") or {}
        enc = stream.get("encoder") or {}
        lines += [
            "",
            "## One stream (`edgevision run`)",
            "",
            f"`{stream_cmd}`",
            "",
            f"- decoder: {dec.get('element', '?')} ({dec.get('reason', '')})",
            f"- encoder: {enc.get('element', 'none')} ({enc.get('reason', '')})",
            f"- model: {(stream.get('model') or {}).get('name', '?')}",
            f"- {stream.get('frames_processed')} frames, {stream.get('aggregate_fps')} FPS "
            f"end to end, engine-only {stream.get('engine_only_fps')} FPS "
            f"(ratio {stream.get('e2e_over_engine')})",
        ]
    if tests:
        lines += ["", "## GPU tests", "", f"`pytest -m 'gpu or trt'`: {tests}"]
    write_text_atomic(out, "\n".join(lines) + "\n")
    data = {
        "gpu": gpu,
        "machine": mi,
        "command": command,
        "rows": rows,
        "targets": tg,
        "stream": stream,
        "tests": tests,
    }
    write_json_atomic(Path(out).with_suffix(".json"), data)
    return data
