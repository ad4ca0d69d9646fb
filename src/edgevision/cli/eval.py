"""``edgevision eval``: score a model file on a dataset folder (mIoU or COCO AP)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevision.cli.common import (
    add_backend_args,
    add_command,
    add_trt_precision,
    check_outputs,
    nonneg_int,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "eval", run)
    p.add_argument(
        "weights",
        metavar="WEIGHTS",
        help="an exported .onnx file, a checkpoint (.pt/.safetensors), shipped weights by name "
        "(e.g. ddrnet23_slim_camvid) or a registry name (random weights)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR|YAML",
        help="dataset folder (semantic, Cityscapes, COCO or YOLO-txt) or a detection dataset YAML",
    )
    p.add_argument(
        "--split",
        default="val",
        help="split to evaluate (default: val); SPLIT:SEQ[+SEQ] keeps only those sequences "
        "(NAME prefix before '_'), SPLIT-SEQ[+SEQ] drops them, e.g. train:0006R0",
    )
    add_backend_args(
        p,
        auto="the faster of onnxruntime and openvino on this host for the ONNX file, by a "
        "short cached probe, EDGEVISION_BACKEND pins it; a checkpoint or name is exported "
        "once to a cached ONNX file, see EDGEVISION_CACHE; torch keeps PyTorch",
    )
    add_trt_precision(p)
    p.add_argument("--threads", type=positive_int, default=2, help="inference threads (default: 2)")
    p.add_argument(
        "--max-images",
        type=nonneg_int,
        default=0,
        metavar="N",
        help="only the first N images (0: all)",
    )
    p.add_argument(
        "--track",
        metavar="TRACKER",
        help="score tracking instead (bytetrack or iou): DIR holds YouTube-VIS videos "
        "(annotations/ytvis_SPLIT.json, e.g. from 'edgevision data synth'); prints MOTA, "
        "IDF1 and ID switches (motmetrics), per motion factor where the videos have one",
    )
    p.add_argument(
        "--videos",
        action="store_true",
        help="score per frame on the YouTube-VIS videos of DIR instead of its images: each "
        "frame runs on its own (box and mask AP, the baseline of 'edgevision video --compare')",
    )
    p.add_argument(
        "--max-videos",
        type=nonneg_int,
        default=0,
        metavar="N",
        help="--track/--videos: first N videos",
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    """Evaluate a model on a dataset split (mIoU / COCO AP).

    Run a model over a dataset split and print its metrics: mIoU and per-class IoU for
    semantic models (DIR/images + DIR/labels, or Cityscapes leftImg8bit + gtFine), COCO
    box/mask AP for detection and instance models (DIR/annotations/instances_SPLIT.json +
    DIR/images/SPLIT; detectors also on a YOLO-txt folder or a dataset YAML); an instance model on a
    semantic folder without instance annotations (e.g. a 'train --weak' model on CamVid) is
    scored by agreement: per class, pixel IoU of its predicted instances vs the semantic mask.
    The table and the JSON list the sequences scored (NAME prefix before the first '_') with
    their image counts; --split train:0006R0 scores one held-out street sequence.
    A checkpoint (or shipped weights by name) runs in ONNX Runtime or OpenVINO by default
    (whichever is faster here, by a cached probe): it is exported once to a cached ONNX file
    (checked against PyTorch); --backend torch runs PyTorch. With --track, a detection or
    instance model and a tracker run over the videos of DIR and MOTA, IDF1 and ID switches
    are printed (overall and per motion factor). With --videos, box and mask AP are
    measured per frame over the videos of DIR (each frame on its own).
    """
    from edgevision.data.detection import require_dataset
    from edgevision.evaluate import evaluate
    from edgevision.io import write_json_atomic

    check_outputs(args, "json")
    from edgevision.runtime import Predictor, load_fast_engine
    from edgevision.runtime.base import check_backend, check_trt_precision

    check_trt_precision(args.backend, args.trt_precision)
    check_backend(args.backend, args.providers)  # a missing GPU stack: one line, nothing loaded
    require_dataset(args.data)  # fail before the (slow) model load

    if args.track and args.videos:
        from edgevision.errors import ConfigError

        raise ConfigError("--track and --videos are two ways to score videos: give one")
    if args.videos or args.track:
        from edgevision.errors import ConfigError
        from edgevision.evaluate.video import require_videos

        if args.max_images:
            raise ConfigError(
                "--max-images counts images; with --videos or --track use --max-videos"
            )
        if args.videos:  # no videos: one line before the model loads
            require_videos(args.data, args.split)
    if args.track:
        from edgevision.track import create_tracker

        low = create_tracker(args.track).cfg.low_thresh  # an unknown name fails here
    chosen: list[Any] = []

    def choose(path: str) -> str:
        from edgevision.bench.choose import choose_backend

        c = choose_backend(path, threads=args.threads)
        chosen.append(c)
        print(f"backend {c.reason}", file=sys.stderr)
        return c.backend

    engine = load_fast_engine(
        args.weights,
        backend=args.backend,
        threads=args.threads,
        choose=choose,
        providers=args.providers,
        **({"precision": args.trt_precision} if args.backend == "tensorrt" else {}),
    )
    choice = chosen[0] if chosen else None
    if args.track:
        from edgevision.errors import ConfigError
        from edgevision.evaluate.track import evaluate_tracking
        from edgevision.tasks import get_task

        if not get_task(engine.spec.task).scored:
            raise ConfigError(
                f"--track needs a detection or instance model; {args.weights} is {engine.spec.task}"
            )

        # as 'run --track': the model keeps boxes down to the tracker's low threshold
        report = evaluate_tracking(
            Predictor(engine, conf_threshold=low),
            args.data,
            args.split,
            tracker=args.track,
            max_videos=args.max_videos,
            progress=sys.stderr.isatty(),
        )
    elif args.videos:
        from edgevision.errors import ConfigError
        from edgevision.evaluate.video import evaluate_video_frames
        from edgevision.tasks import get_task

        if not get_task(engine.spec.task).scored:
            raise ConfigError(
                f"--videos needs a detection or instance model; {args.weights} is "
                f"{engine.spec.task}"
            )
        report = evaluate_video_frames(
            Predictor(engine),
            args.data,
            args.split,
            max_videos=args.max_videos,
            progress=True,
        )
    else:
        report = evaluate(
            Predictor(engine),
            args.data,
            args.split,
            max_images=args.max_images,
            progress=True,  # a bar on a terminal, lines in a log
        )
    print(report.table(), end="")
    if args.json:
        data = report.to_dict()
        data["backend"] = getattr(engine, "backend", args.backend)
        if choice is not None:
            data["backend_choice"] = choice.to_dict()
        write_json_atomic(args.json, data)
        print(f"wrote {args.json}")
    return 0
