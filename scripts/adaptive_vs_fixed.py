"""Adaptive precision against the fixed precisions it chooses among, from ``edgevision video
--precision-sweep --json`` files (``docs/results/video_precision.md``).

For each ``S_SEED_adaptive:TIERS.json`` in FOLDER: the adaptive row's mask AP against the
piecewise-linear curve through the same run's fixed rows of those tiers at the adaptive row's
measured ms, and against a content-blind mix with the same keyframe shares. Prints a markdown
table::

    python3 scripts/adaptive_vs_fixed.py runs/vq2
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

NAMES = {
    "9732": "varying motion (seed 9732)",
    "9731": "default motion (seed 9731)",
    "9752": "varying motion (seed 9752, 24 videos)",
}


def row(path: Path) -> str:
    seed, policy = path.stem.split("_", 2)[1:]
    rows = json.loads(path.read_text())["runs"]
    fixed = {r["precision"].split(":")[1]: r for r in rows if r["precision"].startswith("fixed")}
    a = next(r for r in rows if r["precision"].startswith("adaptive"))
    tiers = policy.split(":")[-1].split(",")
    pts = sorted((fixed[t]["ms_per_frame"], 100 * fixed[t]["mask_ap"]) for t in tiers)
    ms, ap = a["ms_per_frame"], 100 * a["mask_ap"]
    line = None
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x0 <= ms <= x1 and x1 > x0:
            line = y0 + (ms - x0) / (x1 - x0) * (y1 - y0)
    share = a["precision_share"]
    net = sum(v for k, v in share.items() if k != "none")
    blind = sum(share.get(t, 0) / net * 100 * fixed[t]["mask_ap"] for t in tiers)
    shares = ", ".join(f"{t} {100 * share.get(t, 0) / net:.0f} %" for t in tiers)
    on_line = f"{line:.1f} | {ap - line:+.1f}" if line is not None else "outside | -"
    return (
        f"| {NAMES.get(seed, 'seed ' + seed)} | {policy} | {shares} | {ms:.1f} | {ap:.1f} | "
        f"{on_line} | {blind:.1f} | {ap - blind:+.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    args = ap.parse_args()
    files = sorted(
        Path(args.folder).glob("S_*_adaptive*.json"),
        key=lambda p: (-int(p.stem.split("_")[1]), len(p.stem)),
    )
    print(
        "| videos | policy | keyframe share per engine | adaptive ms | adaptive mask AP | "
        "fixed line at that ms | adaptive − line | blind mix at the same shares | "
        "adaptive − blind |"
    )
    print("|:---|:---|:---|---:|---:|---:|---:|---:|---:|")
    for f in files:
        print(row(f))


if __name__ == "__main__":
    main()
