"""``edgevision report``: write the generated pages under ``docs/results/``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgevision.cli.common import (
    add_command,
    add_group,
    add_overrides,
    check_outputs,
    command_line,
    keyed_values,
    nonneg_int,
    pick,
    positive_float,
    positive_int,
    print_wrote,
)
from edgevision.reports.common import DATASET_FIGURES


def register(sub: argparse._SubParsersAction) -> None:
    kinds = add_group(
        sub,
        "report",
        help="Write a results page (tables + plots) from shipped models.",
        description="Generate a results page under docs/results/ by measuring, not by hand.",
        dest="kind",
    )

    s = add_command(kinds, "segmentation", run_segmentation)
    s.add_argument(
        "weights", nargs="+", metavar="WEIGHTS", help="model files (.safetensors/.pt/.onnx)"
    )
    s.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    s.add_argument("--split", default="val")
    s.add_argument(
        "--held-out",
        metavar="SPLIT",
        help="whole sequences (e.g. train:0006R0) also scored for each model whose card says "
        "it never trained on them",
    )
    s.add_argument("--out", default="docs/results/segmentation.md", metavar="FILE.md")
    s.add_argument("--input", default="360x480", metavar="HxW", help="timed input size")
    s.add_argument("--threads", type=positive_int, default=2)
    s.add_argument("--runs", type=positive_int, default=50, help="timed runs per model")
    s.add_argument("--warmup", type=nonneg_int, default=10)
    s.add_argument(
        "--blocks", type=positive_int, default=5, help="alternation rounds (fresh processes)"
    )
    s.add_argument(
        "--grid", type=nonneg_int, default=4, metavar="N", help="rows of the prediction grid"
    )
    s.add_argument("--figures", default=DATASET_FIGURES, metavar="DIR",
                   help=f"folder for figures of dataset images (default {DATASET_FIGURES})")  # fmt: skip

    a = add_command(kinds, "ablation", run_ablation)
    a.add_argument("weights", nargs="+", metavar="WEIGHTS", help="model files, baseline first")
    a.add_argument("--labels", required=True, help="comma-separated column names, e.g. CE,CB")
    a.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    a.add_argument("--split", default="val")
    a.add_argument("--train-split", default="train", help="split giving class frequencies")
    a.add_argument("--rare", default="Bicyclist,Pedestrian,Pole", help="classes to call out")
    a.add_argument("--out", default="docs/results/segmentation_ablation.md", metavar="FILE.md")
    a.add_argument("--threads", type=positive_int, default=2)

    w = add_command(kinds, "weak", run_weak)
    w.add_argument("--data", required=True, metavar="DIR", help="dataset with truth + labels")
    w.add_argument(
        "--agreement",
        metavar="CKPT",
        nargs="+",
        help="instead: score weak model(s) on DATA without instance truth (e.g. CamVid) by "
        "pixel IoU of their instances vs the semantic mask, one column each (e.g. the rounds "
        "of one run); writes OUT, and a figure of the last model under --figures",
    )
    w.add_argument("--split", default="val", help="split for --agreement (default: val)")
    w.add_argument("--figures", default=DATASET_FIGURES, metavar="DIR",
                   help=f"folder for --agreement's figure of dataset images (default {DATASET_FIGURES})")  # fmt: skip
    w.add_argument("model", nargs="?", default="yolact_mobilenetv2_320", help="instance model")
    w.add_argument("--out", default="docs/results/weak.md", metavar="FILE.md")
    w.add_argument("--work", default="runs/weak_report", metavar="DIR")
    w.add_argument("--rounds", type=nonneg_int, default=2, help="self-training rounds of (d)")
    w.add_argument("--epochs", type=positive_int, default=30)
    w.add_argument("--batch-size", type=positive_int, default=8)
    w.add_argument("--input", default="160x160", metavar="HxW", help="network input size")
    w.add_argument("--lr", type=positive_float, default=2e-3)
    add_overrides(
        w,
        "--set",
        dest="overrides",
        help="any InstanceTrainConfig field, e.g. --set model_kwargs={width_mult: 0.5}",
    )

    c = add_command(kinds, "calibration", run_calibration)
    c.add_argument("checkpoint", metavar="CKPT", help="semantic checkpoint (.pt/.safetensors)")
    c.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    c.add_argument("--split", default="val")
    c.add_argument("--calib-split", default="train")
    c.add_argument("--sizes", default="4,16,64,200", help="comma-separated calibration sizes")
    c.add_argument("--methods", default="minmax,entropy,percentile")
    c.add_argument(
        "--eval-images", type=nonneg_int, default=0, help="first N images scored (0: all)"
    )
    c.add_argument("--threads", type=positive_int, default=2)
    c.add_argument("--work", default="runs/calibration", metavar="DIR")
    c.add_argument("--out", default="docs/results/calibration.md", metavar="FILE.md")

    ins = add_command(kinds, "instance", run_instance)
    ins.add_argument("checkpoint", metavar="CKPT", help="yolact_* checkpoint with FeatFlowNet")
    ins.add_argument("--data", required=True, metavar="DIR", help="YouTube-VIS-layout dataset")
    ins.add_argument("--split", default="val")
    ins.add_argument("--calib-split", default="train", help="image split for INT8 calibration")
    ins.add_argument("--calib-size", type=positive_int, default=32)
    ins.add_argument("--keyframes", default="fixed:5", help="fixed policy of Table II")
    ins.add_argument(
        "--intervals",
        default="2,3,4,5",
        help="keyframe intervals of Table III (DIS propagation; '' for none)",
    )
    ins.add_argument(
        "--motion-data",
        metavar="DIR",
        help="also compare fixed vs adaptive keyframes (DIS propagation) on this "
        "YouTube-VIS-layout set of videos of varying motion (Table IV), e.g. "
        "edgevision data synth ... --set motion_range=[0.25,2.5]",
    )
    ins.add_argument("--rounds", type=positive_int, default=2, help="alternating timing rounds")
    ins.add_argument("--max-frames", type=nonneg_int, default=0, help="frames per run (0: all)")
    ins.add_argument("--threads", type=positive_int, default=2)
    ins.add_argument("--out", default="docs/results/instance.md", metavar="FILE.md")
    ins.add_argument("--work", default="runs/instance_report", metavar="DIR")

    det = add_command(kinds, "detection", run_detection)
    from edgevision.reports.detection_ablation import add_arguments

    add_arguments(det)

    ds = add_command(kinds, "detection-speed", run_detection_speed)
    ds.add_argument("weights", help="detector checkpoint (.pt / .safetensors)")
    ds.add_argument("--data", required=True, metavar="DIR", help="COCO-layout detection folder")
    ds.add_argument("--out", default="docs/results/detection_speed.md", metavar="FILE.md")
    ds.add_argument("--work", default="runs/detection_speed", metavar="DIR")
    ds.add_argument("--input", default="320x320", metavar="HxW")
    ds.add_argument("--runs", type=positive_int, default=60)
    ds.add_argument("--blocks", type=positive_int, default=4)
    ds.add_argument("--no-eval", action="store_true", help="skip the val AP50")

    be = add_command(kinds, "backends", run_backends)
    be.add_argument(
        "weights", nargs="+", metavar="WEIGHTS", help="model files (.safetensors/.pt/.onnx)"
    )
    be.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="[STEM=]DIR",
        help="dataset for calibration and accuracy; STEM=DIR for one model (file stem), DIR "
        "for the rest; repeatable",
    )
    be.add_argument("--split", default="val")
    be.add_argument("--max-images", type=nonneg_int, default=0, help="scored images (0: all)")
    be.add_argument("--calib-images", type=positive_int, default=32)
    be.add_argument("--runs", type=positive_int, default=30, help="timed runs per variant")
    be.add_argument("--blocks", type=positive_int, default=3)
    be.add_argument("--threads", type=positive_int, default=2)
    be.add_argument("--out", default="docs/results/backends.md", metavar="FILE.md")
    be.add_argument("--work", default="runs/backends", metavar="DIR")

    tr = add_command(kinds, "tracking", run_tracking)
    tr.add_argument("model", help="a detection or instance model: .onnx or checkpoint")
    tr.add_argument("--out", default="docs/results/tracking.md", metavar="FILE.md")
    tr.add_argument("--work", default="runs/tracking_report", metavar="DIR")
    tr.add_argument(
        "--motions",
        default="0.5,1,2,3",
        metavar="M,M,...",
        help="motion factors, one synthetic video set each (1: the generator's default)",
    )
    tr.add_argument("--seed", type=int, default=11, help="generator seed (default 11)")
    tr.add_argument("--videos", type=positive_int, default=8, help="videos per motion factor")
    tr.add_argument("--frames", type=positive_int, default=60, help="frames per video")
    tr.add_argument(
        "--trackers",
        nargs="+",
        default=["bytetrack", "bytetrack:appearance=0", "iou"],
        metavar="TRACKER",
        help="trackers to score: names, or name:option=value,... (default: bytetrack, "
        "bytetrack without its colour cue, iou)",
    )
    tr.add_argument("--threads", type=positive_int, default=2)
    tr.add_argument(
        "--bench-frames", type=positive_int, default=1000, help="timed frames of the cost row"
    )

    gp = add_command(kinds, "gpu", run_gpu)
    gp.add_argument(
        "results", metavar="DIR", help="the results folder of scripts/gpu_check.sh (rows.jsonl)"
    )
    gp.add_argument("--out", default="docs/results/gpu.md", metavar="FILE.md")

    st = add_command(kinds, "streaming", run_streaming)
    st.add_argument("model", help="what 'edgevision run --model' takes (.onnx, checkpoint, name)")
    st.add_argument("--out", default="docs/results/streaming.md", metavar="FILE.md")
    st.add_argument("--work", default="runs/streaming_report", metavar="DIR")
    st.add_argument("--threads", type=positive_int, default=2)
    st.add_argument(
        "--live-fps", type=positive_int, default=60, help="frame rate of the live source"
    )
    st.add_argument("--live-seconds", type=positive_float, default=20.0)
    st.add_argument(
        "--long-frames", type=positive_int, default=10000, help="frames of the long run"
    )
    st.add_argument(
        "--video", metavar="FILE", help="clip for the 1/4-stream rows (default: sample)"
    )


def run_segmentation(args: argparse.Namespace) -> int:
    """Semantic models side by side: size, GFLOPs, latency, FPS, RSS, mIoU (+ PNGs).

    Benchmark semantic models in fresh ONNX Runtime processes (FP32), score them on --data
    --split through the same path, measure this machine's FP32 conv ceiling, and write OUT plus
    OUT_miou_latency.png; the prediction grid (dataset images) goes to --figures, outside
    docs/.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.config import parse_size
    from edgevision.errors import require_dir
    from edgevision.reports.segmentation import segmentation_report

    require_dir(args.data, "dataset folder")
    files = segmentation_report(
        args.weights,
        input_size=parse_size(args.input, "--input"),
        command=command_line(args),
        progress=sys.stderr.isatty(),
        **pick(
            args,
            "data",
            "split",
            "held_out",
            "out",
            "threads",
            "runs",
            "warmup",
            "blocks",
            "grid",
            "figures",
        ),
    )
    return print_wrote(files)


def run_ablation(args: argparse.Namespace) -> int:
    """Per-class IoU of two or more models side by side (e.g. CE vs class-balanced).

    Score each model on --data --split and write a per-class IoU table, rarest training class
    first, with the differences and a bar chart (OUT.png).
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.errors import require_dir
    from edgevision.reports.segmentation import ablation_report

    require_dir(args.data, "dataset folder")
    files = ablation_report(
        args.weights,
        labels=[s.strip() for s in args.labels.split(",") if s.strip()],
        rare=[s.strip() for s in args.rare.split(",") if s.strip()],
        command=command_line(args),
        progress=sys.stderr.isatty(),
        **pick(args, "data", "split", "train_split", "out", "threads"),
    )
    return print_wrote(files)


def run_weak(args: argparse.Namespace) -> int:
    """Weak supervision vs full supervision on a set with exact instances (mask AP).

    Train one YOLACT four ways on DATA (semantic masks + true instances, e.g. the synthetic
    set): (a) true instances, (b) connected-component pseudo-labels, (c) + watershed
    splitting, (d) + self-training rounds; score each on val's true instances and write OUT
    (table) and OUT.png (truth, pseudo-labels, predictions). Runs under --work are reused, so
    an interrupted report resumes.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.config import apply_overrides, parse_size
    from edgevision.errors import ConfigError, require_dir
    from edgevision.reports.weak import weak_report
    from edgevision.train.instance import InstanceTrainConfig

    require_dir(args.data, "dataset folder")
    if args.agreement:
        from pathlib import Path

        from edgevision.reports.weak import semantic_agreement, write_agreement_page

        out = Path(args.out)
        figure = Path(args.figures) / (out.stem + ".png")
        figure.parent.mkdir(parents=True, exist_ok=True)
        results = {
            c: semantic_agreement(c, args.data, split=args.split, progress=sys.stderr.isatty(),
                                  figure=figure if c == args.agreement[-1] else None)
            for c in args.agreement
        }  # fmt: skip
        md = write_agreement_page(results, out, data=args.data, command=command_line(args),
                                  figure=figure)  # fmt: skip
        print(f"wrote {md} and {figure}")
        return 0
    if args.rounds < 1:
        raise ConfigError("--rounds must be >= 1 (stage (d) is the self-training)")
    cfg = InstanceTrainConfig(
        input_size=parse_size(args.input, "--input"),
        **pick(args, "model", "epochs", "batch_size", "lr"),
    )
    cfg = apply_overrides(cfg, args.overrides) if args.overrides else cfg
    files = weak_report(
        args.data,
        out=args.out,
        work=args.work,
        train=cfg,
        rounds=args.rounds,
        command=command_line(args),
        progress=sys.stderr.isatty(),
    )
    return print_wrote(files)


def run_calibration(args: argparse.Namespace) -> int:
    """Static PTQ: mIoU vs calibration size and method (minmax/entropy/percentile).

    Quantize CKPT statically for every --methods x --sizes (calibration images evenly spaced
    over --calib-split), score each on --data --split through ONNX Runtime and write OUT
    (table) and OUT.png. Models and scores are cached under --work.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.errors import ConfigError, require_dir
    from edgevision.reports.quantization import calibration_sweep, write_sweep_page

    require_dir(args.data, "dataset folder")
    try:
        sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    sweep = calibration_sweep(
        args.checkpoint,
        args.data,
        sizes=sizes,
        methods=[m.strip() for m in args.methods.split(",") if m.strip()],
        progress=sys.stderr.isatty(),
        **pick(args, "calib_split", "split", "eval_images", "threads", "work"),
    )
    return print_wrote(write_sweep_page(sweep, args.out, command=command_line(args)))


def run_gpu(args: argparse.Namespace) -> int:
    """The GPU page from what ``scripts/gpu_check.sh`` measured on a CUDA machine.

    Read DIR (the script's bench JSON per model, engine and precision, with the rows it
    skipped and why; nvidia-smi's GPU line; the stream's summary; the GPU tests' result) and
    write --out and its JSON. Refuses a folder without a GPU recorded: the page exists only
    when it was measured on a GPU.
    """
    check_outputs(args, "out")
    from edgevision.errors import require_dir
    from edgevision.reports.gpu import gpu_report

    require_dir(args.results, "results folder")
    res = gpu_report(args.results, out=args.out, command=command_line(args))
    print(f"{len(res['rows'])} rows")
    return print_wrote([args.out, Path(args.out).with_suffix(".json")])


def run_tracking(args: argparse.Namespace) -> int:
    """Tracking: MOTA, IDF1 and ID switches per motion level, and the tracker's cost.

    Generate synthetic validation videos at each motion factor (the generator knows every
    object's identity), run the model once per frame and each tracker over its boxes, score
    them with motmetrics, time the tracker alone at 50 objects, and write the page to OUT
    (every number also in WORK/tracking.json).
    """
    check_outputs(args, "out", folders=("work",))
    from edgevision.errors import ConfigError
    from edgevision.reports.tracking import tracking_report

    try:
        motions = [float(m) for m in args.motions.split(",") if m.strip()]
    except ValueError:
        raise ConfigError(f"--motions must be numbers like 0.5,1,2, got {args.motions!r}") from None
    if not motions or min(motions) <= 0:
        raise ConfigError("--motions needs at least one factor, each > 0")
    trackers = [t.strip() for t in args.trackers if t.strip()]
    if not trackers:
        raise ConfigError("--trackers needs at least one tracker")
    out = tracking_report(
        args.model,
        command=command_line(args),
        motions=motions,
        trackers=trackers,
        progress=sys.stderr.isatty(),
        **pick(args, "out", "work", "seed", "videos", "frames", "threads", "bench_frames"),
    )
    print(f"wrote {out}")
    return 0


def run_streaming(args: argparse.Namespace) -> int:
    """edgevision run: 1 vs 4 streams, live latency, RSS over a long run.

    Run the model through 'edgevision run' in fresh processes: the sample video (1 stream,
    MP4 overlay), four at once (batched), a live test source faster than the model (leaky
    queues: latency and drops) and a long run (RSS growth); write the table with the
    commands to OUT.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.errors import ConfigError
    from edgevision.reports.streaming import streaming_report

    if args.long_frames < 100 or args.live_fps < 1 or args.live_seconds <= 0:
        raise ConfigError("--long-frames must be >= 100, --live-fps >= 1, --live-seconds > 0")
    out = streaming_report(
        args.model,
        command=command_line(args),
        **pick(args, "out", "work", "threads", "live_fps", "live_seconds", "long_frames", "video"),
    )
    print(f"wrote {out}")
    return 0


def run_instance(args: argparse.Namespace) -> int:
    """YOLACT on video: precision per component (Table I) and video mode (Table II).

    From a yolact_* video checkpoint: export its components, make the INT8/FP32 mixes, run
    each per frame on --data (YouTube-VIS layout) for mask AP and time, then per-frame vs
    fixed/adaptive keyframes with ProtoNet or warped prototypes, with per-stage times; write
    OUT and OUT_strip.png. Component folders under --work are reused.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.errors import ConfigError, require_dir
    from edgevision.reports.instance_video import instance_report
    from edgevision.video.keyframes import parse_keyframes

    require_dir(args.data, "dataset folder")
    if args.motion_data:
        require_dir(args.motion_data, "--motion-data folder")
    parse_keyframes(args.keyframes)
    try:
        intervals = [int(v) for v in args.intervals.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"--intervals: comma-separated integers, got {args.intervals!r}"
        ) from None
    if any(k < 2 for k in intervals):
        raise ConfigError(f"--intervals must be >= 2 (1 is per-frame mode), got {intervals}")
    if args.rounds < 1 or args.calib_size < 1 or args.max_frames < 0:
        raise ConfigError("--rounds and --calib-size must be >= 1, --max-frames >= 0")
    files = instance_report(
        args.checkpoint,
        args.data,
        intervals=intervals,
        command=command_line(args),
        **pick(
            args,
            "out",
            "work",
            "split",
            "calib_split",
            "calib_size",
            "keyframes",
            "motion_data",
            "threads",
            "rounds",
            "max_frames",
        ),
    )
    return print_wrote(files)


def run_detection(args: argparse.Namespace) -> int:
    """The detection ablation (YOLO-ReT variants, YOLOv5 stems): AP50, FP32/INT8 FPS.

    Train each variant (yolo_ret_m075 baseline / +truncate / +RFCR / +truncate+RFCR /
    +shortcut, yolov5n Focus vs conv6x6) on --data with one schedule, export, quantize to
    static INT8, score AP50 and time FP32/INT8 alternately in fresh ONNX Runtime processes;
    write --md with a PNG.
    """
    check_outputs(args, "md", folders=("out",))
    from edgevision.reports.detection_ablation import run_args

    return run_args(args, command_line(args))


def run_backends(args: argparse.Namespace) -> int:
    """Every model on every CPU engine and precision of this host (ORT / OpenVINO; FP32,
    BF16 where the CPU has it, INT8 from ORT's and NNCF's PTQ): latency, FPS, RSS, size and
    the headline metric, timed alternately in fresh processes; writes --out and its JSON.
    """
    check_outputs(args, "out", folders=("work",))
    from edgevision.errors import require_file
    from edgevision.reports.backends import backends_report

    data = keyed_values(args.data, "--data")
    for w in args.weights:
        require_file(w, "weights")
    res = backends_report(
        list(args.weights),
        data=data,
        command=command_line(args),
        progress=sys.stderr.isatty(),
        **pick(
            args, "out", "work", "split", "max_images", "calib_images", "runs", "blocks",
            "threads",
        ),
    )  # fmt: skip
    print(f"wrote {args.out} ({len(res['rows'])} rows) and {Path(args.out).with_suffix('.json')}")
    return 0


def run_detection_speed(args: argparse.Namespace) -> int:
    """A trained detector's INT8 e2e FPS vs a YOLOv8n-architecture FP32 reference; NMS share.

    Export WEIGHTS at --input (FP32 ONNX), quantize to static INT8 (calibrated on --data's
    train images), export the YOLOv8n-architecture reference, time the three alternately in
    fresh ONNX Runtime processes (engine-only and end to end per stage), time decode + NMS at
    100 candidates, score val AP50; write --out.
    """
    check_outputs(args, "out", folders=("work", "figures"))
    from edgevision.config import parse_size
    from edgevision.errors import require_dir, require_file
    from edgevision.reports.detection_speed import detection_speed_report

    require_file(args.weights, "weights")
    require_dir(args.data, "dataset folder")
    res = detection_speed_report(
        args.weights,
        input_size=parse_size(args.input, "--input"),
        evaluate_ap=not args.no_eval,
        command=command_line(args),
        **pick(args, "data", "out", "work", "runs", "blocks"),
    )
    print(
        f"wrote {args.out}: INT8 e2e {res['ratio_vs_ref_e2e']:.2f}x the reference's e2e FPS "
        f"({res['ratio_vs_ref_engine']:.2f}x its engine FPS); NMS at 100 candidates "
        f"{100 * res['post_share_100']:.1f} % of e2e"
    )
    return 0
