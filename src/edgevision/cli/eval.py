"""``edgevision eval``: score a model file on a dataset folder (mIoU or COCO AP)."""

from __future__ import annotations

import argparse

from edgevision.cli.common import add_command, check_outputs, nonneg_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "eval", run)
    p.add_argument(
        "weights",
        metavar="WEIGHTS",
        help="an exported .onnx file, a checkpoint (.pt/.safetensors), shipped weights by name "
        "(e.g. ddrnet23_slim_camvid) or a registry name (random weights)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    p.add_argument(
        "--split",
        default="val",
        help="split to evaluate (default: val); SPLIT:SEQ[+SEQ] keeps only those sequences "
        "(NAME prefix before '_'), SPLIT-SEQ[+SEQ] drops them, e.g. train:0006R0",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "onnxruntime", "openvino", "torch"],
        default="auto",
        help="inference backend (default: auto = ONNX Runtime, the fastest on CPU; a checkpoint "
        "or name is exported once to a cached ONNX file, see EDGEVISION_CACHE); torch keeps "
        "PyTorch",
    )
    p.add_argument("--threads", type=positive_int, default=2, help="inference threads (default: 2)")
    p.add_argument(
        "--max-images",
        type=nonneg_int,
        default=0,
        metavar="N",
        help="only the first N images (0: all)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    """Evaluate a model on a dataset split (mIoU / COCO AP).

    Run a model over a dataset split and print its metrics: mIoU and per-class IoU for
    semantic models (DIR/images + DIR/labels), COCO box/mask AP for detection and instance
    models (DIR/annotations/instances_SPLIT.json + DIR/images/SPLIT); an instance model on a
    semantic folder without instance annotations (e.g. a 'train --weak' model on CamVid) is
    scored by agreement: per class, pixel IoU of its predicted instances vs the semantic mask.
    The table and the JSON list the sequences scored (NAME prefix before the first '_') with
    their image counts; --split train:0006R0 scores one held-out street sequence.
    A checkpoint (or shipped weights by name) runs in ONNX Runtime by default: it is exported
    once to a cached ONNX file (checked against PyTorch); --backend torch runs PyTorch.
    """
    from edgevision.errors import require_dir
    from edgevision.evaluate import evaluate
    from edgevision.io import write_json_atomic

    check_outputs(args, "json")
    require_dir(args.data, "dataset folder")  # fail before the (slow) model load
    from edgevision.runtime import Predictor, load_fast_engine

    engine = load_fast_engine(args.weights, backend=args.backend, threads=args.threads)
    predictor = Predictor(engine)
    report = evaluate(
        predictor,
        args.data,
        args.split,
        max_images=args.max_images,
        progress=True,  # a bar on a terminal, lines in a log
    )
    print(report.table(), end="")
    if args.json:
        write_json_atomic(args.json, report.to_dict())
        print(f"wrote {args.json}")
    return 0
