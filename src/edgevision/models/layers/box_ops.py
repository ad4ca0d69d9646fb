"""Box utilities in torch for training: format conversion, IoU family, anchor encode/decode.

All boxes are float tensors whose last axis holds 4 coordinates in pixels (continuous, no
``+1``). Formats as in :mod:`edgevision.postprocess.boxes` (the numpy twin used at run time):
``xyxy`` (corners), ``xywh`` (top-left + size, COCO), ``cxcywh`` (centre + size, YOLO).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "bbox_iou",
    "box_area",
    "box_iou",
    "cxcywh_to_xyxy",
    "decode_ssd",
    "decode_yolo",
    "encode_ssd",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
]


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``x1, y1, x2, y2`` -> ``(..., 4)`` ``cx, cy, w, h``."""
    return torch.cat([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], dim=-1)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``cx, cy, w, h`` -> ``(..., 4)`` ``x1, y1, x2, y2``."""
    half = b[..., 2:] / 2
    return torch.cat([b[..., :2] - half, b[..., :2] + half], dim=-1)


def xywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``x, y, w, h`` -> ``(..., 4)`` ``x1, y1, x2, y2``."""
    return torch.cat([b[..., :2], b[..., :2] + b[..., 2:]], dim=-1)


def xyxy_to_xywh(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``x1, y1, x2, y2`` -> ``(..., 4)`` ``x, y, w, h``."""
    return torch.cat([b[..., :2], b[..., 2:] - b[..., :2]], dim=-1)


def box_area(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` xyxy -> ``(...)`` areas (0 for inverted boxes)."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Pairwise IoU: ``(N, 4)`` and ``(M, 4)`` xyxy -> ``(N, M)`` in 0–1."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / (union + eps)


def bbox_iou(
    a: torch.Tensor, b: torch.Tensor, *, kind: str = "ciou", eps: float = 1e-7
) -> torch.Tensor:
    """Element-wise IoU / GIoU / DIoU / CIoU of matching boxes (differentiable).

    Args:
        a: ``(..., 4)`` xyxy.
        b: ``(..., 4)`` xyxy, broadcastable with ``a``.
        kind: ``"iou"``, ``"giou"`` (Rezatofighi 2019), ``"diou"`` or ``"ciou"`` (Zheng 2020).
        eps: numerical guard.

    Returns:
        ``(...)`` values; IoU in 0–1, GIoU/DIoU/CIoU in -1–1 (1 = identical boxes).
    """
    if kind not in ("iou", "giou", "diou", "ciou"):
        raise ValueError(f"kind must be iou, giou, diou or ciou, got {kind!r}")
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0) * (
        torch.minimum(ay2, by2) - torch.maximum(ay1, by1)
    ).clamp(min=0)
    w1, h1 = ax2 - ax1, (ay2 - ay1).clamp(min=eps)
    w2, h2 = bx2 - bx1, (by2 - by1).clamp(min=eps)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    cw = torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)
    ch = torch.maximum(ay2, by2) - torch.minimum(ay1, by1)
    if kind == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    c2 = cw**2 + ch**2 + eps
    rho2 = ((bx1 + bx2 - ax1 - ax2) ** 2 + (by1 + by2 - ay1 - ay2) ** 2) / 4
    if kind == "diou":
        return iou - rho2 / c2
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def decode_yolo(
    raw: torch.Tensor, grid: torch.Tensor, anchors: torch.Tensor, stride: float
) -> torch.Tensor:
    """YOLOv5 box decode (the same formula as the numpy run-time decoder).

    ``cx = (2σ(tx) - 0.5 + gx) · stride``, ``w = (2σ(tw))² · anchor_w`` (bounded to 4× the
    anchor, no ``exp``, which keeps training stable and INT8-friendly).

    Args:
        raw: ``(..., 4)`` raw ``tx, ty, tw, th`` logits.
        grid: ``(..., 2)`` cell ``gx, gy`` (broadcastable).
        anchors: ``(..., 2)`` anchor ``w, h`` in pixels (broadcastable).
        stride: the level's stride in pixels.

    Returns:
        ``(..., 4)`` cxcywh boxes in input pixels.
    """
    s = raw.sigmoid()
    xy = (s[..., :2] * 2 - 0.5 + grid) * stride
    wh = (s[..., 2:4] * 2) ** 2 * anchors
    return torch.cat([xy, wh], dim=-1)


def encode_ssd(
    boxes: torch.Tensor,
    anchors: torch.Tensor,
    variances: tuple[float, float] = (0.1, 0.2),
) -> torch.Tensor:
    """SSD / YOLACT regression targets of matched ``boxes`` relative to ``anchors``.

    Args:
        boxes: ``(..., 4)`` xyxy ground truth.
        anchors: ``(..., 4)`` cxcywh anchors (same units).
        variances: centre and size variances.

    Returns:
        ``(..., 4)`` ``(dx, dy, dw, dh)`` targets.
    """
    g = xyxy_to_cxcywh(boxes)
    dxy = (g[..., :2] - anchors[..., :2]) / (variances[0] * anchors[..., 2:])
    dwh = torch.log(g[..., 2:].clamp(min=1e-6) / anchors[..., 2:]) / variances[1]
    return torch.cat([dxy, dwh], dim=-1)


def decode_ssd(
    deltas: torch.Tensor,
    anchors: torch.Tensor,
    variances: tuple[float, float] = (0.1, 0.2),
) -> torch.Tensor:
    """Inverse of :func:`encode_ssd`: ``(..., 4)`` deltas + cxcywh anchors -> xyxy boxes."""
    xy = anchors[..., :2] + deltas[..., :2] * variances[0] * anchors[..., 2:]
    wh = anchors[..., 2:] * torch.exp(deltas[..., 2:] * variances[1])
    return cxcywh_to_xyxy(torch.cat([xy, wh], dim=-1))
