"""Training: a resumable trainer with hooks, and semantic-segmentation training.

Imports are lazy (``from edgevision.train import Trainer`` imports torch then), so the CLI
and :class:`TrainConfig` load without torch.

Example:
    >>> from edgevision.train import TrainConfig, train_semantic
    >>> cfg = TrainConfig(data="data/camvid", epochs=10, crop=(360, 480), out="runs/a")
    >>> result = train_semantic(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "TrainConfig": "edgevision.train.config",
    "Trainer": "edgevision.train.trainer",
    "HookBase": "edgevision.train.trainer",
    "CheckpointHook": "edgevision.train.hooks",
    "EMAHook": "edgevision.train.hooks",
    "EvalHook": "edgevision.train.hooks",
    "LoggerHook": "edgevision.train.hooks",
    "ModelEMA": "edgevision.train.ema",
    "WarmupLR": "edgevision.train.schedule",
    "lr_factor": "edgevision.train.schedule",
    "SeededSampler": "edgevision.train.seg_data",
    "SegTrainDataset": "edgevision.train.seg_data",
    "SegEvalDataset": "edgevision.train.seg_data",
    "TrainResult": "edgevision.train.run",
    "train_semantic": "edgevision.train.semantic",
    "train": "edgevision.train.run",
    "TrainParts": "edgevision.train.run",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
