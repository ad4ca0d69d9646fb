"""YOLO detection loss (YOLOv5's recipe): IoU-family box loss, objectness and classification
BCE, with per-level objectness balance and optional class weights.

Targets are one ``(M, 6)`` float tensor per batch: ``image_index, class_id, cx, cy, w, h``
in pixels of the network input (what :func:`edgevision.train.detection.collate` makes).
Assignment follows YOLOv5: a ground-truth box matches every anchor whose width and height
ratios to it are within ``anchor_t``, in its own grid cell and the two nearest neighbouring
cells (the decode ``2σ - 0.5`` reaches them). The objectness target of a matched position
is the (detached, clamped) IoU of its predicted box with the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers.box_ops import bbox_iou, cxcywh_to_xyxy

__all__ = ["YoloLoss"]

_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32)


class YoloLoss(nn.Module):
    """Box + objectness + classification loss of a 3-scale anchor head.

    Args:
        anchors: ``(L, na, 2)`` anchor sizes in input pixels (the head's ``anchors``).
        strides: stride of each level.
        num_classes: ``C``.
        input_size: ``(H, W)`` of the training input (scales the objectness gain).
        box_loss: ``"ciou"``, ``"giou"``, ``"diou"`` or ``"iou"`` (loss = 1 − value).
        class_weights: optional ``(C,)`` weights of the classification BCE of each positive
            by its ground-truth class (e.g. class-balanced effective-number weights).
        anchor_t: largest width/height ratio between a box and a matching anchor.
        box_gain, obj_gain, cls_gain: YOLOv5's loss gains (before its level/class scaling).
        balance: objectness weight of each level (fine to coarse).

    ``forward(preds, targets)`` returns the scalar loss (sum of the three terms times the
    batch size, as YOLOv5); :attr:`last` holds the detached terms of the last call.
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        strides: Sequence[int],
        num_classes: int,
        *,
        input_size: tuple[int, int] = (640, 640),
        box_loss: str = "ciou",
        class_weights: Sequence[float] | None = None,
        anchor_t: float = 4.0,
        box_gain: float = 0.05,
        obj_gain: float = 1.0,
        cls_gain: float = 0.5,
        balance: Sequence[float] = (4.0, 1.0, 0.4),
    ) -> None:
        super().__init__()
        if box_loss not in ("ciou", "giou", "diou", "iou"):
            raise ValueError(f"box_loss must be ciou, giou, diou or iou, got {box_loss!r}")
        nl = len(strides)
        self.register_buffer("anchors", anchors.detach().clone().float())
        self.strides = [int(s) for s in strides]
        self.nc = int(num_classes)
        self.box_loss = box_loss
        self.anchor_t = float(anchor_t)
        self.balance = list(balance)
        imgsz = max(input_size)
        self.box_gain = box_gain * 3 / nl
        self.cls_gain = cls_gain * self.nc / 80 * 3 / nl
        self.obj_gain = obj_gain * (imgsz / 640) ** 2 * 3 / nl
        w = torch.ones(self.nc) if class_weights is None else torch.as_tensor(class_weights)
        if w.shape != (self.nc,):
            raise ValueError(f"class_weights must have {self.nc} values, got {tuple(w.shape)}")
        self.register_buffer("class_weights", w.float())
        self.last: dict[str, float] = {}

    @property
    def _anchors(self) -> torch.Tensor:
        return self.get_buffer("anchors")

    @property
    def _class_weights(self) -> torch.Tensor:
        return self.get_buffer("class_weights")

    def _build_targets(
        self, preds: Sequence[torch.Tensor], targets: torch.Tensor
    ) -> list[tuple[torch.Tensor, ...]]:
        """Per level: ``(b, a, gj, gi, tbox (K,4) cxcywh grid units rel. to cell, anchor (K,2)
        grid units, cls (K,))`` of the positive positions."""
        out: list[tuple[torch.Tensor, ...]] = []
        dev = targets.device
        off = _OFFSETS.to(dev) * 0.5
        for lvl, p in enumerate(preds):
            _na, ny, nx = p.shape[1], p.shape[2], p.shape[3]
            s = self.strides[lvl]
            anc = self._anchors[lvl] / s  # (na, 2) grid units
            t = targets[:, 2:6] / s  # (M, 4) grid units
            m = len(targets)
            if m == 0:
                e = torch.zeros(0, dtype=torch.long, device=dev)
                out.append(
                    (e, e, e, e, torch.zeros(0, 4, device=dev), torch.zeros(0, 2, device=dev), e)
                )
                continue
            r = t[None, :, 2:4] / anc[:, None]  # (na, M, 2)
            ok = torch.max(r, 1 / r).max(2).values < self.anchor_t  # (na, M)
            ai, ti = ok.nonzero(as_tuple=True)
            gxy = t[ti, :2]
            gxi = torch.tensor([nx, ny], device=dev, dtype=gxy.dtype) - gxy
            j, k = ((gxy % 1 < 0.5) & (gxy > 1)).T
            l_, m_ = ((gxi % 1 < 0.5) & (gxi > 1)).T
            sel = torch.stack([torch.ones_like(j), j, k, l_, m_])  # (5, K)
            ai5 = ai.repeat(5, 1)[sel]
            ti5 = ti.repeat(5, 1)[sel]
            offs = (torch.zeros_like(gxy)[None] + off[:, None])[sel]
            gxy5 = t[ti5, :2]
            gij = (gxy5 - offs).long()
            gi = gij[:, 0].clamp(0, nx - 1)
            gj = gij[:, 1].clamp(0, ny - 1)
            tbox = torch.cat([gxy5 - torch.stack([gi, gj], 1), t[ti5, 2:4]], 1)
            b = targets[ti5, 0].long()
            c = targets[ti5, 1].long()
            out.append((b, ai5, gj, gi, tbox, anc[ai5], c))
        return out

    def forward(self, preds: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
        """``preds``: raw ``(N, na, H_l, W_l, 5 + C)`` per level; ``targets``: ``(M, 6)``."""
        dev = preds[0].device
        lbox = torch.zeros((), device=dev)
        lobj = torch.zeros((), device=dev)
        lcls = torch.zeros((), device=dev)
        targets = targets.to(dev).float().reshape(-1, 6)
        for lvl, (p, (b, a, gj, gi, tbox, anc, c)) in enumerate(
            zip(preds, self._build_targets(preds, targets))
        ):
            tobj = torch.zeros(p.shape[:4], device=dev, dtype=p.dtype)
            if len(b):
                ps = p[b, a, gj, gi]  # (K, 5 + C)
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anc
                iou = bbox_iou(
                    cxcywh_to_xyxy(torch.cat([pxy, pwh], 1)),
                    cxcywh_to_xyxy(tbox),
                    kind=self.box_loss,
                )
                lbox = lbox + (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if self.nc > 1:
                    tc = torch.zeros_like(ps[:, 5:])
                    tc[torch.arange(len(c), device=dev), c] = 1.0
                    bce = F.binary_cross_entropy_with_logits(ps[:, 5:], tc, reduction="none")
                    w = self._class_weights[c]
                    lcls = lcls + (bce.mean(1) * w).sum() / w.sum().clamp(min=1e-6)
            lobj = lobj + F.binary_cross_entropy_with_logits(p[..., 4], tobj) * self.balance[lvl]
        lbox = lbox * self.box_gain
        lobj = lobj * self.obj_gain
        lcls = lcls * self.cls_gain
        bs = preds[0].shape[0]
        self.last = {k: float(v.detach()) for k, v in (("box", lbox), ("obj", lobj), ("cls", lcls))}
        return (lbox + lobj + lcls) * bs
