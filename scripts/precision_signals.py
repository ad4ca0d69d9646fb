"""How well cheap per-frame signals predict what a more accurate engine gains (issue 32).

On the keyframes (every 2nd frame, as the default video path) of the ``val`` videos of DATA,
runs the ``mixed`` and the ``int8`` component folders, scores each keyframe's mask AP alone,
and records the signals a precision policy can see: the change since the last keyframe, and
counts, sizes and scores of a result — the last keyframe's (``--result last``, what a policy
sees before choosing; the first frame of each video, which has none, is left out) or this
frame's INT8 result (``--result int8``, what a cascade that re-runs unsure frames would see).
Prints each signal's linear correlation with the per-keyframe gain (mixed − int8 mask AP).
Single-frame AP is noisy, which pulls correlations towards zero; read them as "how much a
linear policy over the signal could find", not as a bound for every policy::

    python scripts/precision_signals.py runs/synth_9761 --mixed runs/instance_report_varied/int8_fpn__head_fp32 --int8 runs/instance_report_varied/all_int8 --json runs/vq3/signals_9761.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

SIGNALS = ("change", "detections", "ambiguous", "min_area", "best_score", "mean_score")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="YouTube-VIS video folder (edgevision data synth)")
    ap.add_argument("--mixed", required=True, help="component folder of the mixed engine")
    ap.add_argument("--int8", required=True, help="component folder of the all-INT8 engine")
    ap.add_argument(
        "--result",
        choices=["last", "int8"],
        default="last",
        help="whose result the signals read: the network's last frame (mixed; what a policy "
        "sees before choosing, default) or this frame's INT8 result (what a cascade that runs "
        "INT8 first and re-runs unsure frames would see)",
    )
    ap.add_argument("--json", help="write the per-frame rows here")
    args = ap.parse_args()

    import cv2

    from edgevision.evaluate.video import VideoEvaluator, load_ytvis_json
    from edgevision.io import read_image
    from edgevision.video.evaluate import make_session, video_frames
    from edgevision.video.ort import ComponentSet
    from edgevision.video.precision import change_fraction

    engines = {"mixed": ComponentSet(args.mixed), "int8": ComponentSet(args.int8)}
    videos, ann = video_frames(args.data, "val")
    if ann is None:
        raise SystemExit(f"{args.data}: no annotations/ytvis_val.json")
    gt = load_ytvis_json(ann)
    rows = []
    for vid, frames in videos:
        sessions = {p: make_session(e, keyframes="none") for p, e in engines.items()}
        last_grey = last = None
        for t, f in enumerate(frames):
            if t % 2:  # keyframes only: the policy chooses nothing on the others
                continue
            img = read_image(f)
            grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            ap_of = {}
            res = {}
            for p, s in sessions.items():
                res[p] = s(img)
                ev = VideoEvaluator(gt, ("segm",))
                ev.add(vid, t, res[p])
                ap_of[p] = ev.summarize()["segm"]["AP"]
            r = res["int8"] if args.result == "int8" else last
            if r is None:  # the first keyframe: no earlier result to read
                last_grey, last = grey, res["mixed"]
                continue
            sc = np.asarray(r.scores, float)
            keep = sc >= 0.3
            area = (r.boxes[:, 2] - r.boxes[:, 0]) * (r.boxes[:, 3] - r.boxes[:, 1])
            area = np.asarray(area, float) / (img.shape[0] * img.shape[1])
            rows.append({
                "video": vid, "frame": t, "gain": ap_of["mixed"] - ap_of["int8"],
                "change": 1.0 if last_grey is None else change_fraction(grey, last_grey),
                "detections": int(keep.sum()),
                "ambiguous": int(((sc >= 0.1) & (sc < 0.5)).sum()),
                "min_area": float(area[keep].min()) if keep.any() else 0.0,
                "best_score": float(sc.max()) if len(sc) else 0.0,
                "mean_score": float(sc[keep].mean()) if keep.any() else 0.0,
            })  # fmt: skip
            last_grey, last = grey, res["mixed"]
    gain = np.array([r["gain"] for r in rows], float)
    ok = np.isfinite(gain)
    print(
        f"{len(rows)} keyframes; mean gain of mixed over int8: {100 * gain[ok].mean():.1f} mask AP"
    )
    print("| signal | correlation with the gain |\n|:---|---:|")
    for k in SIGNALS:
        x = np.array([r[k] for r in rows], float)[ok]
        c = np.corrcoef(x, gain[ok])[0, 1] if x.std() > 0 else float("nan")
        print(f"| {k} | {c:+.3f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh)


if __name__ == "__main__":
    main()
