"""Helpers of ``make demo`` (``scripts/demo.sh``): pick the model, write the report.

``python -m edgevision.stream.demo pick [WEIGHTS_DIR]`` prints shell assignments
(``MODEL=… TASK=… INT8=… TRAINED=…``) for the best shipped model: instance before detection
before segmentation; an INT8 ONNX of the same architecture is used for the FP32-vs-INT8 row.
Without shipped weights it names an untrained registry model and says so.

``python -m edgevision.stream.demo calib DIR [N]`` writes N frames of a synthetic scene to
calibrate the INT8 components. ``python -m edgevision.stream.demo report OUT_DIR`` reads the ``run_*.json`` summaries that
``edgevision run --summary`` wrote there and writes ``OUT_DIR/report.md`` (with the tracks of
the ``demo.mp4`` run, which tracks detection and instance models with ByteTrack).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from edgevision.io import CHECKPOINT_SUFFIXES, ONNX_SUFFIXES

TASK_ORDER = ("instance", "detect", "semantic")
FALLBACK = ("yolact_mobilenetv2_320", "yolo_ret_m075", "deeplabv3plus_mobilenetv2")


def _describe(path: Path) -> tuple[str, str, str] | None:
    """(task, architecture, precision) of a model file, or None when it is not one of ours."""
    try:
        if path.suffix.lower() in ONNX_SUFFIXES:
            from edgevision.export.metadata import PRECISION_KEY, read_metadata, read_spec

            spec = read_spec(path)
            return spec.task, spec.name, read_metadata(path).get(PRECISION_KEY, "fp32")
        from edgevision.checkpoint import read_spec as read_ckpt_spec

        spec = read_ckpt_spec(path)
        return spec.task, spec.name, "fp32"
    except Exception:  # not a usable model file: skip it, but say so
        print(f"# skipped {path} (not an edgevision model)", file=sys.stderr)
        return None


def pick_model(weights: Path) -> dict[str, str]:
    """The demo's model: ``{"MODEL", "TASK", "INT8", "CKPT", "TRAINED", "WHY"}``.

    ``CKPT`` is a PyTorch form of the same model (checkpoint or registry name) for the
    per-frame vs video-mode rows, or empty.
    """
    found: list[tuple[int, int, str, Path, str]] = []
    if weights.is_dir():
        for p in sorted(weights.rglob("*")):
            if p.suffix.lower() not in ONNX_SUFFIXES + CHECKPOINT_SUFFIXES or not p.is_file():
                continue
            d = _describe(p)
            if d is None or d[0] not in TASK_ORDER:
                continue
            task, name, precision = d
            kind = 0 if p.suffix.lower() in ONNX_SUFFIXES else 1
            found.append((TASK_ORDER.index(task), kind, precision, p, name))
    fp32 = [f for f in found if f[2] != "int8"]
    if fp32:
        rank, _, _, path, name = min(fp32, key=lambda f: (f[0], f[1], str(f[3])))
        # forms of the same weights: same model, same weights folder (two folders may ship
        # different weights of one architecture)
        same = [f for f in found if f[4] == name and f[3].parent == path.parent]
        int8 = next((f[3] for f in same if f[2] == "int8"), "")
        ckpt = next((f[3] for f in same if f[1] == 1), "")
        return {
            "MODEL": str(path),
            "TASK": TASK_ORDER[rank],
            "INT8": str(int8),
            "CKPT": str(ckpt),
            "TRAINED": "1",
            "WHY": f"shipped weights {path} ({name})",
        }
    from edgevision.registry import get_entry, list_models

    names = set(list_models())
    for name in FALLBACK:
        if name in names:
            return {
                "MODEL": name,
                "TASK": get_entry(name).task,
                "INT8": "",
                "CKPT": name,
                "TRAINED": "0",
                "WHY": f"no weights under {weights}/ yet: registry model {name} with RANDOM "
                "weights (the overlay shows the pipeline working, not a trained model)",
            }
    raise SystemExit("no model available for the demo")


def _row(label: str, s: dict[str, Any]) -> str:
    inf = s["stages_ms"]["inference"]
    lat = s["stages_ms"]["latency"]
    engine_fps = s.get("engine_only_fps") or float("nan")
    e2e = s["aggregate_fps"] or 0.0
    m = s["model"]
    return (
        f"| {label} | {m.get('backend', '?')} | {m.get('precision', '?')} | "
        f"{s['frames_processed']} | {e2e:.2f} | {inf.get('p50', 0):.1f} | {engine_fps:.2f} | "
        f"{e2e / engine_fps:.0%} | {lat.get('p99', 0):.0f} | {s['frames_dropped']} |"
    )


LABELS = {
    "perframe_fp32": "per-frame, FP32",
    "default": "default video path (`run --video`)",
    "perframe_int8": "per-frame, INT8",
    "output": "default video path, writing demo.mp4 (not in the comparison)",
}
"""Run names (``run_<name>[_r<round>].json``) and their rows, in table order."""

_SUMMARY_RE = re.compile(r"^run_([a-z0-9_]+?)(?:_r(\d+))?\.json$")


def _median_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of several rounds of a run: the median of each figure the report shows."""
    import numpy as np

    def med(values: list[Any]) -> Any:
        vals = [v for v in values if v is not None]
        return float(np.median(vals)) if vals else None

    out = dict(runs[0])
    out["engine_only_fps"] = med([r.get("engine_only_fps") for r in runs])
    out["aggregate_fps"] = med([r.get("aggregate_fps") for r in runs])
    out["stages_ms"] = {
        k: {q: med([r["stages_ms"][k].get(q) for r in runs]) for q in ("p50", "p99")}
        for k in ("inference", "latency")
    }
    out["rounds"] = len(runs)
    return out


def read_runs(out: Path) -> dict[str, dict[str, Any]]:
    """The ``run_*.json`` summaries in ``out`` by run name, rounds merged
    (:func:`_median_summary`); names not in :data:`LABELS` are ignored."""
    by_name: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for f in sorted(out.glob("run_*.json")):
        m = _SUMMARY_RE.match(f.name)
        if m is None or m.group(1) not in LABELS:
            continue
        by_name.setdefault(m.group(1), []).append((int(m.group(2) or 0), json.loads(f.read_text())))
    return {
        name: _median_summary([s for _, s in sorted(runs, key=lambda r: r[0])])
        for name in LABELS
        if (runs := by_name.get(name))
    }


def write_report(out: Path, note: str = "") -> Path:
    """``out/report.md`` from the run summaries in ``out``.

    ``scripts/demo.sh`` runs the compared modes in alternating rounds (per-frame FP32,
    default video path, per-frame INT8, then again), every one with the same outputs (no
    video written, no JSONL), and writes ``demo.mp4`` in a separate run that is not
    compared: the ratio is the median over rounds of engine-only FPS.
    """
    import platform

    runs = read_runs(out)
    video = "default" in runs
    rows = []
    for name, s in runs.items():
        label = LABELS[name]
        if name == "perframe_fp32" and "output" not in runs:
            label += " — demo.mp4"
        if s.get("rounds", 1) > 1:
            label += f" (median of {s['rounds']} rounds)"
        rows.append(_row(label, s))
    model = runs.get("default", {}).get("model", {})
    lines = [
        "# edgevision demo report",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; 2 engine threads. "
        "Written by `python -m edgevision.stream.demo report` from the `run_*.json` summaries "
        "of `edgevision run` (see `scripts/demo.sh` for the exact commands). The compared runs "
        "alternate (per-frame FP32, default video path, per-frame INT8, and again) and write "
        "the same outputs (none but the summary); `demo.mp4` comes from a separate run.",
        "",
        f"Model: {note}" if note else "",
        "",
        "| run | engine | precision | frames | end-to-end FPS | inference p50 ms | "
        "engine-only FPS | e2e / engine | latency p99 ms | dropped |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "*engine-only FPS* = frames / time spent in the model call alone, in the same run; "
        "*e2e / engine* shows how much decoding, pre/post-processing, drawing and encoding "
        "overlap with inference. *latency* runs from the frame entering the pipeline's queue "
        "to its result. Files are processed without drops (back-pressure); live sources "
        "drop the oldest frame instead.",
    ]
    if video and "perframe_fp32" in runs:
        v, f = runs["default"], runs["perframe_fp32"]
        ratio = (v.get("engine_only_fps") or 0) / max(f.get("engine_only_fps") or 1e-9, 1e-9)
        lines += [
            "",
            f"Default video path ({model.get('mode', 'video mode')}) vs per-frame FP32, "
            f"engine only: {ratio:.2f}× the frames per second (median of "
            f"{min(v.get('rounds', 1), f.get('rounds', 1))} alternating round(s)). "
            "`edgevision video COMPONENTS --data DIR --compare` measures the same ratio on "
            "annotated videos, with mask AP.",
        ]
    if "perframe_int8" not in runs:
        lines += [
            "",
            "FP32 vs INT8: no INT8 model of this architecture is shipped under "
            "`weights/` yet, so there is no INT8 row.",
        ]
    if not video:
        lines += [
            "",
            "Per-frame vs video mode: the demo model is not an instance model with "
            "a video mode, so there is no video-mode row.",
        ]
    lines += _track_lines(out, video)
    path = out / "report.md"
    from edgevision.io import write_text_atomic

    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _track_lines(out: Path, video: bool) -> list[str]:
    """The tracks of the demo.mp4 run (its summary's ``tracking``), as a markdown table."""
    f = out / ("run_output.json" if video else "run_perframe_fp32.json")
    if not f.is_file():
        return []
    streams = json.loads(f.read_text()).get("streams") or [{}]
    t = streams[0].get("tracking")
    if t is None:  # a segmentation model: nothing to track
        return []
    lines = [
        "",
        f"## Tracks in demo.mp4 ({t['tracker']})",
        "",
        f"{t['tracks_started']} tracks started, {t['tracks_ended']} ended (lost for more "
        f"than the tracker's max_lost frames), {t['tracks_active']} active at the end. The "
        "overlay labels each object `#ID`; demo.jsonl has `track_ids` per frame.",
        "",
        "| track | class | first frame | last frame | frames seen |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| #{r['id']} | {r['label']} | {r['first_frame']} | {r['last_frame']} | {r['frames']} |"
        for r in t.get("tracks", [])
    ]
    return lines


def write_calibration_frames(folder: Path, n: int = 16) -> Path:
    """``n`` frames of the sample scene (another seed than the sample video) as PNGs in
    ``folder``, for calibrating the demo's INT8 components."""
    import cv2

    from edgevision.stream.sample import sample_frames

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(sample_frames(seed=7, frames=n)):
        cv2.imwrite(str(folder / f"calib_{i:03d}.png"), f[..., ::-1])
    return folder


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["pick"]:
        picked = pick_model(Path(args[1] if len(args) > 1 else "weights"))
        for k, v in picked.items():
            print(f"{k}={shlex.quote(v)}")
    elif args[:1] == ["calib"] and len(args) >= 2:
        print(write_calibration_frames(Path(args[1]), int(args[2]) if len(args) > 2 else 16))
    elif args[:1] == ["report"] and len(args) >= 2:
        print(write_report(Path(args[1]), args[2] if len(args) > 2 else ""))
    else:
        raise SystemExit(
            "usage: python -m edgevision.stream.demo pick [WEIGHTS] | calib DIR [N] | "
            "report OUT [NOTE]"
        )


if __name__ == "__main__":
    main()
