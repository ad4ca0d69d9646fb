"""Training: the one loop of every task (:func:`train`), its trainer and hooks.

Each task (:mod:`edgevision.tasks`) supplies its parts (``build_parts`` in
``train/semantic.py``, ``train/detection.py``, ``train/instance.py``); :func:`train` runs
them. Imports are lazy (``from edgevision.train import Trainer`` imports torch then), so the
CLI and :class:`TrainConfig` load without torch.

Example:
    >>> from edgevision.train import TrainConfig, train
    >>> cfg = TrainConfig(data="data/camvid", epochs=10, crop=(360, 480), out="runs/a")
    >>> result = train(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.train.run": ("train", "TrainParts", "TrainResult"),
    "edgevision.train.config": ("TrainConfig",),
    "edgevision.train.trainer": ("Trainer", "HookBase"),
    "edgevision.train.hooks": (
        "CheckpointHook",
        "EMAHook",
        "EvalHook",
        "LoggerHook",
        "PeriodicEvalHook",
    ),
    "edgevision.train.ema": ("ModelEMA",),
    "edgevision.train.schedule": ("WarmupLR", "lr_factor"),
    "edgevision.train.seg_data": ("SeededSampler", "SegTrainDataset", "SegEvalDataset"),
    "edgevision.train.semantic": ("train_semantic",),
    "edgevision.train.detection": ("train_detection",),
    "edgevision.train.instance": ("train_instance",),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
