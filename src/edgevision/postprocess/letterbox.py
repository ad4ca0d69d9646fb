"""Map network-input coordinates and maps back to the original image (inverse of preprocess)."""

from __future__ import annotations

import numpy as np

from edgevision.preprocess import Transform


def boxes_to_original(boxes: np.ndarray, t: Transform, *, clip: bool = True) -> np.ndarray:
    """``(N, 4)`` xyxy boxes in network-input pixels -> original-image pixels (float32)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    top, left = t.pad
    sy, sx = t.scale
    b[:, [0, 2]] = (b[:, [0, 2]] - left) / sx
    b[:, [1, 3]] = (b[:, [1, 3]] - top) / sy
    if clip:
        h, w = t.orig_size
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return b


def boxes_to_input(boxes: np.ndarray, t: Transform) -> np.ndarray:
    """``(N, 4)`` xyxy boxes in original-image pixels -> network-input pixels (float32); the
    inverse of :func:`boxes_to_original` without clipping."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    top, left = t.pad
    sy, sx = t.scale
    b[:, [0, 2]] = b[:, [0, 2]] * sx + left
    b[:, [1, 3]] = b[:, [1, 3]] * sy + top
    return b


def content_region(shape: tuple[int, ...], t: Transform) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the image content in a map of ``shape[:2]`` pixels whose
    resolution is proportional to the network input (the input itself, or 1/4 of it...)."""
    h, w = shape[:2]
    fy, fx = h / t.input_size[0], w / t.input_size[1]
    y0, x0, y1, x1 = t.content_box
    return int(round(y0 * fy)), int(round(y1 * fy)), int(round(x0 * fx)), int(round(x1 * fx))


def map_to_original(m: np.ndarray, t: Transform, *, nearest: bool = False) -> np.ndarray:
    """Crop the content region of an input-resolution map and resize it to the original size.

    Args:
        m: ``(h, w)`` or ``(h, w, C)`` map at any resolution proportional to the network input
            (e.g. logits at input or 1/4 resolution).
        t: the image's transform.
        nearest: nearest-neighbour (for label maps) instead of bilinear.
    """
    import cv2

    y0, y1, x0, x1 = content_region(m.shape[:2], t)
    crop = m[y0:y1, x0:x1]
    oh, ow = t.orig_size
    if crop.shape[:2] == (oh, ow):
        return crop
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if crop.ndim == 3 and crop.shape[2] > 512:  # cv2.resize handles up to 512 channels
        return np.concatenate(
            [
                cv2.resize(crop[..., i : i + 512], (ow, oh), interpolation=interp).reshape(
                    oh, ow, -1
                )
                for i in range(0, crop.shape[2], 512)
            ],
            axis=2,
        )
    return cv2.resize(crop, (ow, oh), interpolation=interp)
