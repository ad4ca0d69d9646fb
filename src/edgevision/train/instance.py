"""Train YOLACT (instance segmentation) and its FeatFlowNet (YolactEdge video mode).

:func:`train_instance` trains a ``yolact_*`` model on a COCO-layout folder
(``DIR/annotations/instances_{split}.json`` + ``DIR/images/{split}``, e.g. the synthetic set
of :func:`edgevision.data.synth.generate`) with the shared :class:`~edgevision.train.trainer.Trainer`
(resumable ``last.pt``, ``best.pt`` on validation mask AP, ``metrics.csv``).

:func:`train_featflownet` trains the FeatFlowNet of a ``video=True`` model on the synthetic
videos' frame pairs with exact ground-truth flow, backbone and heads frozen (YolactEdge's
schedule): an end-point-error loss on the stride-8 flow (the FlyingChairs role; ``epe_weight``)
plus the feature loss that matters at run time, ``‖warp(P_key, flow) − P_cur‖²`` on P4/P5
(``feature_weight``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from edgevision.config import ModelSpec, to_dict, to_yaml, validate
from edgevision.data.coco import CocoDataset, coco_layout
from edgevision.errors import CheckpointError, ConfigError, DataError
from edgevision.io import write_text_atomic
from edgevision.losses.yolact import InstanceTargets, YolactLoss
from edgevision.train.hooks import CheckpointHook, LoggerHook
from edgevision.train.trainer import HookBase, Trainer

__all__ = [
    "InstanceTrainConfig",
    "InstanceTrainDataset",
    "InstanceTrainResult",
    "collate_instances",
    "evaluate_instance",
    "train_featflownet",
    "train_instance",
]


@dataclass
class InstanceTrainConfig:
    """One YOLACT training run.

    Attributes:
        model: registry name (``yolact_*``).
        model_kwargs: constructor overrides (``fpn_channels``, ``video`` ...).
        data: COCO-layout dataset folder.
        train_split: split to train on.
        val_split: split for mask AP after each ``eval_every`` epochs (``""`` = none).
        input_size: network input ``(H, W)``; ``None`` = the model's registered size.
        epochs: epochs (>= 1).
        batch_size: images per step.
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_iters: linear warmup steps.
        flip: random horizontal flip.
        eval_every: evaluate every N epochs (and after the last).
        eval_max_images: cap on validation images (0 = all).
        seed: seed of init, order and augmentation.
        workers: DataLoader workers.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        channels_last: train in NHWC memory format (faster depthwise convs on CPU; configs
            written before this field existed trained NCHW).
        out: output folder.
        use_ignore: honour ignore regions of weak labels (image ``ignore_file``) in the loss.
        use_confidence: weight objects by their ``confidence`` (weak labels) in the loss.
        flow_steps: after training, train the FeatFlowNet of a ``video=True`` model for this
            many steps on the dataset's ``videos/{train_split}`` (exact flow) and write
            ``OUT/video.pt`` (0 = skip).
        flow_lr: learning rate of the FeatFlowNet training.
        flow_schedule: its LR schedule: ``"constant"`` or ``"cosine"`` (decay to 0).
        flow_max_gap: FeatFlowNet pairs are up to this many frames apart (4 = the keyframe
            distance of ``fixed:5``).
        flow_augment: alter every FeatFlowNet pair at random (flips, a shift of the second
            frame, brightness/contrast; the flow stays exact:
            :func:`~edgevision.data.flow.augment_flow_sample`). Runs made before this field
            existed trained without it; their saved configs now train with it unless they
            set ``flow_augment: false``.
        flow_epe_weight: weight of the supervised end-point error in the FeatFlowNet loss
            (the true motion: what result propagation needs).
        flow_feature_weight: weight of the warped-feature loss on P4/P5 (what warping
            features needs; it can pull the flow away from the true motion).
        flow_data: dataset folder whose ``videos/{train_split}`` the FeatFlowNet trains on
            (``None`` = ``data``): a larger synthetic flow set, as YolactEdge pre-trains on
            FlyingChairs, keeps it from over-fitting the few training videos.
        video_steps: after the FeatFlowNet (``OUT/video.pt``), fine-tune the video model end
            to end on warped features for this many steps, backbone frozen, as YolactEdge
            does (:func:`~edgevision.train.video.finetune_video`), and write
            ``OUT/video_ft.pt`` (0 = skip). Resumable (``OUT/video_ft.state.pt``).
        video_lr: its AdamW peak learning rate.
        video_batch_size: (keyframe, current frame) pairs per step.
        video_data: YouTube-VIS dataset whose ``train_split`` videos it trains on
            (``None`` = ``flow_data`` or ``data``).
        video_frame_weight: weight of the per-frame loss on the current frame (keeps the
            keyframe accuracy).
        video_epe_weight: weight of the flow's end-point error where the flow is known.
    """

    model: str = "yolact_mobilenetv2_320"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    train_split: str = "train"
    val_split: str = "val"
    input_size: tuple[int, int] | None = None
    epochs: int = 50
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_iters: int = 50
    flip: bool = True
    eval_every: int = 1
    eval_max_images: int = 0
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    channels_last: bool = True
    out: str = "runs/yolact"
    use_ignore: bool = True
    use_confidence: bool = True
    flow_steps: int = 0
    flow_lr: float = 1e-3
    flow_schedule: Literal["constant", "cosine"] = "constant"
    flow_max_gap: int = 4
    flow_augment: bool = True
    flow_epe_weight: float = 1.0
    flow_feature_weight: float = 1.0
    flow_data: str | None = None
    video_steps: int = 0
    video_lr: float = 2e-4
    video_batch_size: int = 4
    video_data: str | None = None
    video_frame_weight: float = 1.0
    video_epe_weight: float = 1.0

    def __post_init__(self) -> None:
        validate(self)
        if self.epochs < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ConfigError("epochs, batch_size and eval_every must be >= 1")
        if self.lr <= 0 or self.flow_lr <= 0:
            raise ConfigError(f"lr and flow_lr must be > 0, got {self.lr}, {self.flow_lr}")
        if self.flow_max_gap < 1:
            raise ConfigError(f"flow_max_gap must be >= 1, got {self.flow_max_gap}")
        if self.flow_steps < 0:
            raise ConfigError(f"flow_steps must be >= 0, got {self.flow_steps}")
        if self.video_steps < 0 or self.video_batch_size < 1 or self.video_lr <= 0:
            raise ConfigError(
                "video_steps must be >= 0, video_batch_size >= 1 and video_lr > 0, got "
                f"{self.video_steps}, {self.video_batch_size}, {self.video_lr}"
            )
        if min(self.video_frame_weight, self.video_epe_weight) < 0:
            raise ConfigError(
                "video_frame_weight and video_epe_weight must be >= 0, got "
                f"{self.video_frame_weight}, {self.video_epe_weight}"
            )
        if min(self.flow_epe_weight, self.flow_feature_weight) < 0 or not (
            self.flow_epe_weight + self.flow_feature_weight > 0
        ):
            raise ConfigError(
                "flow_epe_weight and flow_feature_weight must be >= 0 and not both 0, got "
                f"{self.flow_epe_weight}, {self.flow_feature_weight}"
            )


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def target_tensors(
    target: Any, image_size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image's objects for :class:`~edgevision.losses.yolact.YolactLoss` after a stretch
    resize to ``input_size``.

    Args:
        target: ``boxes`` (n, 4) xyxy image pixels, ``class_ids`` (n,), ``masks`` (n, H, W).
        image_size: the image's ``(H, W)``.
        input_size: the network input's ``(h, w)``.

    Returns:
        ``(boxes (n, 4) xyxy normalised 0-1, labels (n,) int64, masks (n, h, w) float32 0/1)``.
    """
    import cv2

    (oh, ow), (h, w) = image_size, input_size
    boxes = torch.from_numpy(np.asarray(target.boxes, np.float32).reshape(-1, 4))
    boxes = boxes / torch.tensor([ow, oh, ow, oh], dtype=torch.float32)
    labels = torch.from_numpy(np.asarray(target.class_ids, np.int64))
    if len(labels):
        ms = np.stack(
            [
                cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
                for m in target.masks
            ]
        )
    else:
        ms = np.zeros((0, h, w), np.uint8)
    return boxes, labels, torch.from_numpy(ms.astype(np.float32))


class InstanceTrainDataset(Dataset):
    """COCO images resized (stretch) to the input size, normalised as the spec says.

    Item ``i`` is ``(image (3, H, W) float32, boxes (n, 4) normalised xyxy, labels (n,),
    masks (n, H, W) float32, ignore (H, W) float32 or None, weights (n,) float32 or
    None)``; a horizontal flip is drawn from ``(seed, epoch, i)``. ``ignore`` and
    ``weights`` come from weak labels (image ``ignore_file``, annotation ``confidence``,
    see :mod:`edgevision.data.pseudo_instances`) when the dataset has them and
    ``use_ignore`` / ``use_confidence`` allow.
    """

    def __init__(
        self,
        coco: CocoDataset,
        spec: ModelSpec,
        *,
        flip: bool = True,
        seed: int = 0,
        use_ignore: bool = True,
        use_confidence: bool = True,
    ) -> None:
        self.coco, self.spec, self.flip, self.seed = coco, spec, flip, seed
        self.use_ignore = use_ignore and coco.has_ignore()
        self.use_confidence = use_confidence
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.coco)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        import cv2

        from edgevision.preprocess import preprocess

        s = self.coco[i]
        h, w = self.spec.input_size
        x, _ = preprocess([s.image], self.spec)
        img = torch.from_numpy(x[0])
        boxes, labels, masks = target_tensors(s.target, s.image.shape[:2], (h, w))
        ignore = None
        if self.use_ignore:
            ig = self.coco.ignore_mask(i)
            if ig is not None:
                ig = cv2.resize(ig.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
                ignore = torch.from_numpy(ig.astype(np.float32))
        weights = None
        if self.use_confidence:
            c = self.coco.confidences(i)
            if len(c) == len(labels) and (c != 1.0).any():
                weights = torch.from_numpy(c)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.flip and rng.random() < 0.5:
            img, masks = img.flip(-1), masks.flip(-1)
            ignore = None if ignore is None else ignore.flip(-1)
            boxes = torch.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], 1)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if weights is not None:
            weights = weights[keep]
        return img, boxes[keep], labels[keep], masks[keep], ignore, weights


def collate_instances(
    batch: Sequence[tuple[torch.Tensor, ...]],
) -> tuple[torch.Tensor, InstanceTargets]:
    """Stack images; keep per-image targets in an :class:`InstanceTargets` (ignore regions
    and weights only when some image of the batch has them: zeros / ones for the others)."""
    images = torch.stack([b[0] for b in batch])
    ignore = weights = None
    if any(len(b) > 4 and b[4] is not None for b in batch):
        h, w = images.shape[-2:]
        ignore = [b[4] if b[4] is not None else torch.zeros(h, w) for b in batch]
    if any(len(b) > 5 and b[5] is not None for b in batch):
        weights = [b[5] if b[5] is not None else torch.ones(len(b[2])) for b in batch]
    return images, InstanceTargets(
        [b[1] for b in batch], [b[2] for b in batch], [b[3] for b in batch], ignore, weights
    )


# ------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_instance(
    model: nn.Module,
    data: str | Path,
    split: str = "val",
    *,
    spec: ModelSpec | None = None,
    max_images: int = 0,
    conf_threshold: float = 0.05,
    device: str | torch.device = "cpu",
) -> dict[str, dict[str, Any]]:
    """COCO box and mask AP of a torch YOLACT on a COCO-layout split, with the runtime's
    pre/postprocessing (``yolact_postprocess``).

    Returns:
        :meth:`CocoEvaluator.summarize`: ``{"bbox": {"AP", "AP50", ...}, "segm": {...}}``
        in 0–1.
    """
    from edgevision.evaluate.coco import CocoEvaluator
    from edgevision.postprocess.yolact import yolact_postprocess
    from edgevision.preprocess import preprocess

    spec = spec or model.spec  # type: ignore[assignment]
    assert spec is not None
    ann, img_dir = coco_layout(data, split)
    ds = CocoDataset(ann, img_dir, masks=False)
    ev = CocoEvaluator(str(ann), ("bbox", "segm"))
    adapter = model.export_adapter()  # type: ignore[operator]
    was = model.training
    model.eval()
    n = len(ds) if max_images <= 0 else min(len(ds), max_images)
    try:
        for i in range(n):
            s = ds[i]
            x, tfs = preprocess([s.image], spec)
            outs = [o.float().cpu().numpy() for o in adapter(torch.from_numpy(x).to(device))]
            res = yolact_postprocess(outs, spec, tfs, conf_threshold=conf_threshold)[0]
            ev.add(s.image_id, res)
    finally:
        model.train(was)
    return ev.summarize()


class InstanceEvalHook(HookBase):
    """Mask AP (``mask_ap``) and box AP (``box_ap``) of the eval model every ``every`` epochs."""

    def __init__(
        self,
        data: str,
        split: str,
        spec: ModelSpec,
        *,
        every: int = 1,
        max_images: int = 0,
        quiet: bool = False,
    ) -> None:
        self.data, self.split, self.spec = data, split, spec
        self.every, self.max_images, self.quiet = every, max_images, quiet
        self.history: list[dict[str, float]] = []
        self.best = -math.inf
        self.best_epoch = -1

    def after_epoch(self) -> None:
        t = self.trainer
        if (t.epoch + 1) % self.every and t.epoch + 1 != t.max_epochs:
            return
        m = evaluate_instance(
            t.eval_model(),
            self.data,
            self.split,
            spec=self.spec,
            max_images=self.max_images,
            device=t.device,
        )
        mask_ap = float(np.nan_to_num(m["segm"]["AP"], nan=0.0))
        box_ap = float(np.nan_to_num(m["bbox"]["AP"], nan=0.0))
        t.storage.update(mask_ap=mask_ap, box_ap=box_ap, eval_epoch=t.epoch)
        self.history.append({"epoch": t.epoch + 1, "mask_ap": mask_ap, "box_ap": box_ap})
        if mask_ap > self.best:
            self.best, self.best_epoch = mask_ap, t.epoch
        if not self.quiet and t.rank == 0:
            print(
                f"epoch {t.epoch + 1}/{t.max_epochs}: val mask AP {mask_ap:.4f} box AP {box_ap:.4f}",
                file=sys.stderr,
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": float(self.best), "best_epoch": int(self.best_epoch)}

    def load_state_dict(self, state: Any) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])


class _LossParts(HookBase):
    """Put the latest loss components into ``trainer.storage`` (for the logger)."""

    def __init__(self, criterion: YolactLoss) -> None:
        self.criterion = criterion

    def after_step(self) -> None:
        self.trainer.storage.update({f"loss_{k}": v for k, v in self.criterion.last.items()})


# ------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------
@dataclass
class InstanceTrainResult:
    """What :func:`train_instance` produced (APs in 0–1)."""

    out_dir: Path
    last: Path
    best: Path | None
    best_mask_ap: float | None
    epochs: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    video: Path | None = None
    flow_history: list[dict[str, float]] = field(default_factory=list)
    video_ft: Path | None = None
    video_history: list[dict[str, float]] = field(default_factory=list)


def train_instance(
    cfg: InstanceTrainConfig,
    *,
    resume: bool = False,
    hooks: Sequence[HookBase] = (),
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
) -> InstanceTrainResult:
    """Train a YOLACT as ``cfg`` says (see the module docstring).

    Raises:
        ConfigError: not an instance model, bad settings, an occupied ``out`` without
            ``resume``, or a changed config on resume.
        DataError: missing or malformed dataset.
        CheckpointError: ``resume`` without a resumable ``last.pt``.
    """
    from edgevision.checkpoint import load_checkpoint
    from edgevision.config import from_dict
    from edgevision.registry import create_model, get_entry
    from edgevision.train.schedule import WarmupLR
    from edgevision.train.semantic import resolve_device

    if not cfg.data:
        raise ConfigError("data: no dataset folder given")
    if cfg.flow_steps > 0 and cfg.flow_data:
        flow_split = Path(cfg.flow_data) / "videos" / cfg.train_split
        if not flow_split.is_dir():
            raise DataError(f"flow_data: no video split {cfg.train_split!r} in {cfg.flow_data}")
    entry = get_entry(cfg.model)
    if entry.task != "instance":
        raise ConfigError(f"model {cfg.model!r} is a {entry.task!r} model, not an instance model")
    device = resolve_device(cfg.device)
    out = Path(cfg.out)
    last = out / "last.pt"
    if not resume and last.is_file():
        raise ConfigError(
            f"out: {out} already holds a run ({last}); pass --resume or choose another --out"
        )
    resumed = None
    if resume:
        if not last.is_file():
            raise CheckpointError(f"--resume: no checkpoint to resume from: {last}")
        spec0, state0, extra0 = load_checkpoint(last)
        if "trainer" not in extra0 or "train_config" not in extra0:
            raise CheckpointError(f"--resume: {last} is not a resumable training checkpoint")
        old = to_dict(from_dict(InstanceTrainConfig, extra0["train_config"]))
        new = to_dict(cfg)
        safe = (
            "epochs", "workers", "device", "out", "flow_steps", "flow_lr", "flow_max_gap",
            "flow_schedule", "flow_augment", "flow_epe_weight", "flow_feature_weight",
            "flow_data", "channels_last", "video_steps", "video_lr", "video_batch_size",
            "video_data", "video_frame_weight", "video_epe_weight",
        )  # fmt: skip
        diffs = [k for k in old if k not in safe and old[k] != new.get(k)]
        if diffs:
            raise ConfigError(
                f"--resume: the config differs from the run in {last} in {', '.join(diffs)}"
            )
        resumed = (spec0, state0, extra0)

    ann, img_dir = coco_layout(cfg.data, cfg.train_split)
    coco = CocoDataset(ann, img_dir, masks=True)
    if len(coco) < cfg.batch_size:
        raise DataError(f"{ann}: {len(coco)} images, fewer than batch_size {cfg.batch_size}")
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    input_size = tuple(cfg.input_size or entry.input_size)
    model: Any = create_model(
        cfg.model, class_names=coco.class_names, input_size=input_size, **cfg.model_kwargs
    )
    spec = dataclasses.replace(
        model.spec, extra={"dataset": str(cfg.data), "train_split": cfg.train_split}
    )
    model.spec = spec
    if resumed is not None:
        model.load_state_dict(resumed[2].get("raw_state_dict", resumed[1]))
    model.to(device)
    ds = InstanceTrainDataset(
        coco,
        spec,
        flip=cfg.flip,
        seed=cfg.seed,
        use_ignore=cfg.use_ignore,
        use_confidence=cfg.use_confidence,
    )
    from edgevision.train.seg_data import SeededSampler

    sampler = SeededSampler(len(ds), seed=cfg.seed)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.workers,
        collate_fn=collate_instances,
    )
    criterion = YolactLoss(
        spec.num_classes, anchor_scales=model.anchor_scales, aspect_ratios=model.aspect_ratios
    )
    params = [p for n, p in model.named_parameters() if not n.startswith("flownet.")]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = WarmupLR(
        optimizer,
        total_iters=cfg.epochs * len(loader),
        warmup_iters=cfg.warmup_iters,
        warmup_factor=0.1,
        mode="cosine",
    )
    std: list[HookBase] = [
        _LossParts(criterion),
        LoggerHook(out, log_every=0, progress=progress, tensorboard=None, quiet=quiet),
    ]
    eval_hook = None
    if cfg.val_split:
        eval_hook = InstanceEvalHook(
            cfg.data,
            cfg.val_split,
            spec,
            every=cfg.eval_every,
            max_images=cfg.eval_max_images,
            quiet=quiet,
        )
        std.append(eval_hook)
    std.append(CheckpointHook(out, spec, train_config=to_dict(cfg), metric="mask_ap"))
    trainer = Trainer(
        model,
        optimizer,
        loader,
        criterion,
        scheduler=scheduler,
        hooks=[*std, *hooks],
        device=device,
        max_epochs=cfg.epochs,
        grad_clip=10.0,
        channels_last=cfg.channels_last,
    )
    if resumed is not None:
        try:
            trainer.load_state_dict(resumed[2]["trainer"])
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"--resume: cannot restore {last}: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", to_yaml(cfg))
    from edgevision.train.card import log_run_start

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
    best = eval_hook.best if eval_hook is not None and eval_hook.best > -math.inf else None
    best_path = (out / "best.pt") if (out / "best.pt").is_file() else None
    video_path, flow_rows = None, []
    if cfg.flow_steps > 0:
        from edgevision.checkpoint import load_model, save_checkpoint

        vm: Any = load_model(best_path or last)
        if getattr(vm, "flownet", None) is None:
            raise ConfigError("flow_steps needs a video model: --set model_kwargs={video: true}")
        flow_rows = train_featflownet(
            vm,
            cfg.flow_data or cfg.data,
            split=cfg.train_split,
            steps=cfg.flow_steps,
            lr=cfg.flow_lr,
            schedule=cfg.flow_schedule,
            max_gap=cfg.flow_max_gap,
            augment=cfg.flow_augment,
            epe_weight=cfg.flow_epe_weight,
            feature_weight=cfg.flow_feature_weight,
            seed=cfg.seed,
            progress=not quiet,
        )
        video_path = out / "video.pt"
        extra = dict(vm.spec.extra)
        extra["flow"] = {
            "steps": cfg.flow_steps,
            "lr": cfg.flow_lr,
            "schedule": cfg.flow_schedule,
            "augment": cfg.flow_augment,
            "epe_weight": cfg.flow_epe_weight,
            "feature_weight": cfg.flow_feature_weight,
            "data": cfg.flow_data or cfg.data,
            "final_epe": flow_rows[-1]["epe"],
        }
        save_checkpoint(video_path, vm.cpu(), dataclasses.replace(vm.spec, extra=extra))
    video_ft_path: Path | None = None
    video_rows: list[dict[str, Any]] = []
    if cfg.video_steps > 0:
        video_ft_path, video_rows = _finetune_stage(cfg, out, device, quiet=quiet)
    return InstanceTrainResult(
        out_dir=out,
        last=last,
        best=best_path,
        best_mask_ap=best,
        epochs=trainer.epoch,
        steps=trainer.iter,
        history=list(eval_hook.history) if eval_hook is not None else [],
        video=video_path,
        flow_history=flow_rows,
        video_ft=video_ft_path,
        video_history=video_rows,
    )


# ------------------------------------------------------------------------------------------
# CLI glue (``edgevision train`` dispatches here for task "instance")
# ------------------------------------------------------------------------------------------
def _finetune_stage(
    cfg: InstanceTrainConfig, out: Path, device: Any, *, quiet: bool
) -> tuple[Path, list[dict[str, float]]]:
    """``OUT/video.pt`` fine-tuned end to end on warped features -> ``OUT/video_ft.pt``."""
    from edgevision.checkpoint import load_model, save_checkpoint
    from edgevision.io import file_sha256
    from edgevision.train.video import finetune_video

    src = out / "video.pt"
    if not src.is_file():
        raise ConfigError(
            f"video_steps needs a trained FeatFlowNet ({src} is missing): set flow_steps"
        )
    vm: Any = load_model(src)
    data = cfg.video_data or cfg.flow_data or cfg.data
    rows = finetune_video(
        vm.to(device),
        data,
        split=cfg.train_split,
        steps=cfg.video_steps,
        batch_size=cfg.video_batch_size,
        lr=cfg.video_lr,
        max_gap=cfg.flow_max_gap,
        frame_weight=cfg.video_frame_weight,
        epe_weight=cfg.video_epe_weight,
        seed=cfg.seed,
        state_path=out / "video_ft.state.pt",
        tag=file_sha256(src),
        progress=not quiet,
    )
    extra = dict(vm.spec.extra)
    extra["video_finetune"] = {
        "steps": cfg.video_steps,
        "lr": cfg.video_lr,
        "batch_size": cfg.video_batch_size,
        "data": str(data),
        "max_gap": cfg.flow_max_gap,
        "frame_weight": cfg.video_frame_weight,
        "epe_weight": cfg.video_epe_weight,
        "final_loss": float(np.mean([r["loss"] for r in rows[-50:]])),
    }
    path = out / "video_ft.pt"
    save_checkpoint(path, vm.cpu(), dataclasses.replace(vm.spec, extra=extra))
    return path, rows


def config_from_args(args: Any) -> InstanceTrainConfig:
    """:class:`InstanceTrainConfig` from parsed ``edgevision train`` arguments."""
    from edgevision.config import apply_overrides, from_yaml, parse_size

    if args.config:
        base = from_yaml(InstanceTrainConfig, Path(args.config))
    elif args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        base = from_yaml(InstanceTrainConfig, Path(args.out) / "config.yaml")
    else:
        base = InstanceTrainConfig(model=args.model)
    for flag in ("loss", "class_balanced", "beta"):
        if getattr(args, flag, None) is not None:
            raise ConfigError(f"--{flag.replace('_', '-')} is for semantic segmentation")
    flags: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "input_size": parse_size(args.crop, "--crop") if args.crop else None,
        "lr": args.lr,
        "out": args.out,
        "device": args.device,
        "workers": args.workers,
        "seed": args.seed,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    if args.out is None and not args.config and not args.resume:
        changes["out"] = str(Path("runs") / (args.model or base.model))
    cfg = dataclasses.replace(base, **changes)
    cfg = apply_overrides(cfg, args.overrides) if args.overrides else cfg
    if not cfg.data:
        raise ConfigError("no dataset: give --data DIR")
    return cfg


def run_cli(args: Any) -> int:
    """``edgevision train yolact_* ...``: train, print one summary line."""
    import shlex
    import sys

    cfg = config_from_args(args)
    command = shlex.join(["edgevision", *getattr(args, "argv", sys.argv[1:])])
    r = train_instance(
        cfg,
        resume=args.resume,
        progress=None if not args.no_progress else False,
        command=command,
    )
    msg = f"trained {cfg.model}: {r.epochs} epochs, {r.steps} steps -> {r.last}"
    if r.best is not None and r.best_mask_ap is not None:
        msg += f"; best val mask AP {r.best_mask_ap:.4f} -> {r.best}"
    if r.video is not None:
        msg += f"; video model (FeatFlowNet EPE {r.flow_history[-1]['epe']:.3f}) -> {r.video}"
    if r.video_ft is not None:
        msg += f"; fine-tuned on warped features -> {r.video_ft}"
    print(msg)
    return 0


# ------------------------------------------------------------------------------------------
# FeatFlowNet
# ------------------------------------------------------------------------------------------
def _pair_batch(
    samples: Sequence[Any], spec: ModelSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Network inputs of frame pairs and their flow on the input grid, in input pixels.

    Returns ``(key, cur, flow, valid)``: ``key``/``cur`` ``(N, 3, H, W)`` normalised
    ``image1``/``image0``; ``flow`` ``(N, 2, H, W)`` current -> keyframe and ``valid``
    ``(N, 1, H, W)`` (:func:`~edgevision.data.flow.flow_to_input`).
    """
    from edgevision.data.flow import flow_to_input
    from edgevision.preprocess import preprocess

    cur, ts = preprocess([s.image0 for s in samples], spec)
    key, _ = preprocess([s.image1 for s in samples], spec)
    moved = [flow_to_input(s.flow, s.valid, t) for s, t in zip(samples, ts)]
    flow = torch.from_numpy(np.stack([f for f, _ in moved])).permute(0, 3, 1, 2).float()
    valid = torch.from_numpy(np.stack([v for _, v in moved])).float()[:, None]
    return torch.from_numpy(key), torch.from_numpy(cur), flow, valid


def flow_epe(flow8: torch.Tensor, flow: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (stride-8 pixels) of ``flow8`` ``(N, 2, h, w)`` over the valid
    pixels of ``flow`` / ``valid`` (on the input grid in input pixels, :func:`_pair_batch`)."""
    from edgevision.models.flow.warp import resize_flow

    gt8 = resize_flow(flow, flow8.shape[-2:])
    v8 = F.interpolate(valid, size=flow8.shape[-2:], mode="bilinear", align_corners=False)
    return ((flow8 - gt8).norm(dim=1, keepdim=True) * v8).sum() / v8.sum().clamp(min=1)


def flow_losses(
    model: Any,
    key_img: torch.Tensor,
    cur_img: torch.Tensor,
    flow: torch.Tensor,
    valid: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """EPE of the stride-8 flow and warped-feature MSE on P4/P5 for one batch of pairs.

    Args:
        model: YOLACT with ``flownet``.
        key_img, cur_img: ``(N, 3, H, W)`` normalised keyframe / current images.
        flow: ``(N, 2, H, W)`` ground-truth flow current -> keyframe on the network input's
            grid in input pixels (:func:`_pair_batch`; resized and rescaled here to every
            level).
        valid: ``(N, 1, H, W)`` 1 where the flow is valid.

    Returns:
        ``{"epe", "feature", "feature_unwarped"}`` scalars (EPE in stride-8 pixels).
    """
    from edgevision.video.session import partial_features

    with torch.no_grad():
        ck = model.lower(key_img)
        cc = model.lower(cur_img)
        k4, k5 = model.upper(ck)
        t3, t4, t5 = model.fpn.top_down(ck, k4, k5)
        key = {"t4": t4, "p4": model.fpn.smooth_level(1, t4), "p5": model.fpn.smooth_level(2, t5)}
        c4, c5 = model.upper(cc)
        true = model.fpn(cc, c4, c5)
    flows = model.flownet(ck, cc)
    epe = flow_epe(flows[0], flow, valid)
    pyr = partial_features(model, key, cc, flows)
    feat = sum(F.mse_loss(pyr[i], true[i]) for i in (1, 2))
    with torch.no_grad():
        unwarped = sum(F.mse_loss(key[k], true[i]) for k, i in (("p4", 1), ("p5", 2)))
    return {"epe": epe, "feature": feat, "feature_unwarped": unwarped}  # type: ignore[dict-item]


_FLOW_CACHE_PAIRS = 2048  # ~1.4 MB each at 240x320: a large flow set is re-read instead


def train_featflownet(
    model: nn.Module,
    data: str | Path,
    *,
    split: str = "train",
    steps: int = 200,
    batch_size: int = 4,
    lr: float = 1e-3,
    schedule: str = "constant",
    max_gap: int = 1,
    augment: bool = False,
    epe_weight: float = 1.0,
    feature_weight: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Train ``model.flownet`` on the synthetic frame pairs (everything else frozen).

    Args:
        model: ``yolact_*`` built with ``video=True`` (``.spec`` set).
        data: synthetic dataset folder with ``videos/{split}/*/flow``.
        split: video split.
        steps: optimizer steps.
        batch_size: pairs per step.
        lr: Adam learning rate.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``steps``).
        max_gap: train on frame pairs up to this many frames apart (flows chained), as a
            keyframe ``K - 1`` frames back is in video mode with ``fixed:K``.
        augment: alter each pair at random with an exact flow
            (:func:`~edgevision.data.flow.augment_flow_sample`).
        epe_weight: weight of the supervised stride-8 end-point error (0 = off).
        feature_weight: weight of the warped-feature loss on P4/P5 (0 = off).
        seed: pair order seed.
        progress: print a line every 20 steps.

    Returns:
        One ``{"step", "epe", "feature", "feature_unwarped"}`` row per step.

    Raises:
        ConfigError: the model has no FeatFlowNet.
        DataError: no frame pairs with flow in the split.
    """
    from edgevision.data.flow import FlowPairs, augment_flow_sample

    m: Any = model
    if getattr(m, "flownet", None) is None:
        raise ConfigError("model has no FeatFlowNet: build it with video=True")
    pairs = FlowPairs(data, split, max_gap=max_gap)
    if len(pairs) == 0:
        raise DataError(f"{data}: no frame pairs with ground-truth flow in split {split!r}")
    spec: ModelSpec = m.spec
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    for p in m.flownet.parameters():
        p.requires_grad_(True)
    m.flownet.train()
    opt = torch.optim.Adam(m.flownet.parameters(), lr=lr)
    from edgevision.train.schedule import WarmupLR

    sched = WarmupLR(opt, total_iters=steps, mode=schedule)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    aug_rng = np.random.default_rng([seed, 1])  # own stream: the pair order is the same either way
    cache: dict[int, Any] = {}
    rows = []
    for step in range(steps):
        idx = rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)
        samples = []
        for i in idx:  # read and chain each pair's flow once, up to a memory budget
            x = cache.get(int(i))
            if x is None:
                x = pairs[int(i)]
                if len(cache) < _FLOW_CACHE_PAIRS:
                    cache[int(i)] = x
            samples.append(x)
        if augment:
            samples = [augment_flow_sample(x, aug_rng) for x in samples]
        key, cur, flow, valid = _pair_batch(samples, spec)
        parts = flow_losses(m, key, cur, flow, valid)
        loss = epe_weight * parts["epe"] + feature_weight * parts["feature"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        row = {"step": step + 1, **{k: float(v.detach()) for k, v in parts.items()}}
        rows.append(row)
        if progress and (step + 1) % 20 == 0:
            print(
                f"flow step {step + 1}/{steps}: EPE {row['epe']:.3f} feature {row['feature']:.4f} "
                f"(unwarped {row['feature_unwarped']:.4f})",
                file=sys.stderr,
            )
    for p in m.parameters():
        p.requires_grad_(True)
    m.eval()
    return rows
