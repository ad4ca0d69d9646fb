"""``edgevision train``: train any registry model (semantic, detect, instance) on a dataset.

The model's task (:mod:`edgevision.tasks`) picks the config class; the run is that config
built from, in increasing priority: its defaults, ``--config FILE.yaml`` (or, with
``--resume``, ``OUT/config.yaml``), the explicit flags, and ``--set key=value`` overrides,
trained by the one loop (:func:`edgevision.train.run.train`). Torch is imported only when it
runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from edgevision.cli.common import (
    add_command,
    add_overrides,
    check_outputs,
    command_line,
    nonneg_int,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train", run)
    p.add_argument(
        "model", nargs="?", help="registry model name (from --config/--resume if omitted)"
    )
    p.add_argument(
        "--data",
        metavar="DIR|YAML",
        help="dataset folder (semantic: edgevision layout or Cityscapes; detectors: COCO or "
        "YOLO-txt layout) or, for detectors, a dataset YAML (Ultralytics data.yaml shape)",
    )
    p.add_argument("--epochs", type=positive_int, metavar="N")
    p.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="images per step (per process)"
    )
    p.add_argument(
        "--crop",
        metavar="HxW",
        help="semantic: training crop, also the model input size; detect/instance: the "
        "network input size",
    )
    p.add_argument("--lr", type=positive_float, help="peak learning rate")
    p.add_argument(
        "--loss",
        choices=["ce", "ohem", "focal"],
        help="semantic models only (detectors: --set box_loss=ciou|giou)",
    )
    p.add_argument(
        "--class-balanced",
        action="store_true",
        default=None,
        help="weight classes by the effective number of samples (pixels/images, or boxes)",
    )
    p.add_argument("--beta", type=float, metavar="B", help="beta of the class-balanced weights")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=nonneg_int, metavar="N", help="data loader processes")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--pretrained",
        metavar="FILE",
        help="start from pretrained weights: a public checkpoint (torchvision/timm ImageNet "
        "MobileNetV2 or ResNet, official DDRNet-23-slim, YOLACT/YolactEdge, YOLOv5 state "
        "dict; see 'edgevision convert --list') or an edgevision checkpoint of the same model",
    )
    add_overrides(
        p,
        "--set",
        dest="overrides",
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
    w.add_argument(
        "--rounds", type=nonneg_int, metavar="N", help="self-training rounds (default 1)"
    )
    add_overrides(
        w,
        "--weak-set",
        dest="weak_overrides",
        help="any WeakConfig field, e.g. --weak-set split=false --weak-set score_threshold=0.4",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def task_of_args(args: argparse.Namespace) -> Any:
    """The :class:`~edgevision.tasks.TaskDef` of the model a ``train`` call names: from
    ``MODEL``, else ``--config FILE``, else ``OUT/config.yaml`` on resume.

    Raises:
        ConfigError: no model named anywhere, or an unreadable config file.
    """
    import yaml

    from edgevision.errors import ConfigError
    from edgevision.registry import get_entry
    from edgevision.tasks import get_task

    name = getattr(args, "model", None)
    if not name:
        src = None
        if getattr(args, "config", None):
            src = Path(args.config)
            if not src.is_file():
                raise ConfigError(f"--config: {src} not found")
        elif getattr(args, "resume", False) and getattr(args, "out", None):
            src = Path(args.out) / "config.yaml"
            if not src.is_file():
                raise ConfigError(
                    f"--resume: {src} not found: is --out the folder of a training run "
                    f"(holding config.yaml and last.pt)?"
                )
        if src is not None and src.is_file():
            try:
                data = yaml.safe_load(src.read_text())
            except yaml.YAMLError as e:
                raise ConfigError(f"{src}: not valid YAML: {str(e).splitlines()[0]}") from None
            name = data.get("model") if isinstance(data, dict) else None
    if not name or not isinstance(name, str):
        raise ConfigError("no model: give MODEL (see 'edgevision models') or --config")
    return get_task(get_entry(name).task)


def config_from_args(args: argparse.Namespace, task: Any = None) -> Any:
    """The training config (the task's config class) of parsed ``train`` arguments, from, in
    increasing priority: its defaults, ``--config FILE.yaml`` (or, with ``--resume``,
    ``OUT/config.yaml``), the explicit flags and ``--set key=value`` overrides.

    Raises:
        ConfigError: a flag the task's config has no field for, a bad value, no dataset.
    """
    from edgevision.config import apply_overrides, from_yaml, parse_size
    from edgevision.errors import ConfigError
    from edgevision.train.run import replace_config

    task = task or task_of_args(args)
    cls = task.load("config")
    fields = {f.name for f in dataclasses.fields(cls)}
    if args.config:
        base = from_yaml(cls, Path(args.config))
    elif args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        base = from_yaml(cls, Path(args.out) / "config.yaml")
    else:
        base = cls(model=args.model)
    flags: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "out": args.out,
        "device": args.device,
        "workers": args.workers,
        "seed": args.seed,
        "pretrained": getattr(args, "pretrained", None),
        # the training crop where the task trains on crops, else the network input size
        ("crop" if "crop" in fields else "input_size"): (
            parse_size(args.crop, "--crop") if args.crop else None
        ),
    }
    for flag, name in (("loss", "loss"), ("class_balanced", "class_balanced"), ("beta", "cb_beta")):
        value = getattr(args, flag, None)
        if value is None:
            continue
        if name not in fields or (flag == "loss" and "box_loss" in fields):
            hint = " (use --set box_loss=ciou|giou)" if "box_loss" in fields else ""
            raise ConfigError(
                f"--{flag.replace('_', '-')} does not apply to {task.title} models{hint}"
            )
        flags[name] = value
    changes = {k: v for k, v in flags.items() if v is not None}
    if args.out is None and not args.config and not args.resume:
        changes["out"] = str(Path("runs") / (args.model or base.model))
    cfg = replace_config(base, **changes)
    cfg = apply_overrides(cfg, args.overrides) if args.overrides else cfg
    if not cfg.data:
        raise ConfigError("no dataset: give --data DIR (or --data FILE.yaml for detectors)")
    check_outputs(argparse.Namespace(out=cfg.out), folders=("out",))
    return cfg


def run(args: argparse.Namespace) -> int:
    """Train a model of any task (resumable).

    Train a registry model of any task (semantic segmentation, detection, instance
    segmentation; 'edgevision models' lists them) on a dataset: semantic models on
    DIR/images/SPLIT + DIR/labels/SPLIT (+ dataset.yaml) or a Cityscapes folder (leftImg8bit/,
    gtFine/); detectors on a COCO layout (DIR/annotations/instances_SPLIT.json,
    DIR/images/SPLIT), a YOLO-txt folder (DIR/images/SPLIT, DIR/labels/SPLIT, names in
    DIR/data.yaml) or a dataset YAML naming any COCO files or YOLO image folders (the
    Ultralytics data.yaml shape); YOLACT on a COCO layout with masks. Writes OUT/config.yaml,
    OUT/last.pt (every epoch, and on Ctrl-C or SIGTERM after the current step), OUT/best.pt
    (best validation metric of the task: mIoU, AP50 or mask AP; loadable by 'edgevision
    eval') and OUT/metrics.csv (loss, and the task's validation metrics per epoch). --resume
    continues OUT/last.pt exactly. The dataset is checked before the first step. Under
    torchrun it trains with DDP.
    """
    import os
    import sys

    from edgevision.errors import ConfigError

    command = command_line(args)
    show = None if not args.no_progress else False
    task = task_of_args(args)
    if args.weak:
        return _run_weak(args, task, command)
    if args.classes or args.rounds is not None or args.weak_overrides:
        raise ConfigError("--classes, --rounds and --weak-set need --weak")
    cfg = config_from_args(args, task)
    from edgevision.train.run import train

    result = train(cfg, resume=args.resume, progress=show, command=command)
    if int(os.environ.get("RANK", "0")) == 0:
        msg = f"trained {cfg.model}: {result.epochs} epochs, {result.steps} steps -> {result.last}"
        if result.best is not None and result.best_metric is not None:
            msg += (
                f"; best val {task.metric_label} {result.best_metric:.4f} "
                f"(epoch {result.best_epoch}) -> {result.best}"
            )
        if result.video is not None:
            epe = result.flow_history[-1]["epe"]
            msg += f"; video model (FeatFlowNet EPE {epe:.3f}) -> {result.video}"
        if result.video_ft is not None:
            msg += f"; fine-tuned on warped features -> {result.video_ft}"
        print(msg, file=sys.stdout)
    return 0


def _run_weak(args: argparse.Namespace, task: Any, command: str) -> int:
    """``edgevision train MODEL --weak --classes A,B --data SEMANTIC_DIR ...``."""
    from edgevision.config import apply_overrides
    from edgevision.errors import ConfigError
    from edgevision.train.weak import WeakConfig, train_weak

    if not task.weak:
        raise ConfigError(f"--weak trains instance models; {args.model!r} is a {task.title} model")
    if not args.classes:
        raise ConfigError("--weak needs --classes (the thing classes, e.g. Car,Pedestrian)")
    if args.resume:
        raise ConfigError("--weak runs resume by themselves: run the same command again")
    cfg = config_from_args(args, task)
    weak = WeakConfig(
        classes=tuple(c.strip() for c in args.classes.split(",") if c.strip()),
        rounds=1 if args.rounds is None else args.rounds,
    )
    weak = apply_overrides(weak, args.weak_overrides) if args.weak_overrides else weak
    progress = None if not args.no_progress else False
    res = train_weak(cfg, weak, progress=progress, command=command)
    print(
        f"weak training: {len(res.rounds)} round(s) -> {res.final} (record: {res.out_dir / 'weak.json'})"
    )
    return 0
