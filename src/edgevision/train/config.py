""":class:`TrainConfig`: everything a semantic-segmentation training run depends on.

A typed dataclass; YAML (``OUT/config.yaml``) is only its serialized form, and CLI
``--set key=value`` overrides are type-checked by :func:`edgevision.config.apply_overrides`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from edgevision.config import validate
from edgevision.errors import ConfigError

__all__ = ["RESUME_SAFE_FIELDS", "TrainConfig"]

RESUME_SAFE_FIELDS: frozenset[str] = frozenset(
    {"out", "workers", "log_every", "eval_every", "device", "data", "channels_last"}
)
"""Fields that may differ between a run and its ``--resume`` without changing the result
(``data`` may move; its content is checked by class list and size instead;
``channels_last`` is a memory layout: float rounding only)."""


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        model: registry name, e.g. ``"deeplabv3plus_mobilenetv2"``.
        model_kwargs: constructor overrides (``width_mult``, ``aspp_channels`` ...).
        pretrained: start from this checkpoint (``""``: from scratch): a public checkpoint
            :mod:`edgevision.models.pretrained` knows (ImageNet MobileNetV2/ResNet, DDRNet,
            YOLACT, YOLOv5) or an edgevision checkpoint of the same model; refused when it
            fills under 95 % of the backbone. Ignored on ``--resume`` (``last.pt`` wins).
        data: dataset folder: the edgevision layout (:class:`~edgevision.data.semantic.SemanticFolder`)
            or Cityscapes (``leftImg8bit/`` + ``gtFine/``; :func:`~edgevision.data.semantic.open_semantic`).
        train_split: split to train on, or a selector of whole sequences
            (``train-0006R0``: without it; :mod:`edgevision.data.sequences`).
        val_split: split to evaluate on, e.g. a held-out sequence ``train:0006R0`` (``""`` = no evaluation).
        epochs: number of epochs (>= 1).
        batch_size: images per step per process (>= 1; BatchNorm wants >= 2).
        crop: training crop ``(H, W)``; ``None`` = ``input_size``.
        input_size: the network input ``(H, W)`` recorded in the spec: what ``edgevision
            eval`` and the runtime resize images to, and what validation uses. ``None`` =
            ``crop``, or the model's registered input size when both are ``None``.
        scale_range: random scale range of the augmentation ``(min, max)``.
        flip: random horizontal flip.
        jitter: photometric jitter strength in 0–1 (0 = off): brightness, contrast,
            saturation factors in ``1 ± jitter`` and a hue shift of up to ``jitter * 18°``.
        distill_from: a semantic teacher (checkpoint or ``.onnx``, same classes) whose
            logits, cached once per image, the student also learns from
            (:mod:`edgevision.train.distill`); ``""`` = off. The teacher must not have seen
            the held-out sequences.
        distill_weight: weight of the distillation term.
        distill_temperature: softmax temperature ``T`` of the distillation term.
        distill_stride: resolution divisor of the cached teacher logits.
        photometric: strength in 0–1 of the new-street changes (gamma, colour temperature,
            blur, noise, JPEG; :func:`edgevision.train.seg_data.street_photometric`); 0 = off.
        lr: peak learning rate (after warmup).
        optimizer: ``"sgd"`` (Nesterov-free momentum) or ``"adamw"``.
        momentum: SGD momentum.
        weight_decay: weight decay (decoupled for AdamW).
        warmup_iters: linear warmup steps; added to ``warmup_epochs`` worth of steps.
        warmup_epochs: linear warmup in epochs.
        warmup_factor: LR factor at step 0 of the warmup (0–1).
        schedule: ``"poly"`` (``(1 - t) ** poly_power``) or ``"cosine"``, per step.
        poly_power: power of the poly schedule.
        loss: ``"ce"``, ``"ohem"`` or ``"focal"`` (see :func:`edgevision.losses.build_loss`).
        class_balanced: weight classes by the effective number of samples.
        cb_beta: ``beta`` of the effective number in 0–1; ``None`` = the default of
            ``cb_unit`` (:data:`edgevision.losses.class_balanced.DEFAULT_BETA`).
        cb_unit: what one sample is for the class-balanced counts: ``"pixels"`` or
            ``"images"`` (see :mod:`edgevision.losses.class_balanced`).
        aux_weight: weight of auxiliary-head losses (models returning ``{"out", "aux"}``).
        ema: keep an exponential moving average of the weights and evaluate/save it.
        ema_decay: EMA decay per step (0–1).
        grad_clip: clip the global gradient norm to this value (``None`` = off).
        eval_every: evaluate every N epochs (and always after the last one).
        log_every: write a ``step`` row to ``metrics.csv`` every N steps (0 = epoch rows only).
        seed: seed of weights init, data order and augmentation.
        workers: DataLoader worker processes (results do not depend on it).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        amp: mixed precision (CUDA only).
        channels_last: train in NHWC memory format: 20–35 % faster steps on this CPU for the
            MobileNetV2/ESPNet models, ~7 % for DDRNet (measured fwd+bwd, 1 thread). Configs
            written before this field existed (e.g. the shipped DDRNet's) trained NCHW.
        out: output folder (``config.yaml``, ``last.pt``, ``best.pt``, ``metrics.csv``).
    """

    model: str = "deeplabv3plus_mobilenetv2"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str = ""
    data: str = ""
    train_split: str = "train"
    val_split: str = "val"
    epochs: int = 100
    batch_size: int = 8
    crop: tuple[int, int] | None = None
    input_size: tuple[int, int] | None = None
    scale_range: tuple[float, float] = (0.5, 2.0)
    flip: bool = True
    jitter: float = 0.2
    photometric: float = 0.0
    distill_from: str = ""
    distill_weight: float = 1.0
    distill_temperature: float = 2.0
    distill_stride: int = 4
    lr: float = 0.01
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 0
    warmup_epochs: int = 1
    warmup_factor: float = 0.001
    schedule: Literal["poly", "cosine"] = "poly"
    poly_power: float = 0.9
    loss: Literal["ce", "ohem", "focal"] = "ce"
    class_balanced: bool = False
    cb_beta: float | None = None
    cb_unit: Literal["pixels", "images"] = "pixels"
    aux_weight: float = 0.4
    ema: bool = False
    ema_decay: float = 0.999
    grad_clip: float | None = None
    eval_every: int = 1
    log_every: int = 10
    seed: int = 0
    workers: int = 0
    device: Literal["cpu", "cuda", "auto"] = "auto"
    amp: bool = False
    channels_last: bool = True
    out: str = "runs/train"

    RESUME_SAFE: ClassVar[frozenset[str]] = RESUME_SAFE_FIELDS

    def __post_init__(self) -> None:
        validate(self)
        if self.distill_weight < 0 or self.distill_temperature <= 0 or self.distill_stride < 1:
            raise ConfigError(
                "distill_weight must be >= 0, distill_temperature > 0, distill_stride >= 1"
            )
        for name in ("epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_iters", "warmup_epochs", "log_every", "workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("crop", "input_size"):
            v = getattr(self, name)
            if v is not None and min(v) <= 0:
                raise ConfigError(f"{name} must be positive, got {v}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ConfigError(f"scale_range must satisfy 0 < min <= max, got {self.scale_range}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("jitter", "photometric", "warmup_factor", "cb_beta", "ema_decay", "momentum"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if self.weight_decay < 0 or self.aux_weight < 0 or self.poly_power <= 0:
            raise ConfigError("weight_decay and aux_weight must be >= 0, poly_power > 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
