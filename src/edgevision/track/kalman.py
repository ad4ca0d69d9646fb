"""A constant-velocity Kalman filter over many boxes at once (ByteTrack's motion model).

State per track: ``(cx, cy, a, h, vcx, vcy, va, vh)`` — box centre, aspect ratio ``w / h``,
height and their velocities in pixels (ratio) per frame; noise scales with the box height,
as in SORT/DeepSORT/ByteTrack. Every operation works on all tracks in one numpy call
(``(N, 8)`` means, ``(N, 8, 8)`` covariances), so a frame with 50 tracks costs a few numpy
calls, not 50 small matrix products in Python.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxKalman", "xyah_to_xyxy", "xyxy_to_xyah"]

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``(N, 4)`` ``cx, cy, w / h, h`` (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = b[:, 2] - b[:, 0]
    h = np.maximum(b[:, 3] - b[:, 1], 1e-6)
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """Inverse of :func:`xyxy_to_xyah` (``(N, 4)`` float64)."""
    x = np.asarray(xyah, dtype=np.float64).reshape(-1, 4)
    h = x[:, 3]
    w = x[:, 2] * h
    return np.stack([x[:, 0] - w / 2, x[:, 1] - h / 2, x[:, 0] + w / 2, x[:, 1] + h / 2], 1)


class BoxKalman:
    """Batched predict/update of the box filter; holds no tracks itself."""

    def __init__(self) -> None:
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    @staticmethod
    def _scale(h: np.ndarray, pos: float, ratio: float) -> np.ndarray:
        """Per-track std ``(N, 4)``: ``pos * h`` for x, y, h and ``ratio`` for the aspect."""
        s = np.repeat((pos * h)[:, None], 4, axis=1)
        s[:, 2] = ratio
        return s

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks at measured boxes ``(N, 4)``: zero velocity, wide velocity prior.

        Returns:
            ``(mean (N, 8), covariance (N, 8, 8))``.
        """
        n = len(xyah)
        mean = np.concatenate([xyah, np.zeros((n, 4))], axis=1)
        h = xyah[:, 3]
        std = np.concatenate(
            [self._scale(h, 2 * _STD_POS, 1e-2), self._scale(h, 10 * _STD_VEL, 1e-5)], axis=1
        )
        cov = np.zeros((n, 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead for every track (``(N, 8)``, ``(N, 8, 8)`` in, new arrays out)."""
        h = mean[:, 3]
        std = np.concatenate(
            [self._scale(h, _STD_POS, 1e-2), self._scale(h, _STD_VEL, 1e-5)], axis=1
        )
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T
        idx = np.arange(8)
        cov[:, idx, idx] += std**2
        return mean, cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct ``N`` tracks with their measured boxes ``(N, 4)`` xyah."""
        std = self._scale(mean[:, 3], _STD_POS, 1e-1)
        S = cov[:, :4, :4].copy()
        idx = np.arange(4)
        S[:, idx, idx] += std**2
        PHt = cov[:, :, :4]  # P @ H.T, H selects the first four state entries
        K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4)
        innov = xyah - mean[:, :4]
        mean = mean + np.einsum("nij,nj->ni", K, innov)
        cov = cov - K @ PHt.transpose(0, 2, 1)
        return mean, cov
