"""``edgevision bench``: measure models (each in a fresh process) or compare saved results.

Measure::

    edgevision bench model.onnx --threads 2 --input 320x320 --runs 100 --json fp32.json
    edgevision bench fp32.onnx int8.onnx --blocks 5 --json both.json   # alternating blocks

Compare saved results (writes a markdown table and a plot, and says where)::

    edgevision bench --compare fp32.json int8.json --md docs/results/x.md --plot x.png
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from edgevision.cli.common import (
    add_backend_args,
    add_command,
    add_trt_precision,
    check_outputs,
    nonneg_int,
    pick,
    positive_int,
)

DEFAULT_BLOCKS = 5

EXAMPLES = """\
examples:
  edgevision bench model.onnx --input 320x320 --runs 100 --json model.json
  edgevision bench fp32.onnx int8.onnx --blocks 5 --json both.json
  edgevision bench deeplabv3plus_mobilenetv2 --backend torch
  edgevision bench model.onnx --data data/camvid --split val --max-images 50
  edgevision bench --compare fp32.json int8.json --md table.md --plot plot.png
  edgevision bench --tracker bytetrack --objects 50       # a tracker's cost per frame
  edgevision bench --ceiling --json ceiling.json          # best conv throughput, every engine
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "bench", run, raw=True, epilog=EXAMPLES)
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help=".onnx file, checkpoint (.pt/.safetensors) or registry model name (random weights)",
    )
    add_backend_args(
        p,
        auto="the faster of onnxruntime and openvino for each file on this host, by a short "
        "cached probe; EDGEVISION_BACKEND pins it; names/checkpoints are exported to a "
        "temporary ONNX file first",
    )
    p.add_argument(
        "--ov-precision",
        choices=("f32", "bf16", "auto"),
        default="f32",
        help="OpenVINO float precision hint (auto: OpenVINO's default for this CPU)",
    )
    add_trt_precision(p)
    p.add_argument(
        "--trt-layers",
        metavar="COMP=PREC,...",
        help="TensorRT per-component precision, e.g. fpn=fp32,head=fp16",
    )
    p.add_argument(
        "--calib-data", metavar="DIR", help="images for TensorRT INT8 calibration of a float model"
    )
    p.add_argument("--threads", type=positive_int, default=2, help="intra-op threads (default: 2)")
    p.add_argument("--input", metavar="HxW", help="input size (default: the model's spec)")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size (default: 1)")
    p.add_argument(
        "--runs", type=positive_int, default=50, help="timed iterations in all (default: 50)"
    )
    p.add_argument(
        "--warmup",
        type=nonneg_int,
        default=10,
        help="untimed iterations first, per process (default: 10)",
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder: also measure accuracy")
    p.add_argument("--split", default="val", help="dataset split for accuracy (default: val)")
    p.add_argument(
        "--max-images",
        type=nonneg_int,
        default=0,
        help="cap on images for accuracy (default: 0 = all)",
    )
    p.add_argument(
        "--blocks",
        type=positive_int,
        default=None,
        help=f"alternating blocks (default: {DEFAULT_BLOCKS} for several targets, 1 for one)",
    )
    p.add_argument(
        "--conf",
        type=float,
        default=None,
        metavar="SCORE",
        help="score threshold of the end-to-end path (detection/instance models); 0 keeps "
        "every candidate up to max_det, the worst case for NMS and masks",
    )
    p.add_argument(
        "--no-stages",
        action="store_true",
        help="skip timing the end-to-end Predictor path per stage",
    )
    p.add_argument(
        "--json",
        metavar="FILE",
        help="write the result (one target) or a list of results (several) as JSON",
    )
    p.add_argument(
        "--compare", nargs="+", metavar="JSON", help="compare saved results instead of measuring"
    )
    p.add_argument(
        "--md", metavar="FILE", help="markdown table path (compare: default next to the first JSON)"
    )
    p.add_argument(
        "--plot", metavar="PNG", help="plot path (compare: default next to the first JSON)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--ceiling",
        action="store_true",
        help="measure this host's 3x3-conv throughput on every CPU engine and precision "
        "(ONNX Runtime FP32/INT8, OpenVINO f32/bf16/INT8) and name the best (no TARGET)",
    )
    trk = p.add_argument_group(
        "tracker cost", "time a tracker's update alone on moving boxes (no model, no TARGET)"
    )
    trk.add_argument("--tracker", metavar="NAME", help="bytetrack or iou")
    trk.add_argument(
        "--objects", type=positive_int, default=50, help="objects per frame (default 50)"
    )
    trk.add_argument(
        "--frames", type=positive_int, default=1000, help="timed frames (default 1000)"
    )


#: (flag, attribute) pairs in the order the canonical command line lists them
_FLAGS = (
    ("--backend", "backend"),
    ("--threads", "threads"),
    ("--input", "input"),
    ("--batch", "batch"),
    ("--runs", "runs"),
    ("--warmup", "warmup"),
    ("--providers", "providers"),
    ("--ov-precision", "ov_precision"),
    ("--trt-precision", "trt_precision"),
    ("--trt-layers", "trt_layers"),
    ("--calib-data", "calib_data"),
    ("--data", "data"),
    ("--split", "split"),
    ("--max-images", "max_images"),
    ("--blocks", "blocks"),
    ("--conf", "conf"),
    ("--no-stages", "no_stages"),
    ("--ceiling", "ceiling"),
    ("--compare", "compare"),
    ("--json", "json"),
    ("--md", "md"),
    ("--plot", "plot"),
)
_DEFAULTS = {
    "backend": "auto",
    "threads": 2,
    "batch": 1,
    "runs": 50,
    "warmup": 10,
    "split": "val",
    "max_images": 0,
    "ov_precision": "f32",
    "trt_precision": "auto",
}


def _command(args: argparse.Namespace) -> str:
    """The command line as parsed (defaults left out), recorded in results and tables."""
    parts = ["edgevision", "bench", *args.targets]
    for flag, attr in _FLAGS:
        v = getattr(args, attr, None)
        if v is None or v is False or v == [] or _DEFAULTS.get(attr, object()) == v:
            continue
        if v is True:
            parts.append(flag)
        elif attr == "providers":
            parts += [flag, ",".join(v)]
        elif isinstance(v, list):
            parts += [flag, *map(str, v)]
        else:
            parts += [flag, str(v)]
    return shlex.join(parts)


def _outputs(args: argparse.Namespace, results: list[Any], command: str) -> list[str]:
    """Write --md / --plot where asked; returns 'wrote ...' lines."""
    from edgevision.bench.report import plot, write_markdown

    lines = []
    if args.md:
        path = write_markdown(results, args.md, written_by=command)
        lines.append(f"wrote markdown table: {path}")
    if args.plot:
        path = plot(results, args.plot)
        lines.append(f"wrote plot: {path}")
    return lines


def _print_table(results: list[Any]) -> None:
    from rich.console import Console

    from edgevision.bench.report import comparison_table, provenance

    console = Console()
    if not console.is_terminal:  # a pipe or log file: no need to squeeze
        console = Console(width=max(console.width, 200))
    console.print(comparison_table(results, compact=console.width < 150))
    console.print(provenance(results, markdown=False), style="dim", highlight=False, markup=False)


def run(args: argparse.Namespace) -> int:
    """Benchmark latency, FPS, memory, size, FLOPs (and accuracy) of models.

    Benchmark one or more models. Each is measured in a fresh subprocess (so peak RSS is its
    own and no other session's threads compete); several targets are measured alternately in
    blocks (A B C A B C ...) and their timings pooled, so ratios hold on a noisy machine.
    Latency is engine.run alone on a fixed random input; the end-to-end Predictor path is
    timed per stage too. With --compare, load saved JSON results and write a comparison table
    and plot instead.
    """
    import os
    import sys

    from edgevision.bench.harness import WorkerError
    from edgevision.errors import ConfigError

    command = _command(args)
    check_outputs(args, "json", "md", "plot")
    if args.tracker:
        if args.targets or args.compare:
            raise ConfigError("--tracker measures a tracker alone: give no TARGET or --compare")
        return _run_tracker(args)
    if args.ceiling:
        if args.targets or args.compare:
            raise ConfigError("--ceiling measures the engines alone: give no TARGET or --compare")
        return _run_ceiling(args)
    if args.compare and args.targets:
        raise ConfigError("give TARGETs to measure or --compare JSON files, not both")
    if not args.compare and not args.targets:
        raise ConfigError("nothing to do: give a TARGET to measure or --compare JSON files")
    if args.compare:
        return _run_compare(args, command)
    try:
        return _run_measure(args, command)
    except WorkerError as e:
        if getattr(args, "debug", False) or os.environ.get("EDGEVISION_DEBUG"):
            print(getattr(e, "log", ""), file=sys.stderr)  # the worker's traceback
        raise


def _run_tracker(args: argparse.Namespace) -> int:
    """``--tracker NAME``: the cost of its update per frame at ``--objects`` boxes."""
    from edgevision.bench.tracker import bench_tracker
    from edgevision.host import machine_info
    from edgevision.io import write_json_atomic
    from edgevision.track import create_tracker

    create_tracker(args.tracker)  # an unknown name: one line
    r = bench_tracker(args.tracker, objects=args.objects, frames=args.frames)
    r["machine"] = machine_info()
    ms = r["ms_per_frame"]
    print(
        f"{r['tracker']}: {r['objects']} objects, {r['frames']} frames: "
        f"{r['cpu_ms_per_frame']:.3f} ms CPU per frame; wall mean {ms['mean']:.3f} ms, "
        f"p50 {ms['p50']:.3f}, p90 {ms['p90']:.3f}, p99 {ms['p99']:.3f}; "
        f"{r['tracks_started']} tracks started ({r['machine']['cpu']}, "
        f"{r['machine']['usable_cores']} cores)"
    )
    if args.json:
        write_json_atomic(args.json, r)
        print(f"wrote {args.json}")
    return 0


def _run_ceiling(args: argparse.Namespace) -> int:
    """``--ceiling``: the best 3x3-conv throughput per engine and precision on this host."""
    from edgevision.bench.ceiling import conv_ceiling
    from edgevision.host import cpu_flags, machine_info
    from edgevision.io import write_json_atomic

    c = conv_ceiling(args.threads)
    info = machine_info()
    print(f"conv ceiling ({info['cpu']}, {args.threads} threads): {c.summary()}")
    if args.json:
        write_json_atomic(
            args.json,
            {**c.to_dict(), "command": _command(args), "machine": info, "cpu_flags": cpu_flags()},
        )
        print(f"wrote {args.json}")
    return 0


def _run_compare(args: argparse.Namespace, command: str) -> int:
    from edgevision.bench.harness import load_results

    if args.json:
        from edgevision.errors import ConfigError

        raise ConfigError("--json writes measured results; with --compare use --md / --plot")
    results = load_results(args.compare)
    base = Path(args.compare[0]).parent
    stem = "bench_compare"
    args.md = args.md or str(base / f"{stem}.md")
    args.plot = args.plot or str(base / f"{stem}.png")
    _print_table(results)
    for line in _outputs(args, results, command):
        print(line)
    return 0


def _run_measure(args: argparse.Namespace, command: str) -> int:
    from edgevision.bench.harness import benchmark, benchmark_many
    from edgevision.config import BenchConfig, parse_size
    from edgevision.errors import ConfigError
    from edgevision.io import write_json_atomic

    size = parse_size(args.input, "--input") if args.input else None
    cfg = BenchConfig(
        input_size=size,
        providers=list(args.providers),
        **pick(
            args,
            "backend",
            "threads",
            "batch",
            "runs",
            "warmup",
            "data",
            "split",
            "max_images",
            "trt_precision",
            "trt_layers",
            "calib_data",
            "ov_precision",
            "conf",
        ),
    )
    if args.data is not None and not Path(args.data).is_dir():
        from edgevision.errors import DataError

        raise DataError(f"dataset folder not found: {args.data}")
    if args.blocks is not None and args.blocks < 1:
        raise ConfigError(f"--blocks must be >= 1, got {args.blocks}")
    from edgevision.runtime.base import check_backend

    cfg.backend = check_backend(cfg.backend, cfg.providers)  # type: ignore[assignment]
    progress = not args.quiet
    if len(args.targets) == 1 and (args.blocks or 1) == 1:
        results = [
            benchmark(
                args.targets[0], cfg, progress=progress, stages=not args.no_stages, command=command
            )
        ]
    else:
        results = benchmark_many(
            args.targets,
            cfg,
            blocks=args.blocks or DEFAULT_BLOCKS,
            progress=progress,
            stages=not args.no_stages,
            command=command,
        )
    _print_table(results)
    if args.json:
        data: Any = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
        write_json_atomic(args.json, data)
        print(f"wrote results: {args.json}")
    for line in _outputs(args, results, command):
        print(line)
    return 0
