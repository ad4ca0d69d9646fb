#!/usr/bin/env python3
"""Does tracking + MQTT output keep the stream's frame rate? Engine-only vs tracked + MQTT.

Runs ``edgevision run`` on the built-in sample video (written once) in fresh processes, in
alternating rounds so both variants see the same machine load:

- ``plain``: the model alone (``--out null``, no metadata);
- ``track+mqtt``: ``--track bytetrack --mqtt mqtt://127.0.0.1:PORT/bench`` to a private
  Mosquitto broker (QoS 1), with a subscriber counting the messages.

Every frame is processed (``--no-leaky``). Prints one JSON line: per variant the median
end-to-end FPS over the rounds and each round's summary numbers (``aggregate_fps``,
``engine_only_fps``, the tracker's stage time); ``ratio``: the median FPS of ``track+mqtt``
over ``plain`` (issue 31's target: >= 0.90), and the messages received against frames sent::

    python scripts/bench_track_mqtt.py --model yolact_mobilenetv2_320_synth_video --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from edgevision.stream.broker import LocalBroker, Subscriber


def run(args: argparse.Namespace, video: Path, summary: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable, "-m", "edgevision", "run", str(video), "-m", args.model,
        "--out", "null", "--no-leaky", "--threads", str(args.threads), "--engine", args.engine,
        "--summary", str(summary), "--no-progress", "-q", *extra,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(summary.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="yolact_mobilenetv2_320_synth_video")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=300, help="frames of the sample video")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engine", default="onnxruntime")
    ap.add_argument("--json", metavar="FILE", help="also write the result here")
    args = ap.parse_args()
    from edgevision.stream.sample import make_sample_video

    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        tmpd = Path(tmp)
        video = make_sample_video(tmpd / "sample.mp4", frames=args.frames)
        sub = Subscriber(broker.port, "bench")
        url = f"mqtt://127.0.0.1:{broker.port}/bench"
        variants = {"plain": [], "track+mqtt": ["--track", "bytetrack", "--mqtt", url]}
        rows: dict[str, list[dict]] = {k: [] for k in variants}
        run(args, video, tmpd / "warm.json", [])  # caches (ONNX export, backend) warmed once
        for _ in range(args.rounds):
            for name, extra in variants.items():
                s = run(args, video, tmpd / "s.json", extra)
                rows[name].append({
                    "aggregate_fps": s["aggregate_fps"],
                    "engine_only_fps": s["engine_only_fps"],
                    "frames": s["frames_processed"],
                    "track_ms_mean": s["stages_ms"].get("track", {}).get("mean"),
                })  # fmt: skip
        sent = sum(r["frames"] for r in rows["track+mqtt"])
        received = len(sub.wait(sent, timeout=10.0))
        sub.close()
    med = {k: statistics.median(r["aggregate_fps"] for r in v) for k, v in rows.items()}
    out = {
        "model": args.model,
        "engine": args.engine,
        "threads": args.threads,
        "median_fps": med,
        "ratio": round(med["track+mqtt"] / med["plain"], 3),
        "mqtt_sent": sent,
        "mqtt_received": received,
        "rounds": rows,
    }
    from edgevision.host import machine_info
    from edgevision.io import write_json_atomic

    out["machine"] = machine_info()
    print(json.dumps(out))
    if args.json:
        write_json_atomic(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
