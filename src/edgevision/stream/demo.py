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
    "run_video_fp32.json": "video mode (YolactEdge fixed:5), FP32 components — demo.mp4",
    "run_perframe_fp32.json": "per-frame, FP32",
    "run_video_int8.json": "video mode (fixed:5), INT8 components (FPN + head FP32)",
    "run_perframe_int8.json": "per-frame, INT8",
}


def write_report(out: Path, note: str = "") -> Path:
    """``out/report.md`` from the run summaries in ``out``."""
    import platform

    rows = []
    model = None
    video = (out / "run_video_fp32.json").is_file()
    for fname, label in LABELS.items():
        f = out / fname
        if f.is_file():
            s = json.loads(f.read_text())
            model = model or s["model"]
            if fname == "run_perframe_fp32.json" and not video:
                label += " — demo.mp4"
            rows.append(_row(label, s))
    lines = [
        "# edgevision demo report",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; 2 engine threads. "
        "Written by `python -m edgevision.stream.demo report` from the `run_*.json` summaries "
        "of `edgevision run` (see `scripts/demo.sh` for the exact commands).",
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
    if video and (out / "run_perframe_fp32.json").is_file():
        v = json.loads((out / "run_video_fp32.json").read_text())
        f = json.loads((out / "run_perframe_fp32.json").read_text())
        ratio = (v.get("engine_only_fps") or 0) / max(f.get("engine_only_fps") or 1e-9, 1e-9)
        lines += [
            "",
            f"Video mode vs per-frame, FP32, engine only: {ratio:.2f}× the frames per second "
            "(keyframes every 5 frames; the others reuse the keyframe's warped features).",
        ]
    if not (out / "run_perframe_int8.json").is_file():
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
    f = out / ("run_video_fp32.json" if video else "run_perframe_fp32.json")
    if not f.is_file():
        return []
    st = json.loads(f.read_text())["streams"][0]
    t = st.get("tracking")
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
