"""``edgevision train``: train a semantic segmentation model on a dataset folder.

The run is a :class:`~edgevision.train.config.TrainConfig` built from, in increasing
priority: its defaults, ``--config FILE.yaml`` (or, with ``--resume``, ``OUT/config.yaml``),
the explicit flags, and ``--set key=value`` overrides. Torch is imported only when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a semantic segmentation model (resumable)",
        description=(
            "Train a registry model on a dataset folder (DIR/images/SPLIT, DIR/labels/SPLIT, "
            "dataset.yaml). Writes OUT/config.yaml, OUT/last.pt (every epoch and on Ctrl-C), "
            "OUT/best.pt (best validation mIoU; loadable by 'edgevision eval') and "
            "OUT/metrics.csv. --resume continues OUT/last.pt exactly. The dataset is checked "
            "before the first step. Under torchrun it trains with DDP."
        ),
    )
    p.add_argument(
        "model", nargs="?", help="registry model name (from --config/--resume if omitted)"
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per step (per process)")
    p.add_argument("--crop", metavar="HxW", help="training crop, also the model input size")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--loss", choices=["ce", "ohem", "focal"])
    p.add_argument(
        "--class-balanced",
        action="store_true",
        default=None,
        help="weight classes by the effective number of samples",
    )
    p.add_argument("--beta", type=float, metavar="B", help="beta of the class-balanced weights")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, metavar="N", help="data loader processes")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any TrainConfig field, e.g. --set ema=true --set model_kwargs={width_mult: 0.5}",
    )
    p.add_argument("--config", metavar="FILE.yaml", help="a TrainConfig YAML file")
    w = p.add_argument_group(
        "weak supervision (instance models from semantic masks; see edgevision.train.weak)"
    )
    w.add_argument(
        "--weak",
        action="store_true",
        help="train an instance model from a SEMANTIC dataset: pseudo-instances, then "
        "self-training rounds (OUT/roundR/labels, OUT/roundR/model)",
    )
    w.add_argument("--classes", metavar="A,B", help="thing classes, e.g. Car,Pedestrian,Bicyclist")
    w.add_argument("--rounds", type=int, metavar="N", help="self-training rounds (default 1)")
    w.add_argument(
        "--weak-set",
        dest="weak_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any WeakConfig field, e.g. --weak-set split=false --weak-set score_threshold=0.4",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """Build the :class:`TrainConfig` of parsed ``train`` arguments (ConfigError if bad)."""
    from edgevision.config import apply_overrides, from_yaml, parse_size
    from edgevision.errors import ConfigError
    from edgevision.train.config import TrainConfig

    base: TrainConfig
    if args.config:
        base = from_yaml(TrainConfig, Path(args.config))
    elif args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        base = from_yaml(TrainConfig, Path(args.out) / "config.yaml")
    else:
        if not args.model:
            raise ConfigError("no model: give MODEL (see 'edgevision models') or --config")
        base = TrainConfig(model=args.model)
    flags: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "crop": parse_size(args.crop, "--crop") if args.crop else None,
        "lr": args.lr,
        "loss": args.loss,
        "class_balanced": args.class_balanced,
        "cb_beta": args.beta,
        "out": args.out,
        "device": args.device,
        "workers": args.workers,
        "seed": args.seed,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    if args.out is None and not args.config and not args.resume:
        changes["out"] = str(Path("runs") / (args.model or base.model))
    try:
        cfg = dataclasses.replace(base, **changes)
    except TypeError as e:  # pragma: no cover - flags map to fields
        raise ConfigError(str(e)) from None
    cfg = apply_overrides(cfg, args.overrides) if args.overrides else cfg
    if not cfg.data:
        raise ConfigError("no dataset: give --data DIR")
    return cfg


def run(args: argparse.Namespace) -> int:
    import os
    import shlex
    import sys

    from edgevision.train.detection import task_of_train_args

    if args.weak:
        from edgevision.train.weak import run_cli as run_weak

        return run_weak(args)
    if args.classes or args.rounds is not None or args.weak_overrides:
        from edgevision.errors import ConfigError

        raise ConfigError("--classes, --rounds and --weak-set need --weak")
    if task_of_train_args(args) == "detect":
        from edgevision.train.detection import run_cli

        return run_cli(args)
    if task_of_train_args(args) == "instance":
        from edgevision.train.instance import run_cli as run_instance

        return run_instance(args)
    cfg = config_from_args(args)
    from edgevision.train.semantic import train_semantic

    show = None if not args.no_progress else False
    command = shlex.join(["edgevision", *getattr(args, "argv", sys.argv[1:])])
    result = train_semantic(cfg, resume=args.resume, progress=show, command=command)
    if int(os.environ.get("RANK", "0")) == 0:
        msg = f"trained {cfg.model}: {result.epochs} epochs, {result.steps} steps -> {result.last}"
        if result.best is not None and result.best_miou is not None:
            msg += f"; best val mIoU {result.best_miou:.4f} (epoch {result.best_epoch}) -> {result.best}"
        print(msg, file=sys.stdout)
    return 0
