"""Configuration of the synthetic dataset generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgevision.config import validate
from edgevision.errors import ConfigError

__all__ = ["SEMANTIC_CLASSES", "THING_CLASSES", "SynthConfig"]

THING_CLASSES: tuple[str, ...] = ("circle", "rectangle", "triangle", "star")
"""Object ("thing") classes; COCO category id = index + 1, semantic id = index + 1."""

SEMANTIC_CLASSES: tuple[str, ...] = ("background", *THING_CLASSES)
"""Semantic classes, index = label value in ``labels/*.png`` (0 = textured background)."""


@dataclass
class SynthConfig:
    """What :func:`edgevision.data.synth.generate` writes.

    Sizes and speeds are relative to the image where noted, so a smaller ``image_size`` gives
    the same kind of scenes.

    Attributes:
        seed: RNG seed; the same seed and config give byte-identical labels, JSON and flows.
        image_size: ``(H, W)`` of images and video frames in pixels (each >= 32).
        train_images: still images in the ``train`` split.
        val_images: still images in the ``val`` split.
        train_videos: videos in the ``train`` split.
        val_videos: videos in the ``val`` split.
        frames: frames per video (>= 2).
        min_objects: fewest objects per scene.
        max_objects: most objects per scene (<= 255).
        min_radius: smallest object radius, fraction of ``min(H, W)``.
        max_radius: largest object radius, fraction of ``min(H, W)``.
        max_speed: largest object speed, fraction of ``min(H, W)`` per frame.
        max_rotation: largest object rotation speed, degrees per frame.
        max_scale_rate: largest relative size change per frame (0.03 = ±3 %).
        max_pan: largest background pan speed, fraction of ``min(H, W)`` per frame.
        motion_range: ``(lo, hi)``: each video draws one factor log-uniformly in this range
            that scales its object speeds, rotations, size changes and pan (videos of
            varying motion); ``(1, 1)`` (the default) draws nothing.
        min_visible: in still images, every object keeps at least this fraction of its area
            in view visible after occlusion (with ``still_frames > 1`` an object may also be
            mostly outside the image).
        still_frames: still images show each object at a random frame of its motion over
            this many frames (under the video motion settings; motion_range does not apply):
            the size changes and cuts at the image border of long videos. ``1`` (the
            default) places each object at its sampled pose and draws nothing more.
        noise_std: std of Gaussian pixel noise added to every image and frame (0–255 scale);
            0 keeps the flow photometrically exact.
        image_format: file type of still images (video frames are always lossless PNG).
        jpeg_quality: JPEG quality when ``image_format`` is ``"jpg"``.
        flow_format: ``"flo"`` (Middlebury) or ``"npy"``.
        write_mp4: also write one ``.mp4`` per video (OpenCV ``mp4v``).
        fps: frame rate of the ``.mp4`` files.
        depth: also write exact per-pixel depth (``depth/{split}/NAME.npy``, and
            ``videos/{split}/VIDEO/depth/NNNNN.npy``): float32 metres of the visible layer,
            from the scene model (:func:`edgevision.data.synth.render.frame_depth`). Adds
            files only: everything else is byte-identical to a run without it.
        panoptic: also write COCO panoptic truth of the still images
            (``annotations/panoptic_{split}.json`` and ``panoptic/{split}/NAME.png``):
            every visible object one thing segment, the background one stuff segment
            (category ``background``, id ``len(THING_CLASSES) + 1``). Adds files only.
    """

    seed: int = 0
    image_size: tuple[int, int] = (256, 256)
    train_images: int = 64
    val_images: int = 16
    train_videos: int = 4
    val_videos: int = 2
    frames: int = 8
    min_objects: int = 2
    max_objects: int = 6
    min_radius: float = 0.07
    max_radius: float = 0.18
    max_speed: float = 0.016
    max_rotation: float = 4.0
    max_scale_rate: float = 0.03
    max_pan: float = 0.012
    motion_range: tuple[float, float] = (1.0, 1.0)
    min_visible: float = 0.35
    still_frames: int = 1
    noise_std: float = 0.0
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 95
    flow_format: Literal["flo", "npy"] = "flo"
    write_mp4: bool = True
    fps: int = 8
    depth: bool = False
    panoptic: bool = False

    def __post_init__(self) -> None:
        validate(self)
        h, w = self.image_size
        if h < 32 or w < 32:
            raise ConfigError(f"image_size must be at least 32x32, got {h}x{w}")
        for name in ("train_images", "val_images", "train_videos", "val_videos"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.frames < 2:
            raise ConfigError(f"frames must be >= 2, got {self.frames}")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ConfigError(
                f"need 1 <= min_objects <= max_objects <= 255, got "
                f"{self.min_objects}, {self.max_objects}"
            )
        if not 0 < self.min_radius <= self.max_radius <= 0.45:
            raise ConfigError(
                f"need 0 < min_radius <= max_radius <= 0.45, got "
                f"{self.min_radius}, {self.max_radius}"
            )
        for name in ("max_speed", "max_rotation", "max_scale_rate", "max_pan", "noise_std"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        lo, hi = (float(v) for v in self.motion_range)
        if not 0 < lo <= hi:
            raise ConfigError(f"motion_range must be (lo, hi) with 0 < lo <= hi, got {lo}, {hi}")
        if self.max_scale_rate * hi >= 0.5:
            raise ConfigError(
                f"max_scale_rate x motion_range[1] must be < 0.5, got {self.max_scale_rate * hi}"
            )
        if self.max_scale_rate >= 0.5:
            raise ConfigError(f"max_scale_rate must be < 0.5, got {self.max_scale_rate}")
        if not 1 <= self.still_frames <= 1000:
            raise ConfigError(f"still_frames must be in 1..1000, got {self.still_frames}")
        if not 0 <= self.min_visible < 1:
            raise ConfigError(f"min_visible must be in [0, 1), got {self.min_visible}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.fps < 1:
            raise ConfigError(f"fps must be >= 1, got {self.fps}")
