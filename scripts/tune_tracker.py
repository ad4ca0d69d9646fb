"""Tune the tracker's thresholds on synthetic videos from tuning seeds (never the report's).

Generates ``--videos`` validation videos per seed at each motion factor (``edgevision data
synth``), runs the model once per frame (boxes cached by frame content), then scores every
setting of a small grid of :class:`~edgevision.track.TrackerConfig` overrides with
:func:`~edgevision.evaluate.track.evaluate_tracking` and prints IDF1, MOTA and ID switches per
100 frames, pooled over the seeds. The model's boxes per frame are kept in
``WORK/boxes_MODELHASH.npz``, so a later grid on the same seeds runs no model.
``edgevision report tracking`` scores the chosen defaults on seed 11, which this script
refuses::

    python scripts/tune_tracker.py WEIGHTS --seeds 3,4,5,6 --work runs/tune_tracker
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.io import file_sha256

REPORT_SEED = 11  # edgevision report tracking's seed: never tuned on


def load_boxes(predictor: Any, path: Path) -> None:
    """Fill ``predictor``'s frame cache from ``path`` (written by :func:`save_boxes`)."""
    from edgevision.results import Detections

    if not path.is_file():
        return
    with np.load(path) as z:
        names = [str(n) for n in z["class_names"]]
        size = tuple(int(v) for v in z["image_size"])
        for key in {k.rsplit("_", 1)[0] for k in z.files if k.endswith("_boxes")}:
            predictor.cache[bytes.fromhex(key)] = Detections(
                z[f"{key}_boxes"], z[f"{key}_scores"], z[f"{key}_classes"], names, size
            )
    print(f"{len(predictor.cache)} frames' boxes from {path}", flush=True)


def save_boxes(predictor: Any, path: Path) -> None:
    """Write ``predictor``'s frame cache (boxes, scores, classes per frame hash) to ``path``."""
    if not predictor.cache:
        return
    arrays: dict[str, np.ndarray] = {}
    for key, d in predictor.cache.items():
        h = key.hex()
        arrays[f"{h}_boxes"] = np.asarray(d.boxes)
        arrays[f"{h}_scores"] = np.asarray(d.scores)
        arrays[f"{h}_classes"] = np.asarray(d.class_ids)
    any_d = next(iter(predictor.cache.values()))
    arrays["class_names"] = np.asarray(list(any_d.class_names))
    arrays["image_size"] = np.asarray(any_d.image_size)
    tmp = path.with_name(f".{path.name}.partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="ONNX file of a detection or instance model")
    ap.add_argument("--seeds", default="3,4,5,6")
    ap.add_argument("--motions", default="1")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--work", default="runs/tune_tracker")
    ap.add_argument("--tracker", default="bytetrack")
    ap.add_argument("--nms-iou", type=float, default=None, help="the model's NMS IoU")
    ap.add_argument(
        "--grid",
        default="{}",
        help="JSON: option -> list of values, e.g. '{\"max_lost\": [30, 60]}'",
    )
    args = ap.parse_args()

    from edgevision.data.synth import SynthConfig, generate
    from edgevision.evaluate.track import evaluate_tracking
    from edgevision.reports.tracking import _BoxesOnce
    from edgevision.runtime import Predictor, load_engine

    seeds = [int(s) for s in args.seeds.split(",")]
    if REPORT_SEED in seeds:
        raise SystemExit(f"seed {REPORT_SEED} is the report's held-out seed; tune on others")
    grid: dict[str, list[Any]] = json.loads(args.grid)
    predictor = _BoxesOnce(
        Predictor(load_engine(args.model, threads=2), conf=0.05, iou=args.nms_iou)
    )
    cache = Path(args.work) / f"boxes_{file_sha256(args.model)[:16]}_nms{args.nms_iou}.npz"
    load_boxes(predictor, cache)
    sets = []
    for seed in seeds:
        for m in (float(x) for x in args.motions.split(",")):
            ds = Path(args.work) / f"seed{seed}_motion{m:g}"
            if not (ds / "annotations").is_dir():
                cfg = SynthConfig(
                    seed=seed, image_size=(240, 320), train_images=0, val_images=0,
                    train_videos=0, val_videos=args.videos, frames=args.frames,
                    motion_range=(m, m), write_mp4=False,
                )  # fmt: skip
                generate(ds, cfg, overwrite=True, progress=False)
            sets.append(ds)
    keys = list(grid)
    first = True
    for values in itertools.product(*(grid[k] for k in keys)):
        opts = dict(zip(keys, values, strict=True))
        idf1 = mota = 0.0
        switches = frames = 0
        per = []
        for ds in sets:
            t = evaluate_tracking(
                predictor, ds, "val", tracker=args.tracker, tracker_options=opts, progress=False
            ).metrics["tracking"]["overall"]
            idf1 += t["idf1"] / len(sets)
            mota += t["mota"] / len(sets)
            switches += t["num_switches"]
            frames += t["num_frames"]
            per.append(f"{100 * t['num_switches'] / t['num_frames']:.2f}")
        if first:  # every frame has run through the model once: keep its boxes
            save_boxes(predictor, cache)
            first = False
        print(
            f"{json.dumps(opts):60s} IDF1 {idf1:.3f}  MOTA {mota:.3f}  "
            f"switches/100 {100 * switches / frames:.2f}  per set {' '.join(per)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
