"""Train YOLACT (instance segmentation): the instance task's parts for the one loop.

:func:`build_parts` gives :func:`edgevision.train.run.train` a ``yolact_*`` model, a
COCO-layout folder's loader (``DIR/annotations/instances_{split}.json`` +
``DIR/images/{split}``, e.g. the synthetic set of :func:`edgevision.data.synth.generate`),
the YOLACT loss and the mask AP hook (resumable ``last.pt``, ``best.pt`` on validation mask
AP, ``metrics.csv``). The video stages after it (FeatFlowNet, end-to-end fine-tuning on
warped features) are in :mod:`edgevision.train.featflownet` and :mod:`edgevision.train.video`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edgevision.config import ModelSpec, validate
from edgevision.data.coco import CocoDataset, coco_layout
from edgevision.data.detection import is_dataset_yaml
from edgevision.errors import ConfigError, DataError
from edgevision.evaluate.coco import CocoEvaluator
from edgevision.losses.yolact import InstanceTargets, YolactLoss
from edgevision.postprocess.yolact import yolact_postprocess
from edgevision.preprocess import preprocess
from edgevision.registry import create_model, get_entry
from edgevision.train.featflownet import train_featflownet
from edgevision.train.hooks import PeriodicEvalHook
from edgevision.train.run import TrainParts, TrainResult, train
from edgevision.train.seg_data import SeededSampler, seed_worker
from edgevision.train.trainer import HookBase

__all__ = [
    "InstanceEvalHook",
    "InstanceTrainConfig",
    "InstanceTrainDataset",
    "InstanceTrainResult",
    "build_parts",
    "collate_instances",
    "evaluate_instance",
    "target_tensors",
    "train_featflownet",
    "train_instance",
]


@dataclass
class InstanceTrainConfig:
    """One YOLACT training run.

    Attributes:
        model: registry name (``yolact_*``).
        model_kwargs: constructor overrides (``fpn_channels``, ``video`` ...).
        pretrained: start from this checkpoint (``""``: from scratch): a public checkpoint
            :mod:`edgevision.models.pretrained` knows (ImageNet MobileNetV2/ResNet, DDRNet,
            YOLACT, YOLOv5) or an edgevision checkpoint of the same model; refused when it
            fills under 95 % of the backbone. Ignored on ``--resume`` (``last.pt`` wins).
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
    pretrained: str = ""
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

    RESUME_SAFE: ClassVar[frozenset[str]] = frozenset(
        {
            "workers", "device", "out", "flow_steps", "flow_lr", "flow_max_gap",
            "flow_schedule", "flow_augment", "flow_epe_weight", "flow_feature_weight",
            "flow_data", "channels_last", "video_steps", "video_lr", "video_batch_size",
            "video_data", "video_frame_weight", "video_epe_weight",
        }
    )  # fmt: skip

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


class InstanceEvalHook(PeriodicEvalHook):
    """Mask AP (``mask_ap``, selects ``best.pt``) and box AP (``box_ap``) of the eval model
    every ``every`` epochs."""

    columns = ("mask_ap", "box_ap")

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
        super().__init__("mask_ap", every=every, quiet=quiet)
        self.data, self.split, self.spec, self.max_images = data, split, spec, max_images

    def evaluate(self) -> dict[str, Any]:
        t = self.trainer
        m = evaluate_instance(
            t.eval_model(),
            self.data,
            self.split,
            spec=self.spec,
            max_images=self.max_images,
            device=t.device,
        )
        return {
            "mask_ap": float(np.nan_to_num(m["segm"]["AP"], nan=0.0)),
            "box_ap": float(np.nan_to_num(m["bbox"]["AP"], nan=0.0)),
        }

    def report(self, values: Any, row: Any) -> None:
        t = self.trainer
        if not self.quiet:
            print(
                f"epoch {t.epoch + 1}/{t.max_epochs}: val mask AP {values['mask_ap']:.4f} "
                f"box AP {values['box_ap']:.4f}",
                file=sys.stderr,
            )


# ------------------------------------------------------------------------------------------
# training parts
# ------------------------------------------------------------------------------------------
class _LossParts(HookBase):
    """Put the latest loss components into ``trainer.storage`` (for the logger)."""

    def __init__(self, criterion: YolactLoss) -> None:
        self.criterion = criterion

    def after_step(self) -> None:
        self.trainer.storage.update({f"loss_{k}": v for k, v in self.criterion.last.items()})


def build_parts(
    cfg: InstanceTrainConfig,
    *,
    known_spec: ModelSpec | None,
    rank: int,
    world_size: int,
    progress: bool,
    quiet: bool,
) -> TrainParts:
    """The instance task's parts for :func:`edgevision.train.run.train`: the COCO split,
    the YOLACT, the stretch/flip loader, :class:`YolactLoss` (ignore regions and confidences
    of weak labels), AdamW over everything but the FeatFlowNet, warmup + cosine and the mask
    AP hook (``best.pt`` on mask AP)."""
    if cfg.flow_steps > 0 and cfg.flow_data:
        flow_split = Path(cfg.flow_data) / "videos" / cfg.train_split
        if not flow_split.is_dir():
            raise DataError(f"flow_data: no video split {cfg.train_split!r} in {cfg.flow_data}")
    entry = get_entry(cfg.model)
    if is_dataset_yaml(cfg.data):
        raise DataError(
            f"{cfg.data}: instance models train on a COCO-layout folder with masks "
            f"(DIR/annotations/instances_SPLIT.json); dataset YAMLs are read by detectors"
        )
    ann, img_dir = coco_layout(cfg.data, cfg.train_split)
    coco = CocoDataset(ann, img_dir, masks=True)
    if len(coco) < cfg.batch_size:
        raise DataError(f"{ann}: {len(coco)} images, fewer than batch_size {cfg.batch_size}")
    input_size = tuple(cfg.input_size or entry.input_size)
    model: Any = create_model(
        cfg.model, class_names=coco.class_names, input_size=input_size, **cfg.model_kwargs
    )
    if getattr(model, "flownet", None) is not None:
        # trained after the image model (flow_steps); frozen here, so that DDP sees no
        # parameter without a gradient
        model.flownet.requires_grad_(False)
    elif cfg.flow_steps > 0 or cfg.video_steps > 0:
        raise ConfigError(
            "flow_steps and video_steps need a video model: --set model_kwargs={video: true}"
        )
    spec = dataclasses.replace(
        model.spec, extra={"dataset": str(cfg.data), "train_split": cfg.train_split}
    )
    model.spec = spec
    ds = InstanceTrainDataset(
        coco,
        spec,
        flip=cfg.flip,
        seed=cfg.seed,
        use_ignore=cfg.use_ignore,
        use_confidence=cfg.use_confidence,
    )
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=cfg.batch_size,
        sampler=SeededSampler(len(ds), seed=cfg.seed, rank=rank, world_size=world_size),
        drop_last=True,
        num_workers=cfg.workers,
        collate_fn=collate_instances,
        worker_init_fn=seed_worker,
        # a private generator: the loader's base seed must not come from (and advance) the
        # global torch RNG, or a run resumed mid-epoch draws it once more
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    criterion = YolactLoss(
        spec.num_classes, anchor_scales=model.anchor_scales, aspect_ratios=model.aspect_ratios
    )

    def make_optimizer(m: nn.Module) -> torch.optim.Optimizer:
        params = [p for n, p in m.named_parameters() if not n.startswith("flownet.")]
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

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
    return TrainParts(
        model=model,
        loader=loader,
        criterion=criterion,
        make_optimizer=make_optimizer,
        schedule={"warmup_iters": cfg.warmup_iters, "warmup_factor": 0.1, "mode": "cosine"},
        eval_hook=eval_hook,
        hooks=[_LossParts(criterion)],
        grad_clip=10.0,
        log_every=0,
    )


def train_instance(cfg: InstanceTrainConfig, **kwargs: Any) -> TrainResult:
    """Train a YOLACT: :func:`edgevision.train.run.train` with an
    :class:`InstanceTrainConfig` (keyword arguments and errors as there), then the video
    stages the config asks for (``flow_steps``, ``video_steps``:
    :func:`edgevision.train.video.after_training`)."""
    return train(cfg, **kwargs)


InstanceTrainResult = TrainResult
"""The result of :func:`train_instance` (one :class:`~edgevision.train.run.TrainResult` for
every task; this name is kept for existing callers)."""
