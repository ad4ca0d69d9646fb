"""``edgevision quantize``: static / dynamic PTQ, mixed precision, sensitivity and search."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevision.cli.common import (
    add_command,
    check_outputs,
    command_line,
    nonneg_float,
    nonneg_int,
    pick,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "quantize", run, raw=True)
    p.add_argument(
        "target",
        help="checkpoint (.pt/.safetensors), registry name, FP32 .onnx, or a YOLACT component "
        "folder ('edgevision export --components'; -o is then a folder)",
    )
    p.add_argument("-o", "--out", help="output .onnx (required unless --analyze without --auto)")
    p.add_argument("--mode", choices=("static", "dynamic", "qat"), default="static")
    p.add_argument(
        "--calib-data", metavar="DIR", help="dataset folder (edgevision layout) or image folder"
    )
    p.add_argument(
        "--calib-size", type=positive_int, default=100, help="calibration images (default 100)"
    )
    p.add_argument("--calib-split", default="train", help="split of a dataset folder (train)")
    p.add_argument(
        "--engine",
        choices=("onnxruntime", "nncf"),
        default="onnxruntime",
        help="static quantizer: ONNX Runtime's quantize_static (default) or Intel NNCF's PTQ",
    )
    p.add_argument("--method", choices=("minmax", "entropy", "percentile"), default="minmax")
    p.add_argument("--percentile", type=float, default=99.999, help="for --method percentile")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    p.add_argument("--activation-type", choices=("u8", "s8"), default="u8")
    p.add_argument("--weight-type", choices=("u8", "s8"), default="s8")
    p.add_argument("--reduce-range", action="store_true", help="7-bit weights (pre-VNNI CPUs)")
    p.add_argument("--precision", metavar="COMP=PREC,...", help="per-component precision")
    p.add_argument("--input", metavar="HxW", help="input size to export/calibrate at")
    p.add_argument("--no-preprocess", action="store_true", help="skip ORT quant pre-processing")
    p.add_argument(
        "--check-images", type=nonneg_int, default=8, help="images for the FP32 check (0: none)"
    )
    p.add_argument("--bench", action="store_true", help="time FP32 vs INT8 (always on: dynamic)")
    p.add_argument("--runs", type=positive_int, default=20, help="timed runs per model")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--report", metavar="FILE.md", help="write a markdown table (implies --bench)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    t = p.add_argument_group("quantization-aware training (--mode qat)")
    t.add_argument(
        "--train-data",
        metavar="DIR",
        help="the model's training dataset (semantic: images + labels; detect, instance: COCO "
        "layout); its task's own loader and loss fine-tune it",
    )
    add_qat_options(t)
    t.add_argument("--train-split", default="train")
    g = p.add_argument_group("sensitivity analysis and search")
    g.add_argument("--analyze", action="store_true", help="per-component/per-layer sensitivity")
    g.add_argument("--auto", action="store_true", help="choose precision by measurement")
    g.add_argument(
        "--max-drop",
        type=nonneg_float,
        metavar="PTS",
        help="accuracy budget in points (default 1.0 for --analyze/--auto); with --engine nncf "
        "--mode static: NNCF's accuracy-control mode, validated on --eval-data "
        "(default --calib-data) --eval-split",
    )
    g.add_argument(
        "--control-backend",
        choices=("onnxruntime", "openvino"),
        default="onnxruntime",
        help="engine that scores NNCF's accuracy-control candidates (with --max-drop): the "
        "one the file will run on",
    )
    g.add_argument(
        "--eval-data",
        metavar="DIR",
        help="held-out dataset for the metric (mIoU, box AP or mask AP)",
    )
    g.add_argument("--eval-split", default="val")
    g.add_argument("--eval-images", type=nonneg_int, default=0, help="cap on eval images (0: all)")
    g.add_argument("--top-k", type=positive_int, default=10, help="layers listed")
    g.add_argument("--no-layers", action="store_true", help="skip the per-layer analysis")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def add_qat_options(p: Any, prefix: str = "") -> None:
    """The QAT fine-tuning options ``--epochs``, ``--lr``, ``--schedule``,
    ``--freeze-observers`` and ``--batch-size`` (``--qat-epochs`` ... with ``prefix="qat-"``,
    as ``edgevision compare`` names them)."""
    ranges = "QAT quantization ranges" if prefix else "quantization ranges"
    p.add_argument(f"--{prefix}epochs", type=positive_int, default=1)
    p.add_argument(f"--{prefix}lr", type=positive_float, default=1e-3)
    p.add_argument(f"--{prefix}schedule", choices=("constant", "cosine"), default="constant")
    p.add_argument(
        f"--{prefix}freeze-observers",
        type=nonneg_int,
        default=0,
        metavar="N",
        help=f"freeze the {ranges} after N epochs (0: never)",
    )
    p.add_argument(f"--{prefix}batch-size", type=positive_int, default=8)


def run(args: argparse.Namespace) -> int:
    """INT8 quantization (static/dynamic PTQ, mixed precision, sensitivity, search).

    Quantize a checkpoint, registry name or FP32 .onnx (with edgevision metadata) to
    INT8 with ONNX Runtime's quantization tooling. The output .onnx keeps the model's spec
    (classes, input size, mean/std ...) and records the quantization (mode, method,
    calibration size, precision per component) in its metadata.

    modes:
      static   calibrated INT8 in QDQ form (needs --calib-data). Default types: U8 activations,
               S8 weights: x86 integer kernels (AVX2 / AVX-512 VNNI) multiply u8 x s8 natively,
               S8 activations take a slower path; choose s8/s8 for ARM, GPUs and TensorRT.
               With --engine nncf --max-drop PTS, NNCF's accuracy control reverts the
               costliest quantizers to FP32 until the headline metric (mIoU, AP) drops by at
               most PTS points on --eval-data (default --calib-data) --eval-split.
      dynamic  INT8 weights, activations quantized at run time. Its latency is measured against
               FP32 and a warning is printed when it is slower (usual for conv nets on CPU).
      qat      fine-tune a checkpoint with fake quantization (BN folded, U8 activations, S8
               per-channel weights) on --train-data, then export QDQ ONNX (ORT runs QLinearConv).

    mixed precision:  --precision backbone=int8,head=fp32[,default=int8]; component names are
      the module prefixes the model declares (see 'edgevision models'), plus 'other' for the
      nodes outside all of them (output Concat/Softmax glue). fp16 needs a GPU
      provider (CUDA/TensorRT); for a component folder it writes FP16 graphs for
      --providers cuda (edgevision.export.fp16).

    analysis:  --analyze ranks components and layers by the error (SQNR, changed pixels, and
      the metric's drop with --eval-data: mIoU, box AP or mask AP) when only they are
      quantized, and proposes which components to keep in FP32 to stay within --max-drop.
      --auto additionally times the candidates with the bench harness and writes the fastest
      one within the budget to --out.
    """
    from edgevision.config import parse_precision, parse_size
    from edgevision.errors import ConfigError
    from edgevision.io import json_safe, write_json_atomic
    from edgevision.quantize.config import QuantConfig

    precision: dict[str, str] = {}
    default = "int8"
    if args.precision is not None:
        precision, d = parse_precision(args.precision)
        default = d or default
    cfg = QuantConfig(
        per_channel=not args.per_tensor,
        precision=precision,
        default_precision=default,  # type: ignore[arg-type]
        preprocess=not args.no_preprocess,
        # --analyze/--auto take --max-drop as their own budget
        max_drop=None if (args.analyze or args.auto) else args.max_drop,
        **pick(
            args,
            "mode",
            "engine",
            "method",
            "calib_size",
            "calib_split",
            "percentile",
            "activation_type",
            "weight_type",
            "reduce_range",
            "control_backend",
        ),
    )
    size = parse_size(args.input, "--input") if args.input else None
    progress = not args.quiet
    from edgevision.video.ort import is_component_folder
    from edgevision.weights import resolve_weights

    args.target = resolve_weights(args.target)  # shipped weights by name -> their checkpoint
    folder = is_component_folder(args.target)
    check_outputs(args, "json", "report", *(() if folder else ("out",)))
    check_outputs(args, folders=("out",) if folder else ())
    if folder:
        return _components(args, precision, default, progress)
    if args.analyze or args.auto:
        return _analyze(args, cfg, size, progress)
    if not args.out:
        raise ConfigError("--out is required")
    if args.mode == "qat":
        return _qat(args, cfg, progress)
    from edgevision.quantize.ptq import quantize_model
    from edgevision.reports.ptq import write_report

    res = quantize_model(
        args.target,
        args.out,
        cfg,
        calib_data=args.calib_data,
        input_size=size,
        measure=True if (args.bench or args.report) else None,
        bench_runs=args.runs,
        threads=args.threads,
        check_images=args.check_images,
        progress=progress,
        **pick(args, "eval_data", "eval_split", "eval_images"),
    )
    _print_result(res, args)
    if res.latency:
        lat = res.latency
        print(
            f"  latency p50 ({args.threads} threads): FP32 {lat['fp32_ms']:.2f} ms, "
            f"{res.mode} INT8 {lat['quant_ms']:.2f} ms, speed-up {lat['speedup']:.2f}x"
        )
    for w in res.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    if args.report:
        write_report(res, args.report, command=command_line(args))
        print(f"wrote {args.report}")
    if args.json:
        write_json_atomic(args.json, json_safe(res.to_dict()))
    return 0


def _qat(args: argparse.Namespace, cfg: object, progress: bool) -> int:
    from edgevision.errors import ConfigError
    from edgevision.io import json_safe, write_json_atomic
    from edgevision.quantize.qat import QATConfig, quantize_qat

    data = args.train_data or args.calib_data
    if data is None:
        raise ConfigError("--mode qat needs --train-data DIR (a dataset with labels)")
    if args.report or args.bench:
        raise ConfigError("--report/--bench: benchmark the QAT model with 'edgevision bench'")
    res = quantize_qat(
        args.target,
        args.out,
        data,
        cfg,  # type: ignore[arg-type]
        QATConfig(
            split=args.train_split,
            **pick(args, "epochs", "lr", "batch_size", "schedule", "freeze_observers"),
        ),
        check_images=args.check_images,
        progress=progress,
    )
    _print_result(res, args)
    if args.json:
        write_json_atomic(args.json, json_safe(res.to_dict()))
    return 0


def _print_result(res: object, args: argparse.Namespace) -> None:
    from edgevision.quantize.ptq import QuantResult

    assert isinstance(res, QuantResult)
    print(
        f"wrote {res.path} ({res.mode} INT8, {res.size_mb:.2f} MB vs FP32 "
        f"{res.fp32_size_mb:.2f} MB, {res.nodes['quantized_ops']} quantized tensors, "
        f"{res.nodes['excluded']} nodes kept FP32, {res.seconds:.1f} s)"
    )
    if len(res.precision) > 1:
        print("  precision: " + ", ".join(f"{k}={v}" for k, v in res.precision.items()))
    if res.error:
        e = res.error
        agree = e.get("argmax_agreement", float("nan"))
        print(
            f"  vs FP32 on {min(args.check_images, args.calib_size)} images: "
            f"SQNR {e['sqnr_db']:.1f} dB, rel L2 {e['rel_l2']:.4f}"
            # per-pixel class agreement exists for semantic outputs only
            + ("" if agree != agree else f", argmax agreement {100 * agree:.2f}%")
        )
    if res.accuracy_control:
        a = res.accuracy_control
        print(
            f"  accuracy control (nncf, --max-drop {a['max_drop']:g}, scored on "
            f"{a.get('backend', 'onnxruntime')}): {a['metric']} FP32 "
            f"{a['fp32']:.2f} -> INT8 {a['int8']:.2f} (drop {a['drop']:.2f} points) on "
            f"{a['images']} {a['split']} images, {a['models_scored']} models scored"
        )
        if a.get("int8_initial") is not None:
            print(
                f"  before control: all-INT8 {a['metric']} {a['int8_initial']:.2f}; "
                f"{a['reverted']} quantizer(s) put back to FP32"
            )


def _analyze(args: argparse.Namespace, cfg: object, size: object, progress: bool) -> int:
    from edgevision.errors import ConfigError
    from edgevision.io import json_safe, write_json_atomic
    from edgevision.quantize.sensitivity import analyze
    from edgevision.reports.sensitivity import markdown, write_report

    if args.mode != "static":
        raise ConfigError("--analyze/--auto work with --mode static")
    if args.calib_data is None:
        raise ConfigError("--analyze/--auto need --calib-data DIR")
    if args.auto and not args.out:
        raise ConfigError("--auto needs --out for the chosen model")
    if args.precision is not None:
        raise ConfigError("--precision and --analyze/--auto exclude each other")
    rep = analyze(
        args.target,
        args.calib_data,
        cfg,  # type: ignore[arg-type]
        layers=not args.no_layers,
        input_size=size,  # type: ignore[arg-type]
        out=args.out if args.auto else None,
        bench_runs=args.runs,
        max_drop=1.0 if args.max_drop is None else args.max_drop,
        progress=progress,
        **pick(
            args,
            "eval_data",
            "eval_split",
            "eval_images",
            "top_k",
            "check_images",
            "threads",
            "auto",
        ),
    )
    print(markdown(rep, command=command_line(args)))
    if args.auto and rep.chosen is not None:
        c = rep.chosen
        print(
            f"chosen: {c.name} (drop {c.drop:.2f} <= {rep.max_drop}, p50 {c.latency_ms:.2f} ms)"
            + (f"; wrote {args.out}" if args.out else "")
        )
    if args.report:
        write_report(rep, args.report, command_line(args))
        print(f"wrote {args.report}")
    if args.json:
        write_json_atomic(args.json, json_safe(rep.to_dict()))
    return 0


def _components(
    args: argparse.Namespace, precision: dict[str, str], default: str, progress: bool
) -> int:
    """A component folder: per-component static INT8 into the folder ``--out``."""
    from edgevision.errors import ConfigError
    from edgevision.quantize.component_folders import quantize_components

    if args.mode != "static" or args.analyze or args.auto:
        raise ConfigError("component folders take --mode static with --precision (no --analyze)")
    if not args.out or not args.calib_data:
        raise ConfigError("component folders need --out FOLDER and --calib-data DIR")
    if args.precision is None:
        default = "int8"  # everything but warp
    done = quantize_components(
        args.target,
        args.out,
        precision,
        default=default,
        progress=progress,
        **pick(args, "calib_data", "calib_size", "calib_split", "method", "threads"),
    )
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in done.items()))
    return 0
