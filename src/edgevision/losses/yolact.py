"""YOLACT losses (Bolya et al. 2019): box smooth-L1, class cross-entropy with 3:1 hard-negative
mining, mask BCE cropped to the ground-truth box and normalised by its area, and the
auxiliary semantic-segmentation loss.

Matching (SSD): a prior is positive for the ground truth it overlaps most when that IoU is
``>= pos_iou`` (0.5), negative below ``neg_iou`` (0.4), ignored in between; every ground truth
also claims its best prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.box_ops import box_iou, cxcywh_to_xyxy, encode_ssd
from edgevision.postprocess.yolact import make_priors

__all__ = ["InstanceTargets", "YolactLoss"]


@dataclass
class InstanceTargets:
    """Ground truth of a batch (variable number of objects per image).

    Attributes:
        boxes: per image ``(n, 4)`` float32 xyxy, normalised 0–1 of the network input.
        labels: per image ``(n,)`` int64 class ids, 0-based (background excluded).
        masks: per image ``(n, H, W)`` float32 0/1 at the network input size.
        ignore: per image ``(H, W)`` float32 0/1, 1 = uncertain pixels that no loss term
            counts (weak labels: void, fragments, bands around outlines and split lines);
            ``None`` = nothing ignored.
        weights: per image ``(n,)`` float32 confidence of each object in ``(0, 1]``, which
            scales its box, class and mask losses; ``None`` = all 1.
    """

    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    masks: list[torch.Tensor]
    ignore: list[torch.Tensor] | None = None
    weights: list[torch.Tensor] | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> InstanceTargets:
        """A copy on ``device`` (the trainer calls this on every batch)."""
        mv = lambda ts: [t.to(device, non_blocking=non_blocking) for t in ts]  # noqa: E731
        return InstanceTargets(
            mv(self.boxes),
            mv(self.labels),
            mv(self.masks),
            None if self.ignore is None else mv(self.ignore),
            None if self.weights is None else mv(self.weights),
        )

    def __len__(self) -> int:
        return len(self.boxes)


class YolactLoss(nn.Module):
    """Total YOLACT loss of the model's training outputs.

    Args:
        num_classes: object classes.
        anchor_scales: per-level anchor sizes (must match the model).
        aspect_ratios: anchor aspect ratios (must match the model).
        pos_iou: IoU for a positive prior.
        neg_iou: IoU below which a prior is a negative.
        negpos_ratio: hard negatives per positive.
        box_weight: weight of the box loss (YOLACT: 1.5).
        mask_weight: weight of the mask loss (YOLACT: 6.125).
        semantic_weight: weight of the semantic loss (YOLACT: 1).
        max_masks: positives per image used by the mask loss (random subset above).

    ``forward(outputs, targets)`` returns the scalar total; :attr:`last` holds the parts.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        anchor_scales: Sequence[float],
        aspect_ratios: Sequence[float],
        pos_iou: float = 0.5,
        neg_iou: float = 0.4,
        negpos_ratio: int = 3,
        box_weight: float = 1.5,
        mask_weight: float = 6.125,
        semantic_weight: float = 1.0,
        max_masks: int = 100,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.scales = tuple(float(s) for s in anchor_scales)
        self.ratios = tuple(float(a) for a in aspect_ratios)
        self.pos_iou, self.neg_iou = pos_iou, neg_iou
        self.negpos_ratio = negpos_ratio
        self.box_weight, self.mask_weight = box_weight, mask_weight
        self.semantic_weight = semantic_weight
        self.max_masks = max_masks
        self.last: dict[str, float] = {}
        self._priors: dict[tuple[int, int, str], torch.Tensor] = {}

    def priors(self, input_size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """``(P, 4)`` normalised cxcywh priors (cached)."""
        key = (int(input_size[0]), int(input_size[1]), str(device))
        if key not in self._priors:
            p = make_priors((key[0], key[1]), self.scales, self.ratios)
            self._priors[key] = torch.from_numpy(np.array(p)).to(device)
        return self._priors[key]

    def match(
        self, priors: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per prior: class target (0 = background, -1 = ignore, c + 1) and matched GT index."""
        p = priors.shape[0]
        if len(boxes) == 0:
            return torch.zeros(p, dtype=torch.long, device=priors.device), torch.zeros(
                p, dtype=torch.long, device=priors.device
            )
        iou = box_iou(cxcywh_to_xyxy(priors), boxes)  # (P, G)
        best_iou, best_gt = iou.max(1)
        forced = iou.argmax(0)  # best prior of every GT
        best_iou[forced] = 2.0
        best_gt[forced] = torch.arange(len(boxes), device=boxes.device)
        cls = labels[best_gt] + 1
        cls = torch.where(best_iou >= self.pos_iou, cls, torch.full_like(cls, -1))
        cls = torch.where(best_iou < self.neg_iou, torch.zeros_like(cls), cls)
        return cls, best_gt

    def forward(self, outputs: dict[str, torch.Tensor], targets: InstanceTargets) -> torch.Tensor:
        loc, conf, coef, proto = outputs["loc"], outputs["conf"], outputs["coef"], outputs["proto"]
        n = loc.shape[0]
        ph, pw = proto.shape[1], proto.shape[2]
        in_h, in_w = ph * 4, pw * 4
        if targets.masks and targets.masks[0].ndim == 3:
            in_h, in_w = int(targets.masks[0].shape[-2]), int(targets.masks[0].shape[-1])
        priors = self.priors((in_h, in_w), loc.device)
        if priors.shape[0] != loc.shape[1]:
            raise ValueError(f"{loc.shape[1]} predictions but {priors.shape[0]} priors")
        cls_t, idx_t = zip(
            *(self.match(priors, b, lab) for b, lab in zip(targets.boxes, targets.labels))
        )
        cls_all = torch.stack(cls_t)  # (N, P)
        pos = cls_all > 0
        num_pos = pos.sum().clamp(min=1).float()
        # per-prior weight: the confidence of the matched object for positives, 1 otherwise
        wprior = torch.ones(cls_all.shape, dtype=loc.dtype, device=loc.device)
        if targets.weights is not None:
            for i in range(n):
                if len(targets.weights[i]):
                    wprior[i] = torch.where(
                        pos[i], targets.weights[i][idx_t[i]].to(loc.dtype), wprior[i]
                    )
        if targets.ignore is not None:
            # priors centred on ignored pixels are never mined as background
            ih, iw = targets.ignore[0].shape[-2:]
            px = (priors[:, 0] * iw).long().clamp(0, iw - 1)
            py = (priors[:, 1] * ih).long().clamp(0, ih - 1)
            ign_prior = torch.stack([ig[py, px] > 0.5 for ig in targets.ignore])
            cls_all = torch.where((cls_all == 0) & ign_prior, torch.full_like(cls_all, -1), cls_all)

        # box regression on positives
        box_l = loc.new_zeros(())
        for i in range(n):
            if pos[i].any():
                g = targets.boxes[i][idx_t[i][pos[i]]]
                t = encode_ssd(g, priors[pos[i]])
                per = F.smooth_l1_loss(loc[i][pos[i]], t, reduction="none").sum(1)
                box_l = box_l + (per * wprior[i][pos[i]]).sum()

        # classification with hard negative mining (3:1)
        logp = F.log_softmax(conf, -1)
        with torch.no_grad():
            bg_loss = -logp[..., 0]
            bg_loss = torch.where(cls_all == 0, bg_loss, torch.full_like(bg_loss, -1.0))
            order = bg_loss.argsort(1, descending=True)
            rank = order.argsort(1)
            n_neg = (self.negpos_ratio * pos.sum(1, keepdim=True)).clamp(
                min=self.negpos_ratio, max=loc.shape[1] - 1
            )
            neg = (rank < n_neg) & (cls_all == 0)
        sel = pos | neg
        cls_l = (
            F.nll_loss(logp[sel], cls_all[sel].clamp(min=0), reduction="none") * wprior[sel]
        ).sum()

        # masks: BCE of the assembled masks, cropped to the GT box, / box area
        mask_l = loc.new_zeros(())
        n_masks = 0
        for i in range(n):
            pidx = torch.nonzero(pos[i]).squeeze(1)
            if len(pidx) == 0:
                continue
            if len(pidx) > self.max_masks:
                pidx = pidx[torch.randperm(len(pidx), device=pidx.device)[: self.max_masks]]
            gi = idx_t[i][pidx]
            gt = F.interpolate(
                targets.masks[i][None], size=(ph, pw), mode="bilinear", align_corners=False
            )[0]
            gt = (gt[gi] > 0.5).float()  # (K, ph, pw)
            logits = torch.einsum("hwk,nk->nhw", proto[i], coef[i][pidx])
            b = targets.boxes[i][gi]
            xs = (torch.arange(pw, device=b.device, dtype=b.dtype) + 0.5) / pw
            ys = (torch.arange(ph, device=b.device, dtype=b.dtype) + 0.5) / ph
            inx = (xs[None] >= b[:, 0:1]) & (xs[None] <= b[:, 2:3])
            iny = (ys[None] >= b[:, 1:2]) & (ys[None] <= b[:, 3:4])
            crop = (iny[:, :, None] & inx[:, None, :]).float()
            if targets.ignore is not None:
                ign = F.interpolate(
                    targets.ignore[i][None, None], size=(ph, pw), mode="bilinear",
                    align_corners=False,
                )[0]  # fmt: skip
                crop = crop * (ign < 0.5).float()
            bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none") * crop
            area = crop.sum((1, 2)).clamp(min=1.0)
            mask_l = mask_l + (bce.sum((1, 2)) / area * wprior[i][pidx]).sum()
            n_masks += len(pidx)

        # auxiliary semantic segmentation on P3
        sem_l = loc.new_zeros(())
        seg = outputs.get("seg")
        if seg is not None and self.semantic_weight > 0:
            sh, sw = seg.shape[-2:]
            tgt = torch.zeros_like(seg)
            for i in range(n):
                if len(targets.labels[i]):
                    m = F.interpolate(
                        targets.masks[i][None], size=(sh, sw), mode="bilinear", align_corners=False
                    )[0]
                    m = (m > 0.5).float()
                    for c in targets.labels[i].unique():
                        tgt[i, c] = m[targets.labels[i] == c].amax(0)
            bce = F.binary_cross_entropy_with_logits(seg, tgt, reduction="none")
            if targets.ignore is not None:
                keep = torch.stack(
                    [
                        F.interpolate(ig[None, None], size=(sh, sw), mode="bilinear",
                                      align_corners=False)[0] < 0.5
                        for ig in targets.ignore
                    ]
                ).to(seg.dtype)  # fmt: skip
                bce = bce * keep
            sem_l = bce.sum() / (sh * sw * n)

        box_l = self.box_weight * box_l / num_pos
        cls_l = cls_l / num_pos
        mask_l = self.mask_weight * mask_l / max(n_masks, 1)
        sem_l = self.semantic_weight * sem_l
        self.last = {
            "box": float(box_l.detach()),
            "cls": float(cls_l.detach()),
            "mask": float(mask_l.detach()),
            "semantic": float(sem_l.detach()),
        }
        return box_l + cls_l + mask_l + sem_l
