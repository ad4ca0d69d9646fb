"""Semantic segmentation training from a :class:`~edgevision.train.config.TrainConfig`.

:func:`build_parts` gives the one loop (:func:`edgevision.train.run.train`) the model
(registry), data (:mod:`edgevision.train.seg_data`), loss (:func:`edgevision.losses.build_loss`,
optionally class-balanced), optimizer, schedule settings and the mIoU hook.
The dataset is fully checked before the first step. Under ``torchrun`` it trains with
DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0 writes the files.

Output folder (``cfg.out``): ``config.yaml``, ``last.pt`` (resumable), ``best.pt`` (best
validation mIoU), ``metrics.csv``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from edgevision.config import ModelSpec
from edgevision.data.semantic import SemanticDataset, open_semantic
from edgevision.losses import build_loss
from edgevision.losses.class_balanced import class_balanced_weights
from edgevision.registry import create_model, get_entry
from edgevision.train.config import TrainConfig
from edgevision.train.hooks import EvalHook
from edgevision.train.run import (  # build_optimizer, resolve_device: kept importable here
    TrainParts,
    TrainResult,
    build_optimizer,
    resolve_device,
    sgd_or_adamw,
    train,
    warmup_schedule,
)
from edgevision.train.seg_data import (
    SegEvalDataset,
    SegTrainDataset,
    build_eval_loader,
    build_train_loader,
    check_split,
)

__all__ = [
    "build_criterion",
    "build_optimizer",
    "build_parts",
    "class_weights",
    "dense_parts",
    "resolve_device",
    "train_semantic",
]


def class_weights(
    cfg: TrainConfig, train: SemanticDataset, *, progress: bool = False
) -> np.ndarray | None:
    """Class-balanced weights of the train split when ``cfg.class_balanced`` (effective
    number of samples, counts cached; pixels labelled ``ignore_index`` count for no class),
    else ``None``. Shared by every dense task's loss."""
    if not cfg.class_balanced:
        return None
    return class_balanced_weights(train, beta=cfg.cb_beta, unit=cfg.cb_unit, progress=progress)


def build_criterion(
    cfg: TrainConfig, train: SemanticDataset, *, progress: bool = False
) -> nn.Module:
    """The loss of ``cfg`` (``edgevision.losses``), class-balanced over the train split if
    asked (:func:`class_weights`)."""
    weights = class_weights(cfg, train, progress=progress)
    return build_loss(  # type: ignore[no-any-return]
        cfg.loss, ignore_index=train.ignore_index, class_weights=weights, aux_weight=cfg.aux_weight
    )


def build_parts(
    cfg: TrainConfig,
    *,
    known_spec: ModelSpec | None,
    rank: int,
    world_size: int,
    progress: bool,
    quiet: bool,
) -> TrainParts:
    """The semantic task's parts for :func:`edgevision.train.run.train`: the dataset folder
    (fully checked before any step), the model, augmenting/validation loaders, the loss
    (optionally class-balanced), SGD/AdamW, the warmup + poly/cosine schedule and the mIoU
    evaluation hook."""
    return dense_parts(
        cfg,
        rank=rank,
        world_size=world_size,
        train_dataset=lambda folder, spec, **kw: SegTrainDataset(folder, **kw),
        criterion=lambda folder, spec: build_criterion(cfg, folder, progress=progress),
        progress=progress,
        distill=True,
    )


def dense_parts(
    cfg: TrainConfig,
    *,
    rank: int,
    world_size: int,
    train_dataset: Callable[..., Dataset[Any]],
    criterion: Callable[[SemanticDataset, ModelSpec], nn.Module],
    progress: bool,
    distill: bool = False,
) -> TrainParts:
    """The parts every dense task shares (semantic, panoptic, depthseg): the semantic-layout
    folder (checked), the model with the folder's classes, the loader of
    ``train_dataset(folder, spec, crop=, mean=, std=, color_order=, seed=, scale_range=,
    flip=, jitter=, photometric=)``, ``criterion(folder, spec)``, SGD/AdamW, the schedule and
    the mIoU hook on the validation split (the model's first output is its class logits).
    ``distill``: the task takes ``distill_from`` (:mod:`edgevision.train.distill`; its
    dataset then gets ``teacher=``)."""
    entry = get_entry(cfg.model)
    train_folder = open_semantic(cfg.data, cfg.train_split)
    check_split(train_folder, progress=progress)
    val_folder = None
    if cfg.val_split:
        val_folder = open_semantic(
            cfg.data,
            cfg.val_split,
            class_names=train_folder.class_names,
            ignore_index=train_folder.ignore_index,
        )
        check_split(val_folder, progress=progress)

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

    teacher = None
    if cfg.distill_from:
        from edgevision.errors import ConfigError, require_file
        from edgevision.train.distill import TeacherCache, cache_teacher_logits

        if not distill:
            raise ConfigError(f"distill_from applies to semantic models, not {cfg.model}")
        require_file(cfg.distill_from, "distillation teacher")
        teacher = TeacherCache(cfg.distill_from, stride=cfg.distill_stride)
        done = cache_teacher_logits(
            teacher,
            list(train_folder.image_paths),
            class_names=train_folder.class_names,
            progress=progress,
        )
        if done and progress:
            print(f"teacher logits cached for {done} images in {teacher.dir}", flush=True)
    train_ds = train_dataset(
        train_folder,
        spec,
        crop=tuple(crop),  # type: ignore[arg-type]
        mean=spec.mean,
        std=spec.std,
        color_order=spec.color_order,
        seed=cfg.seed,
        scale_range=cfg.scale_range,
        flip=cfg.flip,
        jitter=cfg.jitter,
        photometric=cfg.photometric,
        **({"teacher": teacher} if teacher is not None else {}),
    )
    loader = build_train_loader(
        train_ds,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        workers=cfg.workers,
        rank=rank,
        world_size=world_size,
    )
    ipe = len(loader)
    eval_hook = None
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
            world_size=world_size,
        )
        eval_hook = EvalHook(
            val_loader,
            num_classes=spec.num_classes,
            ignore_index=spec.ignore_index,
            class_names=spec.class_names,
            every=cfg.eval_every,
        )
    crit = criterion(train_folder, spec)
    if teacher is not None:
        from edgevision.train.distill import DistillLoss

        crit = DistillLoss(
            crit,
            weight=cfg.distill_weight,
            temperature=cfg.distill_temperature,
            ignore_index=train_folder.ignore_index,
        )
    return TrainParts(
        model=model,
        loader=loader,
        criterion=crit,
        make_optimizer=sgd_or_adamw(cfg),
        schedule=warmup_schedule(cfg, ipe, power=cfg.poly_power),
        eval_hook=eval_hook,
        ema_decay=cfg.ema_decay if cfg.ema else None,
        grad_clip=cfg.grad_clip,
        amp=cfg.amp,
        log_every=cfg.log_every,
    )


def train_semantic(cfg: TrainConfig, **kwargs: Any) -> TrainResult:
    """Train a semantic segmentation model: :func:`edgevision.train.run.train` with a
    :class:`TrainConfig` (keyword arguments and errors as there)."""
    return train(cfg, **kwargs)
