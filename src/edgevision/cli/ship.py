"""``edgevision ship``: copy a training run's checkpoint to ``weights/NAME`` with a model card."""

from __future__ import annotations

import argparse
import sys

from edgevision.cli.common import add_command, pick


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "ship", run)
    p.add_argument("run", metavar="RUN", help="training run folder (edgevision train --out)")
    p.add_argument(
        "--name", required=True, help="name under WEIGHTS_DIR, e.g. ddrnet23_slim_camvid"
    )
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder to measure on")
    p.add_argument("--split", default="val", help="split to measure (default: val)")
    p.add_argument(
        "--held-out",
        metavar="SPLIT",
        help="whole sequences the run neither trained nor selected on, e.g. train:0006R0 for "
        "a run on train-0006R0 shipped with --which last: the card's headline",
    )
    p.add_argument(
        "--video-data",
        metavar="DIR",
        help="detection/instance models: YouTube-VIS videos the run never saw (e.g. 'edgevision "
        "data synth' of an unused seed); per-frame AP on their val videos is the headline",
    )
    p.add_argument(
        "--video-label", metavar="TEXT", help="how the card names --video-data (default: DIR)"
    )
    p.add_argument(
        "--data-label", metavar="TEXT", help="how the card names the data (default: --data)"
    )
    p.add_argument(
        "--which",
        choices=["best", "last", "video", "video_ft"],
        default="best",
        help="checkpoint: best (validation), last, video (video.pt: the best image model "
        "+ its trained FeatFlowNet, for YolactEdge video mode) or video_ft (video_ft.pt: "
        "that, fine-tuned end to end on warped features: train --set video_steps=N)",
    )
    p.add_argument("--weights-dir", default="weights", metavar="DIR", help="default: weights")
    p.add_argument("--notes", default="", help="free text for the card")
    p.add_argument("--threads", type=int, default=2, help="inference threads (default: 2)")


def run(args: argparse.Namespace) -> int:
    """Ship a training run's weights with a model card.

    Copy RUN/best.pt (or last.pt) to WEIGHTS_DIR/NAME/NAME.safetensors (weights and spec
    only) with train_config.yaml, card.json and a README.md model card: data, commands,
    epochs, wall time, hardware, and the metrics measured now on --data --split by the same
    evaluation as 'edgevision eval'.
    """
    from edgevision.train.card import metric_headline, ship

    if args.video_label and not args.video_data:
        from edgevision.errors import ConfigError

        raise ConfigError("--video-label names the --video-data folder: give --video-data too")
    res = ship(
        args.run,
        args.name,
        progress=sys.stderr.isatty(),
        **pick(
            args, "data", "split", "weights_dir", "which", "data_label", "notes", "threads",
            "held_out", "video_data", "video_label",
        ),
    )  # fmt: skip
    score = metric_headline(res.card["metrics"])
    h = res.card.get("held_out")
    if h:
        score = f"held-out {metric_headline(h['metrics'])} on {h['split']}; {score}"
    v = res.card.get("video")
    if v:
        score = f"per frame on videos {metric_headline(v['metrics'])}; {score}"
    print(f"shipped {res.weights} ({score} on {args.split}); card: {res.dir / 'README.md'}")
    return 0
