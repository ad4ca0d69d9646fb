"""The built-in sample video: a deterministic synthetic scene (textured background, moving
shapes from :mod:`edgevision.data.synth`) encoded to H.264 MP4 by GStreamer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["make_sample_video", "sample_frames"]


def sample_frames(
    *, seed: int = 1, size: tuple[int, int] = (480, 640), frames: int = 150
) -> list[np.ndarray]:
    """``frames`` RGB frames ``(H, W, 3)`` uint8 of one synthetic scene (same seed, same
    pixels)."""
    from edgevision.data.synth import SynthConfig
    from edgevision.data.synth.render import make_scene, render_frame

    cfg = SynthConfig(
        seed=seed,
        image_size=size,
        frames=max(frames, 2),
        min_objects=3,
        max_objects=6,
        max_speed=0.012,
        max_pan=0.004,
    )
    rng = np.random.default_rng(seed)
    scene = make_scene(rng, cfg, frames, still=False)
    return [render_frame(scene, t).image for t in range(frames)]


def make_sample_video(
    path: str | Path,
    *,
    seed: int = 1,
    size: tuple[int, int] = (480, 640),
    frames: int = 150,
    fps: int = 30,
) -> Path:
    """Write the sample video (H.264 in MP4, atomically) and return its path."""
    from edgevision.stream.outputs import Mp4Sink

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sink = Mp4Sink(p, fps)
    for t, img in enumerate(sample_frames(seed=seed, size=size, frames=frames)):
        sink.write(img, t / fps)
    sink.close()
    return p
