"""Semantic segmentation training from a :class:`~edgevision.train.config.TrainConfig`.

:func:`train_semantic` builds the model (registry), data (:mod:`edgevision.train.seg_data`),
loss (:func:`edgevision.losses.build_loss`, optionally class-balanced), optimizer and
schedule, the standard hooks, and runs the :class:`~edgevision.train.trainer.Trainer`.
The dataset is fully checked before the first step. Under ``torchrun`` it trains with
DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0 writes the files.

Output folder (``cfg.out``): ``config.yaml``, ``last.pt`` (resumable), ``best.pt`` (best
validation mIoU), ``metrics.csv``.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from edgevision.config import ModelSpec, from_dict, to_dict, to_yaml
from edgevision.data.semantic import SemanticFolder
from edgevision.errors import CheckpointError, ConfigError
from edgevision.io import write_text_atomic
from edgevision.train.card import log_run_start
from edgevision.train.config import RESUME_SCHEDULE_FIELDS, TrainConfig, config_differences
from edgevision.train.hooks import CheckpointHook, EMAHook, EvalHook, LoggerHook
from edgevision.train.schedule import WarmupLR, resume_schedule
from edgevision.train.seg_data import (
    SegEvalDataset,
    SegTrainDataset,
    build_eval_loader,
    build_train_loader,
    check_split,
)
from edgevision.train.trainer import HookBase, Trainer, dist_info

__all__ = [
    "TrainResult",
    "build_criterion",
    "build_optimizer",
    "resolve_device",
    "train_semantic",
]


@dataclass
class TrainResult:
    """What :func:`train_semantic` produced.

    Attributes:
        out_dir: the output folder.
        last: path of ``last.pt``.
        best: path of ``best.pt`` (``None`` when never evaluated).
        best_miou: best validation mIoU (0–1) or ``None``.
        best_epoch: 1-based epoch of ``best_miou`` or ``None``.
        epochs: epochs done.
        steps: optimizer steps done.
        metrics: the last validation metrics (``miou``, ``pixel_acc``, ``per_class_iou``).
    """

    out_dir: Path
    last: Path
    best: Path | None
    best_miou: float | None
    best_epoch: int | None
    epochs: int
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str, amp: bool = False) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; under DDP ``cuda:LOCAL_RANK``.

    Raises:
        ConfigError: CUDA asked for but unavailable, or ``amp`` without CUDA.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available")
    if amp and name != "cuda":
        raise ConfigError("amp: mixed precision needs device 'cuda'")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum) or AdamW; no weight decay on 1-D parameters (norms, biases)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def build_criterion(
    cfg: TrainConfig, train: SemanticFolder, *, progress: bool = False
) -> nn.Module:
    """The loss of ``cfg`` (``edgevision.losses``), class-balanced over the train split if
    asked (effective number of samples, counts cached)."""
    from edgevision.losses import build_loss

    weights = None
    if cfg.class_balanced:
        from edgevision.losses.class_balanced import class_balanced_weights

        weights = class_balanced_weights(
            train, beta=cfg.cb_beta, unit=cfg.cb_unit, progress=progress
        )
    return build_loss(  # type: ignore[no-any-return]
        cfg.loss, ignore_index=train.ignore_index, class_weights=weights, aux_weight=cfg.aux_weight
    )


def _init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun describes (env ``WORLD_SIZE`` > 1); True if we did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def _load_resume(cfg: TrainConfig, path: Path) -> tuple[dict[str, Any], dict[str, Any], Any]:
    from edgevision.checkpoint import load_checkpoint

    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint to resume from: {path}")
    spec, state, extra = load_checkpoint(path)
    if "trainer" not in extra or "train_config" not in extra:
        raise CheckpointError(f"--resume: {path} is not a resumable training checkpoint")
    try:
        old = from_dict(TrainConfig, extra["train_config"])
    except ConfigError as e:
        raise CheckpointError(f"--resume: {path} holds an invalid train config: {e}") from None
    diffs = config_differences(old, cfg, allow=RESUME_SCHEDULE_FIELDS)
    if diffs:
        raise ConfigError(
            f"--resume: the config differs from the run in {path} in "
            f"{', '.join(d.split(':')[0] for d in diffs)} ({'; '.join(diffs)}); "
            "resume with the same settings or train into a new --out"
        )
    extra = {**extra, "planned_epochs": old.epochs}
    return state, extra, spec


def train_semantic(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    hooks: Sequence[HookBase] = (),
    loss_fn: nn.Module | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
) -> TrainResult:
    """Train a semantic segmentation model as ``cfg`` says.

    Seeds python/numpy/torch with ``cfg.seed`` and turns on
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` (process-wide).

    Args:
        cfg: the run.
        resume: continue from ``cfg.out/last.pt`` exactly (same step, LR, RNG, optimizer);
            the stored config must match ``cfg`` except for
            :data:`~edgevision.train.config.RESUME_SAFE_FIELDS`.
        hooks: extra hooks, run after the standard ones.
        loss_fn: use this loss instead of building ``cfg.loss``.
        progress: progress bars; ``None`` = when stderr is a terminal.
        quiet: no per-epoch console lines.
        command: the command line that started this run; recorded with the time, machine
            and versions in ``OUT/runs.jsonl`` (one line per start or resume), which model
            cards quote.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: bad dataset (empty split, label ids outside the classes, image/label size
            mismatch, missing or unreadable file), before any training step.
        ConfigError: invalid settings; on resume, a config that differs (naming the fields).
        CheckpointError: on resume, no/corrupt ``last.pt`` or one for other classes.
        KeyboardInterrupt: Ctrl-C, after ``last.pt`` was saved.
    """
    from edgevision.registry import create_model, get_entry

    device = resolve_device(cfg.device, cfg.amp)
    if not cfg.data:
        raise ConfigError("data: no dataset folder given")
    entry = get_entry(cfg.model)
    if entry.task != "semantic":
        raise ConfigError(f"model {cfg.model!r} is a {entry.task!r} model, not semantic")
    out = Path(cfg.out)
    last = out / "last.pt"
    if not resume and last.is_file():
        raise ConfigError(
            f"out: {out} already holds a run ({last}); pass --resume to continue it or "
            "choose another --out"
        )
    resumed = _load_resume(cfg, last) if resume else None
    show = progress if progress is not None else None

    started_dist = _init_distributed(device)
    ok = False
    try:
        rank, world = dist_info()
        # ---- data, checked before anything trains ----------------------------------------
        train_folder = SemanticFolder(cfg.data, cfg.train_split)
        check_split(train_folder, progress=bool(show) and rank == 0)
        val_folder = None
        if cfg.val_split:
            val_folder = SemanticFolder(
                cfg.data,
                cfg.val_split,
                class_names=train_folder.class_names,
                ignore_index=train_folder.ignore_index,
            )
            check_split(val_folder, progress=bool(show) and rank == 0)
        if resumed is not None:
            old_spec = resumed[2]
            if list(old_spec.class_names) != train_folder.class_names:
                raise CheckpointError(
                    f"--resume: {last} was trained for {old_spec.num_classes} classes "
                    f"{list(old_spec.class_names)}, but {cfg.data} has "
                    f"{train_folder.num_classes}: {train_folder.class_names}"
                )

        # ---- model -------------------------------------------------------------------------
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        torch.manual_seed(cfg.seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        input_size = cfg.input_size or cfg.crop or entry.input_size
        crop = cfg.crop or input_size
        model = create_model(
            cfg.model,
            class_names=train_folder.class_names,
            input_size=tuple(input_size),
            **cfg.model_kwargs,
        )
        base_spec: ModelSpec = model.spec  # type: ignore[assignment]
        spec = dataclasses.replace(
            base_spec,
            ignore_index=train_folder.ignore_index,
            extra={"dataset": str(cfg.data), "train_split": cfg.train_split},
        )
        model.spec = spec  # type: ignore[assignment]
        if resumed is not None:
            state, extra, _ = resumed
            model.load_state_dict(extra.get("raw_state_dict", state))
        model.to(device)
        train_model: nn.Module = model
        if world > 1:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )

        # ---- data loaders ------------------------------------------------------------------
        train_ds = SegTrainDataset(
            train_folder,
            crop=tuple(crop),  # type: ignore[arg-type]
            mean=spec.mean,
            std=spec.std,
            color_order=spec.color_order,
            seed=cfg.seed,
            scale_range=cfg.scale_range,
            flip=cfg.flip,
            jitter=cfg.jitter,
        )
        train_loader = build_train_loader(
            train_ds,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            workers=cfg.workers,
            rank=rank,
            world_size=world,
        )
        ipe = len(train_loader)

        # ---- loss, optimizer, schedule -----------------------------------------------------
        criterion = (
            loss_fn
            if loss_fn is not None
            else build_criterion(cfg, train_folder, progress=bool(show) and rank == 0)
        )
        criterion = criterion.to(device)
        optimizer = build_optimizer(model, cfg)
        scheduler = WarmupLR(
            optimizer,
            total_iters=cfg.epochs * ipe,
            warmup_iters=cfg.warmup_iters + cfg.warmup_epochs * ipe,
            warmup_factor=cfg.warmup_factor,
            mode=cfg.schedule,
            power=cfg.poly_power,
        )

        # ---- hooks -------------------------------------------------------------------------
        std_hooks: list[HookBase] = []
        if cfg.ema:
            std_hooks.append(EMAHook(model, cfg.ema_decay))
        if val_folder is not None:
            val_loader = build_eval_loader(
                SegEvalDataset(
                    val_folder,
                    mean=spec.mean,
                    std=spec.std,
                    color_order=spec.color_order,
                    input_size=spec.input_size,
                ),
                workers=cfg.workers,
                rank=rank,
                world_size=world,
            )
            std_hooks.append(
                EvalHook(
                    val_loader,
                    num_classes=spec.num_classes,
                    ignore_index=spec.ignore_index,
                    class_names=spec.class_names,
                    every=cfg.eval_every,
                )
            )
        std_hooks.append(
            LoggerHook(out, log_every=cfg.log_every, progress=show, tensorboard=None, quiet=quiet)
        )
        ckpt_hook = CheckpointHook(out, spec, train_config=to_dict(cfg))
        std_hooks.append(ckpt_hook)

        trainer = Trainer(
            train_model,
            optimizer,
            train_loader,
            criterion,
            scheduler=scheduler,
            hooks=[*std_hooks, *hooks],
            device=device,
            max_epochs=cfg.epochs,
            grad_clip=cfg.grad_clip,
            amp=cfg.amp,
            channels_last=cfg.channels_last,
        )
        if resumed is not None:
            try:
                trainer.load_state_dict(resumed[1]["trainer"])
            except (ValueError, KeyError) as e:
                raise CheckpointError(f"--resume: cannot restore {last}: {e}") from None
            resume_schedule(
                scheduler,
                planned_epochs=resumed[1]["planned_epochs"],
                epochs=cfg.epochs,
                done_epochs=trainer.epoch,
                iters_per_epoch=ipe,
                out=out,
                announce=rank == 0 and not quiet,
            )
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "config.yaml", to_yaml(cfg))
            log_run_start(
                out,
                command=command,
                device=str(device),
                start_iter=trainer.iter,
                start_epoch=trainer.epoch,
                epochs=cfg.epochs,
            )
        if not trainer.finished:
            trainer.train()

        evals = [h for h in trainer.hooks if isinstance(h, EvalHook)]
        best = evals[0].best if evals and evals[0].best > -np.inf else None
        s = trainer.storage
        ok = True
        return TrainResult(
            out_dir=out,
            last=last,
            best=(out / "best.pt") if (out / "best.pt").is_file() else None,
            best_miou=best,
            best_epoch=(evals[0].best_epoch + 1) if best is not None else None,
            epochs=trainer.epoch,
            steps=trainer.iter,
            metrics={k: s[k] for k in ("miou", "pixel_acc", "per_class_iou") if k in s},
        )
    finally:
        if started_dist:
            # every process reaches here before any tears gloo down; a peer that leaves while
            # rank 0 still saves can abort ("terminate called without an active exception")
            if ok:
                dist.barrier()
            dist.destroy_process_group()
