"""Detection training (``yolov5*``, ``yolo_ret_*``) on the shared :class:`Trainer` + hooks.

Data: a COCO-layout folder (``DIR/annotations/instances_{split}.json`` + ``DIR/images/{split}``)
such as the synthetic set (:mod:`edgevision.data.synth`) or the CamVid-derived boxes
(:mod:`edgevision.data.camvid_boxes`), a YOLO-txt folder, or a dataset YAML naming any COCO
files or YOLO image folders (the Ultralytics ``data.yaml`` shape;
:mod:`edgevision.data.detection`). Augmentation: mosaic (4 images around a random centre),
random scale + placement in a letterboxed canvas, horizontal flip, photometric jitter; each a
function of ``(seed, epoch, index)`` so resume is exact. Anchors are fitted to the training
boxes (k-means on letterboxed widths/heights) and stored in the spec's ``model_kwargs``.
Validation: COCO AP / AP50 through :class:`edgevision.evaluate.coco.CocoEvaluator` using the
same numpy postprocessing as the runtime. Loss: :class:`edgevision.losses.detection.YoloLoss`
(CIoU/GIoU box loss, objectness, classification; optional class-balanced weights by the
effective number of boxes per class). EMA and warmup as for segmentation.

Output folder: ``config.yaml``, ``last.pt`` (resumable), ``best.pt`` (best val AP50),
``metrics.csv`` (loss; AP and AP50 in the epoch rows), ``eval.csv`` (AP per evaluation).
"""

from __future__ import annotations

import csv
import dataclasses
import math
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
from edgevision.data.coco import CocoDataset
from edgevision.data.detection import load_detection_split
from edgevision.errors import ConfigError, DataError
from edgevision.evaluate.coco import CocoEvaluator
from edgevision.io import read_image
from edgevision.losses.class_balanced import effective_number_weights
from edgevision.losses.detection import YoloLoss
from edgevision.postprocess.yolo import DEFAULT_ANCHORS, check_input_size, yolo_postprocess
from edgevision.preprocess import preprocess
from edgevision.registry import create_model, get_entry
from edgevision.train.hooks import PeriodicEvalHook
from edgevision.train.run import TrainParts, TrainResult, sgd_or_adamw, train, warmup_schedule
from edgevision.train.seg_data import (
    Normalize,
    SeededSampler,
    jitter_colors,
    seed_seq,
    seed_worker,
    street_photometric,
)

__all__ = [
    "DetEvalHook",
    "DetTrainConfig",
    "DetTrainDataset",
    "DetTrainResult",
    "build_parts",
    "collate",
    "evaluate_detector",
    "fit_anchors",
    "load_split",
    "train_detection",
]


@dataclass
class DetTrainConfig:
    """One detection training run.

    Attributes:
        model: registry name of a ``task="detect"`` model.
        model_kwargs: constructor overrides (``truncate``, ``rfcr``, ``neck``, ``stem`` ...).
        pretrained: start from this checkpoint (``""``: from scratch): a public checkpoint
            :mod:`edgevision.models.pretrained` knows (ImageNet MobileNetV2/ResNet, DDRNet,
            YOLACT, YOLOv5) or an edgevision checkpoint of the same model; refused when it
            fills under 95 % of the backbone. Ignored on ``--resume`` (``last.pt`` wins).
        data: dataset folder (COCO or YOLO-txt layout) or dataset YAML file
            (:mod:`edgevision.data.detection`).
        train_split: split to train on, or a selector of whole sequences
            (``train-0006R0``: without it; :mod:`edgevision.data.sequences`).
        val_split: split to evaluate on, e.g. a held-out sequence ``train:0006R0`` (``""``: none).
        input_size: network input ``(H, W)``, multiples of 32; ``None`` = the model's.
        epochs: epochs (>= 1).
        batch_size: images per step.
        mosaic: probability of a mosaic sample (0–1).
        copy_paste: probability that a sample gets objects of the rare classes pasted in
            (0–1; box-level copy-paste, :class:`DetTrainDataset`).
        paste_classes: class names pasted (empty: the classes with fewer training boxes than
            a third of the most frequent class's).
        paste_max: objects pasted per sample, at most (each placed where it covers no
            other box).
        scale_range: random scale of each image relative to the letterbox fit.
        flip: random horizontal flip.
        jitter: photometric jitter strength (0–1).
        photometric: strength in 0–1 of the new-street changes (gamma, colour temperature,
            blur, noise, JPEG; :func:`edgevision.train.seg_data.street_photometric`, as in
            semantic training); 0 = off.
        anchors: ``"auto"`` (k-means on the training boxes) or ``"default"`` (YOLOv5's).
        box_loss: ``"ciou"`` or ``"giou"`` (or ``"diou"``/``"iou"``).
        class_balanced: weight the classification loss by the effective number of boxes.
        cb_beta: ``beta`` of the effective number (0–1).
        lr: peak learning rate.
        optimizer: ``"sgd"`` or ``"adamw"``.
        momentum: SGD momentum.
        weight_decay: weight decay on conv weights.
        warmup_epochs: linear warmup epochs.
        warmup_iters: extra linear warmup steps.
        warmup_factor: LR factor at step 0.
        schedule: ``"cosine"`` or ``"poly"``.
        ema: evaluate and save an exponential moving average of the weights.
        ema_decay: EMA decay per step.
        grad_clip: clip the gradient norm (``None``: off).
        eval_every: evaluate every N epochs (and after the last).
        eval_max_images: evaluate on the first N val images only (0: all).
        conf_threshold: score threshold during evaluation (low, for AP).
        iou_threshold: NMS IoU threshold during evaluation.
        log_every: ``metrics.csv`` step rows every N steps (0: epoch rows only).
        seed: seed of init, order and augmentation.
        workers: DataLoader workers.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        channels_last: train in NHWC memory format (faster for depthwise convs on CPU).
        out: output folder.
    """

    model: str = "yolo_ret_m075"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str = ""
    data: str = ""
    train_split: str = "train"
    val_split: str = "val"
    input_size: tuple[int, int] | None = None
    epochs: int = 100
    batch_size: int = 16
    mosaic: float = 0.5
    copy_paste: float = 0.0
    paste_classes: list[str] = field(default_factory=list)
    paste_max: int = 3
    scale_range: tuple[float, float] = (0.6, 1.4)
    flip: bool = True
    jitter: float = 0.2
    photometric: float = 0.0
    anchors: Literal["auto", "default"] = "auto"
    box_loss: Literal["ciou", "giou", "diou", "iou"] = "ciou"
    class_balanced: bool = False
    cb_beta: float = 0.999
    lr: float = 0.01
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = 0.937
    weight_decay: float = 5e-4
    warmup_epochs: int = 3
    warmup_iters: int = 0
    warmup_factor: float = 0.01
    schedule: Literal["poly", "cosine"] = "cosine"
    ema: bool = True
    ema_decay: float = 0.999
    grad_clip: float | None = 10.0
    eval_every: int = 1
    eval_max_images: int = 0
    conf_threshold: float = 0.001
    iou_threshold: float = 0.6
    log_every: int = 10
    seed: int = 0
    workers: int = 0
    device: Literal["cpu", "cuda", "auto"] = "auto"
    channels_last: bool = True
    out: str = "runs/detect"

    RESUME_SAFE: ClassVar[frozenset[str]] = frozenset(
        {"out", "workers", "log_every", "eval_every", "device", "data", "channels_last"}
    )

    def __post_init__(self) -> None:
        validate(self)
        for name in ("epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_iters", "warmup_epochs", "log_every", "workers", "eval_max_images"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.input_size is not None:
            try:
                check_input_size(self.input_size)
            except ValueError as e:
                raise ConfigError(f"input_size: {e}") from None
        if self.paste_max < 1:
            raise ConfigError(f"paste_max must be >= 1, got {self.paste_max}")
        for name in (
            "mosaic",
            "copy_paste",
            "jitter",
            "photometric",
            "warmup_factor",
            "cb_beta",
            "ema_decay",
            "momentum",
        ):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        for name in ("conf_threshold", "iou_threshold"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ConfigError(f"scale_range must satisfy 0 < min <= max, got {self.scale_range}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError("lr must be > 0 and weight_decay >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be > 0 or null, got {self.grad_clip}")


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
@dataclass
class DetSplit:
    """A checked detection split held in memory as paths + boxes.

    Attributes:
        class_names: dataset classes (index = class id).
        files: image paths.
        sizes: ``(H, W)`` per image.
        boxes: per image ``(K, 4)`` float32 xyxy pixels (clipped, no zero-area boxes).
        classes: per image ``(K,)`` int64 class ids.
        dropped: boxes dropped as degenerate (zero area after clipping to the image).
        image_ids: COCO image ids.
        gt: the split's COCO dictionary (boxes), scored by :class:`CocoEvaluator`.
        source: what the boxes were read from (annotation file or label folder).
    """

    class_names: list[str]
    files: list[Path]
    sizes: list[tuple[int, int]]
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    dropped: int
    image_ids: list[int]
    gt: dict[str, Any]
    source: str

    def __len__(self) -> int:
        return len(self.files)


def load_split(root: str | Path, split: str) -> DetSplit:
    """Read and check a split of a detection dataset (no image is decoded): a COCO or
    YOLO-txt folder or a dataset YAML (:func:`~edgevision.data.detection.load_detection_split`).

    Boxes partly outside the image are clipped to it; boxes with zero width or height after
    clipping are dropped (counted in ``dropped``); class ids come from the category list
    (an unknown ``category_id`` is a :class:`DataError` naming the annotation). ``split`` may
    select whole sequences (``train-0006R0``, ``train:0006R0``; :mod:`edgevision.data.sequences`).

    Raises:
        DataError: missing files, malformed JSON, an empty split, a box with negative
            width/height, an unknown sequence.
    """
    det = load_detection_split(root, split)
    ann, img_dir = det.source, det.image_dir
    ds = CocoDataset(ann, img_dir, masks=False, data=det.gt)
    if len(ds) == 0:
        raise DataError(f"{ann}: split {split!r} has no images")
    files, sizes, boxes, classes, ids = [], [], [], [], []
    dropped = 0
    for i in range(len(ds)):
        im = ds._images[i]
        h, w = int(im["height"]), int(im["width"])
        target, _, aids = ds.read_target(i)
        b = target.boxes.copy()
        if len(b) and ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
            k = int(np.flatnonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))[0])
            raise DataError(f"{ann}: annotation id {int(aids[k])}: bbox has negative width/height")
        b[:, 0::2] = b[:, 0::2].clip(0, w)
        b[:, 1::2] = b[:, 1::2].clip(0, h)
        ok = ((b[:, 2] - b[:, 0]) > 0) & ((b[:, 3] - b[:, 1]) > 0)
        dropped += int((~ok).sum())
        files.append(img_dir / im["file_name"])
        sizes.append((h, w))
        boxes.append(b[ok].astype(np.float32))
        classes.append(target.class_ids[ok].astype(np.int64))
        ids.append(int(im["id"]))
    return DetSplit(
        list(ds.class_names), files, sizes, boxes, classes, dropped, ids, det.gt, det.source
    )


def _place(image: np.ndarray, boxes: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = image.shape[:2]
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return image, boxes * np.array([nw / w, nh / h, nw / w, nh / h], np.float32)


def _overlap(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection area of ``box`` (4,) with each of ``boxes`` (N, 4) (xyxy)."""
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _crop_boxes(
    boxes: np.ndarray, classes: np.ndarray, w: int, h: int, min_keep: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Clip to ``[0, w] × [0, h]``; keep boxes with >= 2 px sides and >= ``min_keep`` area."""
    if not len(boxes):
        return boxes.reshape(0, 4), classes
    area0 = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    b = boxes.copy()
    b[:, 0::2] = b[:, 0::2].clip(0, w)
    b[:, 1::2] = b[:, 1::2].clip(0, h)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    ok = (bw >= 2) & (bh >= 2) & (bw * bh >= min_keep * np.maximum(area0, 1e-6))
    return b[ok], classes[ok]


def rare_classes(split: DetSplit, fraction: float = 1 / 3) -> list[int]:
    """Class ids with fewer training boxes than ``fraction`` of the most frequent class's
    (classes with no box are left out: there is nothing to paste)."""
    counts = np.bincount(
        np.concatenate([*split.classes, np.zeros(0, np.int64)]), minlength=len(split.class_names)
    )
    top = counts.max() if len(counts) else 0
    return [int(c) for c in np.flatnonzero((counts > 0) & (counts < fraction * top))]


class DetTrainDataset(Dataset):
    """Augmented training samples: ``(image (3, H, W) float normalised, targets (K, 5))``
    with targets ``class_id, cx, cy, w, h`` in input pixels.

    Augmentations: mosaic, random scale and placement, flip, colour jitter and box-level
    copy-paste of rare classes: with probability ``copy_paste`` up to ``paste_max`` boxes of
    ``paste_classes`` (crops of their boxes with a 15 % margin from other training images,
    at the sample's scale, edges feathered) are pasted where they cover no other box. Box
    crops rather than masks, because detection data has boxes only; the margin and the
    feathering keep the seam away from the object. (Copy-paste: Ghiasi et al., CVPR 2021;
    its effect on rare classes is what the CamVid detectors lack: Pedestrian and Bicyclist
    are a few percent of the boxes.)

    Each sample is a function of ``(seed, epoch, index)`` (exact resume).
    """

    def __init__(
        self,
        split: DetSplit,
        *,
        input_size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        color_order: str = "RGB",
        seed: int = 0,
        mosaic: float = 0.5,
        scale_range: tuple[float, float] = (0.6, 1.4),
        flip: bool = True,
        jitter: float = 0.2,
        photometric: float = 0.0,
        pad_value: int = 114,
        copy_paste: float = 0.0,
        paste_classes: Sequence[int] = (),
        paste_max: int = 3,
    ) -> None:
        self.split = split
        self.copy_paste = float(copy_paste)
        self.paste_max = int(paste_max)
        wanted = set(int(c) for c in paste_classes)
        # the bank: (image, box) of every pasteable box, at least 8 px a side
        self.bank = [
            (i, k)
            for i, (b, c) in enumerate(zip(split.boxes, split.classes))
            for k in range(len(c))
            if int(c[k]) in wanted and min(b[k, 2] - b[k, 0], b[k, 3] - b[k, 1]) >= 8
        ]
        self.size = (int(input_size[0]), int(input_size[1]))
        self.norm = Normalize(mean, std, color_order)
        self.seed = int(seed)
        self.mosaic = float(mosaic)
        self.scale_range = scale_range
        self.flip = flip
        self.jitter = float(jitter)
        self.photometric = float(photometric)
        self.pad = int(pad_value)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.split)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        img = read_image(self.split.files[i])
        if img.shape[:2] != self.split.sizes[i]:
            raise DataError(
                f"{self.split.files[i]}: image is {img.shape[0]}x{img.shape[1]}, the "
                f"annotations say {self.split.sizes[i][0]}x{self.split.sizes[i][1]}"
            )
        return img, self.split.boxes[i], self.split.classes[i]

    def _single(
        self, i: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        th, tw = self.size
        img, boxes, cls = self._load(i)
        h, w = img.shape[:2]
        r = min(th / h, tw / w) * rng.uniform(*self.scale_range)
        img, boxes = _place(img, boxes, r)
        nh, nw = img.shape[:2]
        # random placement: offset in [min(0, t - n), max(0, t - n)]
        ox = int(rng.integers(min(0, tw - nw), max(0, tw - nw) + 1))
        oy = int(rng.integers(min(0, th - nh), max(0, th - nh) + 1))
        canvas = np.full((th, tw, 3), self.pad, np.uint8)
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + nw, tw), min(oy + nh, th)
        canvas[y0:y1, x0:x1] = img[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        boxes = boxes + np.array([ox, oy, ox, oy], np.float32)
        boxes, cls = _crop_boxes(boxes, cls, tw, th)
        return canvas, boxes, cls

    def _mosaic(
        self, i: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        th, tw = self.size
        cx = int(rng.uniform(0.25, 0.75) * tw)
        cy = int(rng.uniform(0.25, 0.75) * th)
        canvas = np.full((th, tw, 3), self.pad, np.uint8)
        idx = [i, *rng.integers(0, len(self), size=3).tolist()]
        all_b, all_c = [], []
        for k, j in enumerate(idx):
            img, boxes, cls = self._load(int(j))
            h, w = img.shape[:2]
            # each tile at ~3/4 of the letterbox fit, so the four overlap the centre region
            r = min(th / h, tw / w) * 0.75 * rng.uniform(*self.scale_range)
            img, boxes = _place(img, boxes, r)
            nh, nw = img.shape[:2]
            # quadrant k: the image's corner touches the mosaic centre
            ox = cx - nw if k in (0, 2) else cx
            oy = cy - nh if k in (0, 1) else cy
            x0, y0 = max(ox, 0), max(oy, 0)
            x1, y1 = min(ox + nw, tw), min(oy + nh, th)
            if x1 <= x0 or y1 <= y0:
                continue
            canvas[y0:y1, x0:x1] = img[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            b = boxes + np.array([ox, oy, ox, oy], np.float32)
            b[:, 0::2] = b[:, 0::2].clip(x0, x1)
            b[:, 1::2] = b[:, 1::2].clip(y0, y1)
            area0 = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
            ok = (bw >= 2) & (bh >= 2) & (bw * bh >= 0.25 * np.maximum(area0, 1e-6))
            all_b.append(b[ok])
            all_c.append(cls[ok])
        boxes = np.concatenate(all_b) if all_b else np.zeros((0, 4), np.float32)
        cls = np.concatenate(all_c) if all_c else np.zeros(0, np.int64)
        return canvas, boxes.astype(np.float32), cls

    def _paste(
        self, img: np.ndarray, boxes: np.ndarray, cls: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Paste up to ``paste_max`` bank objects where they cover no box (10 tries each)."""
        import cv2

        th, tw = self.size
        img = img.copy()
        new_b, new_c = [boxes.reshape(-1, 4)], [cls.reshape(-1)]
        taken = boxes.reshape(-1, 4)
        for _ in range(int(rng.integers(1, self.paste_max + 1))):
            j, k = self.bank[int(rng.integers(len(self.bank)))]
            src, b, c = self._load(j)
            h, w = src.shape[:2]
            x0, y0, x1, y1 = b[k]
            mx, my = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
            cx0, cy0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
            cx1, cy1 = int(min(w, np.ceil(x1 + mx))), int(min(h, np.ceil(y1 + my)))
            r = min(th / h, tw / w) * rng.uniform(*self.scale_range)
            pw, ph = max(2, round((cx1 - cx0) * r)), max(2, round((cy1 - cy0) * r))
            if pw >= tw or ph >= th:
                continue
            patch = cv2.resize(src[cy0:cy1, cx0:cx1], (pw, ph), interpolation=cv2.INTER_LINEAR)
            obj = (np.array([x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0]) * r).astype(np.float32)
            for _try in range(10):
                px, py = int(rng.integers(0, tw - pw + 1)), int(rng.integers(0, th - ph + 1))
                ob = obj + np.array([px, py, px, py], np.float32)
                if not len(taken) or _overlap(ob, taken).max() <= 0.0:
                    break
            else:
                continue
            # feathered alpha: 1 inside, falling to 0 over the margin at the crop's edges
            ex, ey = max(1, int(mx * r)), max(1, int(my * r))
            ramp_x = np.minimum(np.arange(pw) + 1, np.arange(pw)[::-1] + 1) / ex
            ramp_y = np.minimum(np.arange(ph) + 1, np.arange(ph)[::-1] + 1) / ey
            alpha = np.minimum(np.minimum(ramp_x[None, :], 1.0), np.minimum(ramp_y[:, None], 1.0))
            region = img[py : py + ph, px : px + pw].astype(np.float32)
            a = alpha[..., None]
            img[py : py + ph, px : px + pw] = (a * patch + (1 - a) * region).astype(np.uint8)
            new_b.append(ob[None])
            new_c.append(np.array([c[k]], np.int64))
            taken = np.concatenate([taken, ob[None]])
        return img, np.concatenate(new_b).astype(np.float32), np.concatenate(new_c)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed_seq(self.seed, self.epoch, i))
        if self.mosaic > 0 and rng.random() < self.mosaic:
            img, boxes, cls = self._mosaic(i, rng)
        else:
            img, boxes, cls = self._single(i, rng)
        if self.copy_paste > 0 and self.bank and rng.random() < self.copy_paste:
            img, boxes, cls = self._paste(img, boxes, cls, rng)
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
            w = img.shape[1]
            boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        if self.jitter > 0:
            img = jitter_colors(np.ascontiguousarray(img), rng, self.jitter)
        if self.photometric > 0:
            img = street_photometric(np.ascontiguousarray(img), rng, self.photometric)
        b = boxes.reshape(-1, 4)
        t = np.concatenate(
            [
                cls.reshape(-1, 1).astype(np.float32),
                (b[:, :2] + b[:, 2:]) / 2,
                b[:, 2:] - b[:, :2],
            ],
            1,
        )
        return self.norm(np.ascontiguousarray(img)), torch.from_numpy(t.astype(np.float32))


def _paste_class_ids(cfg: DetTrainConfig, split: DetSplit) -> list[int]:
    """``cfg.paste_classes`` as class ids (empty: :func:`rare_classes`); unknown names raise."""
    if not cfg.paste_classes:
        return rare_classes(split)
    unknown = [n for n in cfg.paste_classes if n not in split.class_names]
    if unknown:
        raise ConfigError(
            f"paste_classes {', '.join(unknown)} not in the dataset's classes: "
            f"{', '.join(split.class_names)}"
        )
    return [split.class_names.index(n) for n in cfg.paste_classes]


def collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack images; concatenate targets as ``(M, 6)``: image index, class, cx, cy, w, h."""
    images = torch.stack([b[0] for b in batch])
    rows = [torch.cat([torch.full((len(t), 1), float(k)), t], 1) for k, (_, t) in enumerate(batch)]
    return images, torch.cat(rows) if rows else torch.zeros(0, 6)


# ------------------------------------------------------------------------------------------
# anchors
# ------------------------------------------------------------------------------------------
def letterboxed_wh(split: DetSplit, input_size: tuple[int, int]) -> np.ndarray:
    """``(M, 2)`` float32 widths/heights of all boxes after letterboxing to ``input_size``."""
    out = []
    for (h, w), b in zip(split.sizes, split.boxes):
        r = min(input_size[0] / h, input_size[1] / w)
        out.append((b[:, 2:] - b[:, :2]) * r)
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2), np.float32)


def anchor_recall(wh: np.ndarray, anchors: Sequence[Sequence[float]], thr: float = 4.0) -> float:
    """Best possible recall: fraction of boxes with some anchor within ratio ``thr`` (0–1)."""
    if not len(wh):
        return float("nan")
    a = np.asarray(anchors, np.float32).reshape(-1, 2)
    r = wh[:, None] / a[None]
    worst = np.maximum(r, 1 / r).max(2)  # (M, A)
    return float((worst.min(1) < thr).mean())


def fit_anchors(
    wh: np.ndarray, *, n: int = 9, levels: int = 3, seed: int = 0, iters: int = 50
) -> tuple[tuple[float, ...], ...]:
    """k-means anchors (YOLOv5's "autoanchor" without the genetic refinement).

    Clusters the box sizes with Lloyd's algorithm on ``log(w), log(h)`` (scale-aware),
    sorts the centres by area and splits them into ``levels`` groups (small to large).
    Fewer than ``n`` distinct sizes: the default anchors, rescaled to the median box size.

    Args:
        wh: ``(M, 2)`` box widths/heights in input pixels.
        n: anchors in total (multiple of ``levels``).

    Returns:
        ``levels`` tuples of ``(w, h)`` pairs, rounded to 0.1 px.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh >= 2).all(1)]
    per = n // levels
    if len(np.unique(wh.round(1), axis=0)) < n:
        base = np.asarray(DEFAULT_ANCHORS, np.float64).reshape(-1, 2)
        if len(wh):
            base = base * (np.median(np.sqrt(wh.prod(1))) / np.median(np.sqrt(base.prod(1))))
        centres = base
    else:
        x = np.log(wh)
        rng = np.random.default_rng(seed)
        # k-means++ init
        c = [x[rng.integers(len(x))]]
        for _ in range(n - 1):
            d = np.min(((x[:, None] - np.asarray(c)[None]) ** 2).sum(2), 1)
            c.append(
                x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))]
            )
        cen = np.asarray(c)
        for _ in range(iters):
            lab = ((x[:, None] - cen[None]) ** 2).sum(2).argmin(1)
            new = np.array([x[lab == k].mean(0) if (lab == k).any() else cen[k] for k in range(n)])
            if np.allclose(new, cen):
                break
            cen = new
        centres = np.exp(cen)
    centres = centres[np.argsort(centres.prod(1))]
    return tuple(
        tuple(float(round(v, 1)) for v in centres[i * per : (i + 1) * per].reshape(-1))
        for i in range(levels)
    )


# ------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_detector(
    model: nn.Module,
    split: DetSplit,
    spec: ModelSpec,
    *,
    conf_threshold: float = 0.001,
    iou_threshold: float = 0.6,
    max_images: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """COCO box metrics of a torch detector on a split, with the runtime's pre/postprocess.

    Returns:
        :meth:`CocoEvaluator.summarize` ``["bbox"]``: ``AP``, ``AP50``, ... in 0–1.
    """
    ev = CocoEvaluator(split.gt, ("bbox",))
    was_training = model.training
    model.eval()
    n = len(split) if max_images <= 0 else min(len(split), max_images)
    try:
        for i in range(n):
            img = read_image(split.files[i])
            x, tfs = preprocess([img], spec)
            out = model(torch.from_numpy(x).to(device))
            dets = yolo_postprocess(
                [out.float().cpu().numpy()],
                spec,
                tfs,
                conf_threshold=conf_threshold,
                iou_threshold=iou_threshold,
            )[0]
            ev.add(split.image_ids[i], dets)
    finally:
        model.train(was_training)
    return ev.summarize()["bbox"]


class DetEvalHook(PeriodicEvalHook):
    """COCO AP / AP50 of the trainer's eval model (EMA when kept) every ``every`` epochs.

    Puts ``ap``, ``ap50`` and ``eval_epoch`` into ``trainer.storage`` and appends a row to
    ``out_dir/eval.csv`` (rank 0); ``best.pt`` follows AP50.
    """

    columns = ("ap", "ap50")

    def __init__(
        self,
        split: DetSplit,
        spec: ModelSpec,
        *,
        out_dir: str | Path,
        every: int = 1,
        conf_threshold: float = 0.001,
        iou_threshold: float = 0.6,
        max_images: int = 0,
        quiet: bool = False,
    ) -> None:
        super().__init__("ap50", every=every, quiet=quiet)
        self.split, self.spec = split, spec
        self.out_dir = Path(out_dir)
        self.conf, self.iou, self.max_images = conf_threshold, iou_threshold, max_images

    def evaluate(self) -> dict[str, Any]:
        t = self.trainer
        m = evaluate_detector(
            t.eval_model(),
            self.split,
            self.spec,
            conf_threshold=self.conf,
            iou_threshold=self.iou,
            max_images=self.max_images,
            device=t.device,
        )
        return {
            k: float(np.nan_to_num(m[key], nan=0.0)) for k, key in (("ap", "AP"), ("ap50", "AP50"))
        }

    def history_row(self, values: Any) -> dict[str, Any]:
        t = self.trainer
        return {"epoch": t.epoch + 1, "iter": t.iter, "ap": values["ap"], "ap50": values["ap50"]}

    def report(self, values: Any, row: Any) -> None:
        t = self.trainer
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "eval.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        if not self.quiet:
            print(
                f"epoch {t.epoch + 1}/{t.max_epochs}: val AP {values['ap']:.4f} "
                f"AP50 {values['ap50']:.4f}",
                file=sys.stderr,
            )


def _nan_none(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 4)


def _class_weights(split: DetSplit, beta: float) -> list[float]:
    counts = np.bincount(
        np.concatenate(split.classes) if split.classes else np.zeros(0, np.int64),
        minlength=len(split.class_names),
    )
    return [float(v) for v in effective_number_weights(counts, beta, warn_missing=False)]


# ------------------------------------------------------------------------------------------
# training parts
# ------------------------------------------------------------------------------------------
def build_parts(
    cfg: DetTrainConfig,
    *,
    known_spec: ModelSpec | None,
    rank: int,
    world_size: int,
    progress: bool,
    quiet: bool,
) -> TrainParts:
    """The detection task's parts for :func:`edgevision.train.run.train` (see the module
    docstring): checked splits, anchors (fitted, default, or ``known_spec``'s), the model,
    the mosaic/scale/flip/jitter loader, :class:`YoloLoss`, the optimizer, warmup + cosine
    schedule, EMA and the COCO AP hook (``best.pt`` on AP50)."""
    entry = get_entry(cfg.model)
    train_split = load_split(cfg.data, cfg.train_split)
    val_split = load_split(cfg.data, cfg.val_split) if cfg.val_split else None
    if val_split is not None and val_split.class_names != train_split.class_names:
        raise DataError(
            f"val classes {val_split.class_names} differ from train classes "
            f"{train_split.class_names}"
        )
    input_size = tuple(cfg.input_size or entry.input_size)
    try:
        check_input_size(input_size)
    except ValueError as e:
        raise ConfigError(f"input_size: {e}") from None

    wh = letterboxed_wh(train_split, input_size)  # type: ignore[arg-type]
    if known_spec is not None:  # a resumed run's or a checkpoint's (None: the defaults)
        known = known_spec.model_kwargs.get("anchors") or DEFAULT_ANCHORS
        anchors = tuple(tuple(float(v) for v in lvl) for lvl in known)
    elif cfg.anchors == "auto":
        anchors = fit_anchors(wh, seed=cfg.seed)
    else:
        anchors = DEFAULT_ANCHORS
    kwargs = {**cfg.model_kwargs, "anchors": [list(a) for a in anchors]}
    model = create_model(
        cfg.model, class_names=train_split.class_names, input_size=input_size, **kwargs
    )
    base_spec: ModelSpec = model.spec  # type: ignore[assignment]
    spec = dataclasses.replace(
        base_spec,
        extra={
            "dataset": str(cfg.data),
            "train_split": cfg.train_split,
            "anchor_recall": _nan_none(anchor_recall(wh, anchors)),
        },
    )
    model.spec = spec  # type: ignore[assignment]

    ds = DetTrainDataset(
        train_split,
        input_size=input_size,  # type: ignore[arg-type]
        mean=spec.mean,
        std=spec.std,
        color_order=spec.color_order,
        seed=cfg.seed,
        mosaic=cfg.mosaic,
        scale_range=cfg.scale_range,
        flip=cfg.flip,
        jitter=cfg.jitter,
        photometric=cfg.photometric,
        pad_value=spec.pad_value,
        copy_paste=cfg.copy_paste,
        paste_classes=_paste_class_ids(cfg, train_split),
        paste_max=cfg.paste_max,
    )
    sampler = SeededSampler(len(ds), seed=cfg.seed, rank=rank, world_size=world_size)
    if len(sampler) < cfg.batch_size:
        raise DataError(
            f"training split has {len(ds)} images: fewer than batch_size {cfg.batch_size}"
        )
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.workers,
        collate_fn=collate,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    ipe = len(loader)
    head: Any = model.head
    criterion = YoloLoss(
        head.anchors,
        head.strides,
        spec.num_classes,
        input_size=input_size,  # type: ignore[arg-type]
        box_loss=cfg.box_loss,
        class_weights=_class_weights(train_split, cfg.cb_beta) if cfg.class_balanced else None,
    )
    eval_hook = None
    if val_split is not None:
        eval_hook = DetEvalHook(
            val_split,
            spec,
            out_dir=cfg.out,
            every=cfg.eval_every,
            conf_threshold=cfg.conf_threshold,
            iou_threshold=cfg.iou_threshold,
            max_images=cfg.eval_max_images,
            quiet=quiet,
        )
    return TrainParts(
        model=model,
        loader=loader,
        criterion=criterion,
        make_optimizer=sgd_or_adamw(cfg),
        schedule=warmup_schedule(cfg, ipe, power=0.9),
        eval_hook=eval_hook,
        ema_decay=cfg.ema_decay if cfg.ema else None,
        grad_clip=cfg.grad_clip,
        log_every=cfg.log_every,
        extra={"anchors": anchors},
    )


def train_detection(cfg: DetTrainConfig, **kwargs: Any) -> TrainResult:
    """Train a detector: :func:`edgevision.train.run.train` with a :class:`DetTrainConfig`
    (keyword arguments and errors as there); ``result.anchors`` holds the anchors used."""
    return train(cfg, **kwargs)


DetTrainResult = TrainResult
"""The result of :func:`train_detection` (one :class:`~edgevision.train.run.TrainResult` for
every task; this name is kept for existing callers)."""
