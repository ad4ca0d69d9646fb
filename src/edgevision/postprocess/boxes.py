"""Box geometry in numpy: areas, pairwise IoU, format conversion, clipping and rescaling.

All functions take and return ``float32`` arrays whose last axis holds 4 coordinates, in
pixels. Formats:

* ``xyxy``: ``x1, y1, x2, y2`` (top-left and bottom-right corners; the library's format).
* ``xywh``: ``x, y, w, h`` (top-left corner and size; COCO's ``bbox``).
* ``cxcywh``: ``cx, cy, w, h`` (centre and size; YOLO heads).

Boxes are continuous: a box ``[0, 0, 10, 10]`` has area 100 (no ``+1``). No torch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "box_area",
    "box_iou",
    "clip_boxes",
    "cxcywh_to_xyxy",
    "scale_boxes",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
]


def _as_boxes(boxes: np.ndarray, name: str = "boxes") -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32)
    if b.ndim == 1 and b.size == 0:
        b = b.reshape(0, 4)
    if b.shape[-1:] != (4,):
        raise ValueError(f"{name} must have shape (..., 4), got {b.shape}")
    return b


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``xyxy`` boxes.

    Args:
        boxes: ``(..., 4)`` xyxy in pixels.

    Returns:
        ``(...)`` float32 areas; boxes with ``x2 < x1`` or ``y2 < y1`` have area 0.
    """
    b = _as_boxes(boxes)
    w = np.clip(b[..., 2] - b[..., 0], 0, None)
    h = np.clip(b[..., 3] - b[..., 1], 0, None)
    return (w * h).astype(np.float32)


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of two sets of ``xyxy`` boxes (vectorised).

    Args:
        boxes1: ``(N, 4)`` xyxy.
        boxes2: ``(M, 4)`` xyxy.

    Returns:
        ``(N, M)`` float32 IoU in 0–1. Pairs whose union is empty (two degenerate boxes)
        have IoU 0.
    """
    a = _as_boxes(boxes1, "boxes1").reshape(-1, 4)
    b = _as_boxes(boxes2, "boxes2").reshape(-1, 4)
    area_a = box_area(a)
    area_b = box_area(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``x, y, w, h`` -> ``(..., 4)`` float32 ``x1, y1, x2, y2``."""
    b = _as_boxes(boxes)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``x1, y1, x2, y2`` -> ``(..., 4)`` float32 ``x, y, w, h``."""
    b = _as_boxes(boxes)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``cx, cy, w, h`` -> ``(..., 4)`` float32 ``x1, y1, x2, y2``."""
    b = _as_boxes(boxes)
    half = b[..., 2:] / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``x1, y1, x2, y2`` -> ``(..., 4)`` float32 ``cx, cy, w, h``."""
    b = _as_boxes(boxes)
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], axis=-1)


def clip_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Clip ``xyxy`` boxes to the image: x to ``[0, W]``, y to ``[0, H]``.

    Args:
        boxes: ``(..., 4)`` xyxy in pixels.
        image_size: ``(H, W)`` of the image.

    Returns:
        A clipped float32 copy.
    """
    b = _as_boxes(boxes).copy()
    h, w = (float(v) for v in image_size)
    b[..., 0::2] = np.clip(b[..., 0::2], 0.0, w)
    b[..., 1::2] = np.clip(b[..., 1::2], 0.0, h)
    return b


def scale_boxes(
    boxes: np.ndarray,
    from_size: tuple[int, int],
    to_size: tuple[int, int],
    *,
    mode: Literal["stretch", "letterbox"] = "stretch",
    pad: tuple[float, float] | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Map ``xyxy`` boxes from one image frame (e.g. the network input) to another.

    Args:
        boxes: ``(..., 4)`` xyxy in pixels of ``from_size``.
        from_size: ``(H, W)`` the boxes refer to (the network input).
        to_size: ``(H, W)`` to map into (the original image).
        mode: ``"stretch"`` (independent x/y scale, the image was resized to ``from_size``)
            or ``"letterbox"`` (one scale ``min(from/to)``, then padded).
        pad: letterbox only: ``(left, top)`` padding in ``from_size`` pixels. Default: the
            padding of a centred letterbox, ``((W_from - W_to * g) / 2, (H_from - H_to * g) / 2)``.
        clip: clip the result to ``to_size``.

    Returns:
        float32 boxes in ``to_size`` pixels, same shape as ``boxes``.
    """
    b = _as_boxes(boxes).astype(np.float64)
    fh, fw = (float(v) for v in from_size)
    th, tw = (float(v) for v in to_size)
    if min(fh, fw, th, tw) <= 0:
        raise ValueError(f"sizes must be positive, got from {from_size} to {to_size}")
    if mode == "stretch":
        if pad is not None:
            raise ValueError("pad is only used with mode='letterbox'")
        scale = np.array([tw / fw, th / fh, tw / fw, th / fh])
        out = b * scale
    elif mode == "letterbox":
        gain = min(fh / th, fw / tw)
        left, top = pad if pad is not None else ((fw - tw * gain) / 2, (fh - th * gain) / 2)
        out = (b - np.array([left, top, left, top])) / gain
    else:
        raise ValueError(f"mode must be 'stretch' or 'letterbox', got {mode!r}")
    out = out.astype(np.float32)
    return clip_boxes(out, (int(th), int(tw))) if clip else out
