"""A cheap appearance cue for association: colour histograms of each box's centre.

ByteTrack matches by box overlap alone, so two objects that cross swap ids whenever their
predicted boxes overlap both detections about equally. Trackers with a re-identification
network (DeepSORT, BoT-SORT) add an appearance distance; on a CPU at the edge a second network
per box is too dear, so this uses what DeepStream's NvDCF and classic colour trackers use: a
hue–saturation histogram (16 × 4 bins) of the box's central region (borders hold background and the
neighbour that overlaps), sampled on a 12×12 grid of pixels: every box of a frame in one
numpy gather, one OpenCV ``cvtColor`` and one ``bincount`` (a loop of ``cvtColor``/``calcHist``
calls per box cost several times as much at 50 boxes).

Features are square roots of the normalised histograms, so the dot product of two features is
the Bhattacharyya coefficient (1: same colour distribution, 0: disjoint) and
``1 - dot`` a distance in ``[0, 1]``.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["HIST_BINS", "appearance_distance", "colour_features"]

HIST_BINS = (16, 4)
"""Hue and saturation bins of the histogram."""

_CENTRE = 0.6  # the central fraction of a box's width and height that is described
_SAMPLES = 12  # pixels sampled along each side of that region
# OpenCV's 8-bit hue (0-179) -> hue bin
_HUE_BIN = np.minimum(np.arange(256) * HIST_BINS[0] // 180, HIST_BINS[0] - 1).astype(np.int64)


def colour_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(N, D)`` float32 features (``D = 16 * 4``) of ``(N, 4)`` ``xyxy`` boxes in an
    ``(H, W, 3)`` uint8 RGB image; a box with no pixels inside the image gets zeros.

    Raises:
        ValueError: the image is not ``(H, W, 3)`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"the tracker's colour cue needs an (H, W, 3) uint8 RGB frame, got "
            f"{image.dtype} {tuple(image.shape)}"
        )
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(b)
    hb, sb = HIST_BINS
    out = np.zeros((n, hb * sb), np.float32)
    if not n:
        return out
    h, w = image.shape[:2]
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    hw, hh = (b[:, 2] - b[:, 0]) * _CENTRE / 2, (b[:, 3] - b[:, 1]) * _CENTRE / 2
    x0, x1 = np.clip(cx - hw, 0, w), np.clip(cx + hw, 0, w)
    y0, y1 = np.clip(cy - hh, 0, h), np.clip(cy + hh, 0, h)
    ok = (x1 - x0 >= 1) & (y1 - y0 >= 1)
    if not ok.any():
        return out
    # a _SAMPLES x _SAMPLES grid of pixel centres over each region, all boxes in one gather
    u = (np.arange(_SAMPLES) + 0.5) / _SAMPLES
    ys = np.minimum((y0[ok, None] + u * (y1 - y0)[ok, None]).astype(np.int64), h - 1)
    xs = np.minimum((x0[ok, None] + u * (x1 - x0)[ok, None]).astype(np.int64), w - 1)
    flat = (ys[:, :, None] * w + xs[:, None, :]).ravel()
    px = np.take(np.ascontiguousarray(image).reshape(-1, 3), flat, axis=0).reshape(-1, _SAMPLES, 3)
    hsv = cv2.cvtColor(px, cv2.COLOR_RGB2HSV).reshape(-1, 3)  # one call for every box
    k = int(ok.sum())
    code = _HUE_BIN[hsv[:, 0]] * sb + (hsv[:, 1].astype(np.int64) * sb >> 8)
    code += np.repeat(np.arange(k) * (hb * sb), _SAMPLES * _SAMPLES)
    counts = np.bincount(code, minlength=k * hb * sb).reshape(k, hb * sb)
    out[ok] = np.sqrt(counts.astype(np.float32) / (_SAMPLES * _SAMPLES))
    return out


def appearance_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` distances ``1 - Bhattacharyya coefficient`` in ``[0, 1]``."""
    return np.clip(1.0 - a.astype(np.float64) @ b.astype(np.float64).T, 0.0, 1.0)
