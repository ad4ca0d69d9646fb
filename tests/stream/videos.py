"""Helpers the stream tests share (not a test module)."""

from __future__ import annotations

from pathlib import Path


def count_frames(path: Path) -> int:
    """Frames OpenCV can decode from the video file ``path`` (0 for an unreadable file)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n
