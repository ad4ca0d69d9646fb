"""Tune the adaptive keyframe policy against fixed intervals on a YouTube-VIS-layout split.

Runs the torch video session with mask propagation (DIS flow by default) over every video of
the split for fixed:K and a grid of :class:`~edgevision.video.keyframes.AdaptiveKeyframes`
settings, and prints keyframe share, mask AP and box AP per setting (times are single-pass
torch times, only indicative: ``edgevision report instance`` measures speed). Tune on
``train``, then check the chosen setting once on ``val``::

    python scripts/tune_keyframes.py WEIGHTS --data runs/synth_video --split train
"""

from __future__ import annotations

import argparse
import itertools

import torch

from edgevision.checkpoint import load_model
from edgevision.video.evaluate import run_video
from edgevision.video.keyframes import AdaptiveKeyframes, KeyframePolicy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--propagate", default="dis", help="dis | dis:medium | featflownet")
    ap.add_argument("--fixed", default="4,5", help="fixed intervals to run")
    ap.add_argument("--max", default="6,8,12", help="adaptive max_interval values")
    ap.add_argument("--residual", default="0.005,0.0075,0.01,0.015")
    ap.add_argument("--motion", default="0.03,0.05,1.0", help="1.0 = motion test off")
    ap.add_argument("--anticipate", default="1,0", help="1: also anticipate; 0: promote only")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights).eval()

    def go(name: str, policy: str | KeyframePolicy) -> None:
        with torch.inference_mode():
            r = run_video(model, args.data, split=args.split, keyframes=policy,  # type: ignore[arg-type]
                          propagate=args.propagate)  # fmt: skip
        print(f"{name:44s} keyframes {100 * r.keyframe_fraction:5.1f} %  ms {r.ms_per_frame:5.1f}"
              f"  mask AP {r.mask_ap:.4f}  box AP {r.box_ap:.4f}", flush=True)  # fmt: skip

    for k in args.fixed.split(","):
        go(f"fixed:{k}", f"fixed:{k}")
    grid = [[float(v) for v in s.split(",")]
            for s in (args.max, args.residual, args.motion, args.anticipate)]  # fmt: skip
    for mx, rt, mt, an in itertools.product(*grid):
        policy = AdaptiveKeyframes(max_interval=int(mx), motion_threshold=mt,
                                   residual_threshold=rt, anticipate=bool(an))  # fmt: skip
        go(f"adaptive max={int(mx)} residual>{rt} motion>{mt}{' ant' if an else ''}", policy)


if __name__ == "__main__":
    main()
