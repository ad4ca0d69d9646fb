"""``edgevision compare``: FP32 vs QAT vs static PTQ vs dynamic PTQ, measured in one run."""

from __future__ import annotations

import argparse

from edgevision.cli.common import (
    add_backend_args,
    add_command,
    check_outputs,
    command_line,
    keyed_values,
    nonneg_int,
    pick,
    positive_int,
)
from edgevision.cli.quantize import add_qat_options


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "compare", run)
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="MODEL",
        help=(
            "segmentation-family models (semantic, panoptic, depthseg): .pt/.safetensors "
            "checkpoints, shipped weights names, or FP32 .onnx files (no QAT variant for those)"
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    p.add_argument("--split", default="val", help="split scored for mIoU (default: val)")
    p.add_argument(
        "--modes",
        default="fp32,qat,static,dynamic",
        help="comma-separated subset of fp32,qat,static,dynamic,ov_fp32,ov_bf16,ov_int8 "
        "(fp32 always runs; ov_*: the FP32 / static PTQ file on OpenVINO, ov_int8 needs "
        "static, ov_bf16 a CPU with BF16)",
    )
    p.add_argument(
        "--method",
        default="minmax",
        choices=["minmax", "entropy", "percentile"],
        help="static PTQ calibration method",
    )
    p.add_argument("--calib-size", type=positive_int, default=100, help="calibration images")
    p.add_argument(
        "--calib-split",
        action="append",
        default=[],
        metavar="[LABEL=]SPLIT",
        help="calibration / QAT split (default: train); LABEL=SPLIT for one model; repeatable",
    )
    p.add_argument(
        "--calib-data",
        action="append",
        default=[],
        metavar="[LABEL=]DIR",
        help="folder of the calibration / QAT images (default: --data); LABEL=DIR for one "
        "model (e.g. its own training folder; LABEL: the checkpoint's stem, or its run "
        "folder for best/last), DIR for the rest; repeatable",
    )
    add_qat_options(p, prefix="qat-")
    p.add_argument("--qat-crop", metavar="HxW", help="QAT training crop (default: input size)")
    p.add_argument(
        "--eval-images", type=nonneg_int, default=0, help="first N images scored (0: all)"
    )
    p.add_argument("--threads", type=positive_int, default=2)
    add_backend_args(
        p,
        auto="onnxruntime: every variant on the same engine, so the rows compare the "
        "variants; torch is the eager reference only, not a choice here",
    )
    p.add_argument("--runs", type=positive_int, default=30, help="timed runs per variant")
    p.add_argument("--blocks", type=positive_int, default=3, help="alternation rounds")
    p.add_argument("--warmup", type=nonneg_int, default=5)
    p.add_argument("--work", default="runs/compare", metavar="DIR", help="variant files")
    p.add_argument("--md", default="docs/results/quantization.md", metavar="FILE.md")
    p.add_argument("--plot", metavar="FILE.png", help="default: the --md path with .png")
    p.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="skip timing the torch eager reference (logits upsampled, then argmax)",
    )


def run(args: argparse.Namespace) -> int:
    """FP32 vs QAT vs static/dynamic PTQ for segmentation-family models: tables + plot.

    For each model (semantic, panoptic or depthseg checkpoint, or FP32 ONNX file), make the
    FP32, QAT, static-PTQ and dynamic-PTQ ONNX models (cached under --work, reused when the
    input and recipe are unchanged; no QAT for an ONNX file), measure them alternately in
    fresh ONNX Runtime processes (latency, FPS, peak RSS, size, mIoU on --data --split, and
    PQ / depth metrics where the data has that truth) and write the field study's Table 2
    (mIoU / size / FPS per mode) and Table 3 (mIoU change / size and RAM decrease) with the
    study's numbers beside ours, the detailed tables and a PNG (mIoU vs FPS) to --md.
    """
    from dataclasses import asdict

    from edgevision.config import parse_size
    from edgevision.io import write_json_atomic
    from edgevision.quantize.compare import CompareOptions, compare_modes
    from edgevision.reports.quantization import write_page
    from edgevision.weights import resolve_weights

    check_outputs(args, "md", "plot", "json", folders=("work",))
    from edgevision.errors import ConfigError
    from edgevision.runtime.base import check_backend

    if args.backend == "torch":
        raise ConfigError("compare measures ONNX variants: --backend torch is not a choice here")
    backend = check_backend(args.backend, args.providers)  # a missing GPU stack: one line
    args.checkpoints = [resolve_weights(c) for c in args.checkpoints]
    calib = keyed_values(args.calib_data, "--calib-data")
    calib_split = keyed_values(args.calib_split, "--calib-split", folders=False)
    args.calib_split = calib_split.pop("*", "train")
    opts = CompareOptions(
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
        qat_crop=parse_size(args.qat_crop, "--qat-crop") if args.qat_crop else None,
        reference=not args.no_reference,
        calib_data=calib.pop("*", None),
        calib_data_for=calib,
        calib_split_for=calib_split,
        backend="onnxruntime" if backend == "auto" else backend,
        providers=list(args.providers),
        **pick(
            args,
            "method",
            "calib_size",
            "calib_split",
            "qat_epochs",
            "qat_lr",
            "qat_schedule",
            "qat_freeze_observers",
            "qat_batch_size",
            "split",
            "eval_images",
            "threads",
            "runs",
            "blocks",
            "warmup",
        ),
    )
    command = command_line(args)
    comps = compare_modes(
        args.checkpoints,
        args.data,
        work=args.work,
        options=opts,
        progress=True,  # a bar on a terminal, lines in a log
        command=command,
    )
    md = write_page(comps, args.md, options=opts, command=command, plot=args.plot, data=args.data)
    print(f"wrote {md} and {args.plot or md.with_suffix('.png')}")
    if args.json:
        write_json_atomic(
            args.json, {"options": asdict(opts), "models": [asdict(c) for c in comps]}
        )
        print(f"wrote {args.json}")
    return 0
