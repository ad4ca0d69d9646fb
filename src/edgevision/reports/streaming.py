"""``edgevision report streaming``: the streaming targets, measured by ``edgevision run``.

Each scenario is one ``edgevision run`` in a fresh process (so the RSS is its own), with its
summary JSON read back:

* **1 stream**: the built-in 640×480 sample video, software decode, overlay encoded to MP4:
  end-to-end FPS vs engine-only FPS of the same run (how well decoding, pre/post-processing,
  drawing and encoding overlap with inference).
* **4 streams**: four copies of the sample video at once, frames of the four batched into
  one engine call: aggregate FPS vs engine-only FPS, drops.
* **live, source faster than the model**: ``test://ball`` at 640×480 and a frame rate above
  what the model sustains, leaky queues: glass-to-result latency p50/p99 (bounded because
  old frames are dropped, not queued) and the drop count.
* **long run**: a non-live ``videotestsrc`` (ball) of ``long_frames`` 640×480 frames, every
  frame processed (back-pressure): RSS after warm-up, at the end and the growth between.

``streaming_report`` writes a markdown page with the table and the exact commands.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgevision.errors import EdgeVisionError

__all__ = ["run_summary", "streaming_report"]


def run_summary(args: list[str], *, timeout: float = 1800) -> tuple[dict[str, Any], str]:
    """Run ``edgevision run ARGS --summary TMP`` in a fresh process; (summary, command)."""
    with tempfile.TemporaryDirectory(prefix="edgevision-stream-report-") as td:
        summary = Path(td) / "summary.json"
        cmd = [sys.executable, "-m", "edgevision", "run", *args,
               "--summary", str(summary), "--no-progress", "-q"]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgeVisionError(
                f"edgevision run {shlex.join(args)} did not finish in {timeout:.0f} s"
            ) from None
        if proc.returncode != 0 or not summary.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EdgeVisionError(f"edgevision run {shlex.join(args)} failed: {tail[0]}")
        shown = shlex.join(["edgevision", "run", *args])
        return json.loads(summary.read_text()), shown


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+}"


def _pct(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{100 * a / b:.0f} %"


def streaming_report(
    model: str,
    *,
    out: str | os.PathLike[str] = "docs/results/streaming.md",
    work: str | os.PathLike[str] = "runs/streaming_report",
    threads: int = 2,
    live_fps: int = 60,
    live_seconds: float = 20.0,
    long_frames: int = 10000,
    video: str | os.PathLike[str] | None = None,
    command: str = "edgevision report streaming",
    log: Callable[[str], None] = print,
) -> Path:
    """Measure the four scenarios (module docstring) with ``model`` and write the page.

    Args:
        model: what ``edgevision run --model`` takes (``.onnx``, checkpoint, name).
        out: markdown path.
        work: folder for the sample video and the overlay output.
        threads: engine threads.
        live_fps: frame rate of the live test source (above the model's FPS to test
            dropping).
        live_seconds: length of the live scenario.
        long_frames: frames of the long run (RSS growth).
        video: the file of the 1- and 4-stream scenarios (default: the built-in sample
            video, written to ``work``).
        command: the command line quoted on the page.
        log: one-line progress messages.
    """
    from edgevision.io import write_text_atomic
    from edgevision.stream.sample import make_sample_video

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    sample = Path(video) if video is not None else work / "sample.mp4"
    if video is None and not sample.is_file():
        make_sample_video(sample)
    elif not sample.is_file():
        raise EdgeVisionError(f"video not found: {sample}")
    common = ["--model", model, "--threads", str(threads)]
    rows: list[tuple[str, dict[str, Any], str]] = []
    log("1 stream (sample video -> MP4 overlay) ...")
    rows.append(
        (
            "1 stream, file, MP4 out",
            *run_summary([str(sample), *common, "--out", str(work / "one.mp4")]),
        )
    )
    log("4 streams (sample video x4, batched) ...")
    rows.append(
        (
            "4 streams, files, batched",
            *run_summary([str(sample)] * 4 + [*common, "--batch", "4", "--out", "null"]),
        )
    )
    log(f"live source at {live_fps} FPS for {live_seconds:.0f} s ...")
    live = f"test://ball?size=640x480&fps={live_fps}"
    rows.append(
        (
            f"live test://ball @ {live_fps} FPS, leaky",
            *run_summary(
                [live, *common, "--leaky", "--duration", str(live_seconds), "--out", "null"]
            ),
        )
    )
    log(f"long run: {long_frames} frames ...")
    longsrc = (
        f"gst:videotestsrc is-live=false pattern=ball num-buffers={long_frames} ! "
        "video/x-raw,width=640,height=480"
    )
    rows.append((f"long run, {long_frames} frames", *run_summary([longsrc, *common, "--no-leaky", "--out", "null"])))  # fmt: skip

    first = rows[0][1]
    name = first["model"]["name"] + ("" if first["model"].get("trained", True) else " (UNTRAINED)")
    lines = [
        "# Streaming: end-to-end vs engine-only, several streams, latency and memory (generated)",
        "",
        f"Written by `{command}` — do not edit by hand. Machine: {platform.machine()} / "
        f"{platform.system()}, {os.cpu_count()} CPU(s); model {name}; {threads} engine threads.",
        "",
        "Every row is one `edgevision run` in a fresh process (commands below). *engine-only "
        "FPS* = frames / time spent in the model call alone in that run; *e2e / engine* shows "
        "how much of decoding, pre/post-processing, drawing and encoding overlaps with "
        "inference (100 % = all of it). Latency runs from a frame entering the pipeline's queue "
        "to its result. RSS growth = RSS at the end minus RSS after the warm-up frames.",
        "",
        "| scenario | frames | dropped | e2e FPS | engine-only FPS | e2e / engine | latency p50 / p99 ms | RSS after warm-up → end MiB (growth) | decoder |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for label, s, _ in rows:
        lat = s["stages_ms"]["latency"]
        rss = s["rss_mb"]
        dec = s["streams"][0].get("decoder", {}) if s["streams"] else {}
        lines.append(
            f"| {label} | {s['frames_processed']} | {s['frames_dropped']} | "
            f"{s['aggregate_fps']} | {s['engine_only_fps']} | "
            f"{_pct(s['aggregate_fps'], s['engine_only_fps'])} | "
            f"{lat.get('p50', '-')} / {lat.get('p99', '-')} | "
            f"{rss['after_warmup']} → {rss['end']} ({_signed(rss['growth_after_warmup'])}) | "
            f"{dec.get('element', '-')}{' (hw)' if dec.get('hardware') else ''} |"
        )
    one, four, live_s, long_s = (r[1] for r in rows)
    lines += [
        "",
        "Targets:",
        "",
        f"- 1 stream: e2e ≥ 90 % of engine-only — {_pct(one['aggregate_fps'], one['engine_only_fps'])}.",
        f"- 4 streams: aggregate ≥ 80 % of engine-only — {_pct(four['aggregate_fps'], four['engine_only_fps'])}; {four['frames_dropped']} dropped.",
        f"- RSS growth < 50 MB over {long_frames} frames — {_signed(long_s['rss_mb']['growth_after_warmup'])} MiB.",
        f"- Latency bounded when the source outruns the model: p99 {live_s['stages_ms']['latency'].get('p99')} ms with {live_s['frames_dropped']} frames dropped of {live_s['frames_dropped'] + live_s['frames_processed']}.",
        "",
        "Commands:",
        "",
        *[f"- {label}: `{cmd}`" for label, _, cmd in rows],
        "",
    ]  # fmt: skip
    out = Path(out)
    write_text_atomic(out, "\n".join(lines))
    from edgevision.io import write_json_atomic

    write_json_atomic(work / "summaries.json", [r[1] for r in rows])
    return out
