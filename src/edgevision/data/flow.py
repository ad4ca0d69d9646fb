"""Optical flow files and warping (numpy + OpenCV only).

Flow convention used throughout edgevision: a forward flow ``F`` from frame ``t`` to frame
``t+1`` is an ``(H, W, 2)`` float32 array of ``(dx, dy)`` in pixels, such that the scene point
at pixel ``(x, y)`` of frame ``t`` appears at ``(x + dx, y + dy)`` in frame ``t+1``. Pixel
centres are at integer coordinates (OpenCV's convention).

Files:
    * ``.flo``: Middlebury format (magic ``202021.25``, int32 width, int32 height, then
      row-major interleaved float32 ``u, v``), read by most flow tools.
    * ``.npy``: the ``(H, W, 2)`` float32 array as saved by :func:`numpy.save`.

The synthetic generator (:mod:`edgevision.data.synth`) writes, per video,
``flow/NNNNN.flo`` (frame ``NNNNN`` -> ``NNNNN+1``) and ``flow/NNNNN_valid.png`` (255 where the
flow is valid: the point stays in view and is not occluded in frame ``t+1``);
:class:`FlowPairs` reads them back as training pairs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgevision.errors import DataError, require_dir
from edgevision.io import atomic_path, read_image, read_mask

if TYPE_CHECKING:
    from edgevision.preprocess import Transform

__all__ = [
    "FLO_MAGIC",
    "FlowPairs",
    "FlowSample",
    "augment_flow_sample",
    "compose_flow",
    "flow_to_input",
    "read_flow",
    "read_flow_valid",
    "warp_backward",
    "write_flow",
]

FLO_MAGIC = 202021.25
"""Middlebury ``.flo`` magic number (the bytes ``PIEH`` as little-endian float32)."""

_MAX_FLO_SIDE = 1 << 16


def read_flow(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a flow file (``.flo`` or ``.npy``).

    Returns:
        ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels.

    Raises:
        DataError: missing file, unknown suffix, bad magic/header, or truncated data.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"flow file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            flow = np.load(p, allow_pickle=False)
        except ValueError as e:
            raise DataError(f"cannot read flow (not a valid .npy file: {e}): {p}") from None
        if flow.ndim != 3 or flow.shape[2] != 2:
            raise DataError(f"flow must have shape (H, W, 2), got {flow.shape}: {p}")
        return np.ascontiguousarray(flow, dtype=np.float32)
    if suffix != ".flo":
        raise DataError(f"unknown flow file type {p.suffix!r} (expected .flo or .npy): {p}")
    raw = p.read_bytes()
    if len(raw) < 12:
        raise DataError(f"flow file too short for a .flo header ({len(raw)} bytes): {p}")
    magic = np.frombuffer(raw, dtype="<f4", count=1)[0]
    if magic != np.float32(FLO_MAGIC):
        raise DataError(f"not a Middlebury .flo file (bad magic {magic!r}): {p}")
    w, h = (int(v) for v in np.frombuffer(raw, dtype="<i4", count=2, offset=4))
    if not (0 < w < _MAX_FLO_SIDE and 0 < h < _MAX_FLO_SIDE):
        raise DataError(f"implausible .flo size {w}x{h} (W x H): {p}")
    n = h * w * 2
    if len(raw) != 12 + 4 * n:
        raise DataError(
            f".flo file has {len(raw) - 12} data bytes, expected {4 * n} for {w}x{h}: {p}"
        )
    return np.frombuffer(raw, dtype="<f4", count=n, offset=12).reshape(h, w, 2).astype(np.float32)


def write_flow(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write an ``(H, W, 2)`` flow atomically as ``.flo`` (Middlebury) or ``.npy``.

    Args:
        path: destination; the suffix picks the format.
        flow: ``(H, W, 2)`` float ``(dx, dy)`` in pixels (stored as float32).
    """
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {f.shape}")
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".flo", ".npy"):
        raise ValueError(f"unknown flow file type {p.suffix!r} (expected .flo or .npy)")
    with atomic_path(p) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, f, allow_pickle=False)
        else:
            h, w = f.shape[:2]
            header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
            tmp.write_bytes(header + np.ascontiguousarray(f, dtype="<f4").tobytes())


def read_flow_valid(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a flow validity PNG (non-zero = valid) as an ``(H, W)`` bool array."""
    return read_mask(path) > 0


def warp_backward(img_t1: np.ndarray, flow: np.ndarray, *, border: str = "replicate") -> np.ndarray:
    """Warp frame ``t+1`` back onto frame ``t`` with the forward flow ``t -> t+1``.

    ``out[y, x] = img_t1[y + dy, x + dx]`` sampled bilinearly (:func:`cv2.remap`), so where the
    flow is correct and the point is visible in both frames, ``out`` matches frame ``t``.

    Args:
        img_t1: ``(H, W)`` or ``(H, W, C)`` image of frame ``t+1`` (uint8 or float32).
        flow: ``(H, W, 2)`` float forward flow ``(dx, dy)`` in pixels, frame ``t`` -> ``t+1``.
        border: ``"replicate"`` or ``"constant"`` (zeros) for samples outside the image.

    Returns:
        The warped image, same shape and dtype as ``img_t1``.
    """
    import cv2

    img = np.asarray(img_t1)
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {f.shape}")
    if img.shape[:2] != f.shape[:2]:
        raise ValueError(f"image is {img.shape[:2]} but flow is {f.shape[:2]}")
    modes = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
    if border not in modes:
        raise ValueError(f"border must be one of {sorted(modes)}, got {border!r}")
    h, w = f.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + f[..., 0]
    map_y = gy + f[..., 1]
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=modes[border])


def compose_flow(
    f01: np.ndarray, f12: np.ndarray, valid01: np.ndarray, valid12: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Chain forward flows: ``t -> t+1`` then ``t+1 -> t+2`` gives ``t -> t+2``.

    ``f02(x) = f01(x) + f12(x + f01(x))`` with ``f12`` sampled bilinearly at the point where
    ``x`` lands in frame ``t+1``; valid where both steps are valid there and the landing point
    is inside the image.

    Args:
        f01, f12: ``(H, W, 2)`` float32 flows in pixels.
        valid01, valid12: ``(H, W)`` bool validity masks.

    Returns:
        ``(f02 (H, W, 2) float32, valid02 (H, W) bool)``.
    """
    import cv2

    h, w = f01.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + f01[..., 0], gy + f01[..., 1]
    f12_at = cv2.remap(f12.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    v12_at = cv2.remap(valid12.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return (f01 + f12_at).astype(np.float32), valid01 & inside & (v12_at > 0.999)


def flow_to_input(
    flow: np.ndarray, valid: np.ndarray, t: Transform
) -> tuple[np.ndarray, np.ndarray]:
    """Move a flow field from an image's grid onto the network input's grid.

    The flow is resampled like the image (:func:`edgevision.preprocess.preprocess`'s stretch
    or letterbox resize) and its vectors scaled by the same factors, so it is in input pixels
    on the input grid; padding is invalid. Scaling the vectors alone and leaving them on the
    image's grid is not enough: resizing that grid again (to a feature stride) would scale
    each component by the grid's change a second time.

    Args:
        flow: ``(H, W, 2)`` float32 flow in image pixels.
        valid: ``(H, W)`` bool.
        t: the image's :class:`~edgevision.preprocess.Transform`.

    Returns:
        ``(flow (h, w, 2) float32, valid (h, w) bool)`` at ``t.input_size``.
    """
    import cv2

    th, tw = t.input_size
    top, left, y1, x1 = t.content_box
    nh, nw = y1 - top, x1 - left
    sy, sx = t.scale
    f = cv2.resize(np.ascontiguousarray(flow, np.float32), (nw, nh),
                   interpolation=cv2.INTER_LINEAR)  # fmt: skip
    f = f * np.array([sx, sy], np.float32)
    v = cv2.resize(np.ascontiguousarray(valid, np.uint8), (nw, nh),
                   interpolation=cv2.INTER_NEAREST)  # fmt: skip
    out_f = np.zeros((th, tw, 2), np.float32)
    out_v = np.zeros((th, tw), bool)
    out_f[top:y1, left:x1] = f
    out_v[top:y1, left:x1] = v > 0
    return out_f, out_v


@dataclass
class FlowSample:
    """A pair of video frames ``gap`` steps apart with ground-truth forward flow.

    Attributes:
        video: video folder name.
        index: frame index ``t`` of ``image0``.
        image0: ``(H, W, 3)`` uint8 RGB frame ``t``.
        image1: ``(H, W, 3)`` uint8 RGB frame ``t + gap``.
        flow: ``(H, W, 2)`` float32 forward flow ``t -> t + gap`` in pixels (for ``gap > 1``
            the consecutive flows chained by :func:`compose_flow`).
        valid: ``(H, W)`` bool, True where the flow is valid (visible in both frames).
        gap: frames between ``image0`` and ``image1`` (1 = consecutive).
    """

    video: str
    index: int
    image0: np.ndarray
    image1: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    gap: int = 1


_FRAME_RE = re.compile(r"^(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)


def augment_flow_sample(
    s: FlowSample,
    rng: np.random.Generator,
    *,
    max_shift: int = 16,
    flip: bool = True,
    vflip_p: float = 0.25,
    photometric: bool = True,
) -> FlowSample:
    """A randomly altered copy of a frame pair whose flow stays exact.

    The few dozen synthetic training videos are too few for a flow network: trained on
    them alone, FeatFlowNet's endpoint error was 1.9 px on training pairs and 4.9 px on
    validation pairs (``edgevision video --warp-error``). Each change here keeps the
    ground truth exact without resampling the flow:

    - flip both frames left-right (probability 0.5) and, independently, up-down
      (``vflip_p``): the flow field is flipped and its x (y) component negated;
    - move ``image1`` by a random integer ``(dx, dy)`` up to ``max_shift`` pixels (a camera
      shake): every flow vector gains ``(dx, dy)``; pixels that now land outside ``image1``
      become invalid (the uncovered border is filled by edge replication);
    - change brightness and contrast, the same for both frames plus a small change per
      frame (``photometric``).

    Args:
        s: a :class:`FlowSample` (``flow``: ``image0`` pixel -> its place in ``image1``).
        rng: random generator.
        max_shift: largest extra displacement of ``image1`` in pixels (0 = none).
        flip: random horizontal and vertical flips.
        vflip_p: probability of the vertical flip (scenes have an up; shapes don't).
        photometric: random brightness/contrast.

    Returns:
        A new :class:`FlowSample` with its own flow and valid arrays (the input is not
        modified; its images are shared when nothing changed them).
    """
    import cv2

    im0, im1, flow, valid = s.image0, s.image1, s.flow, s.valid
    if flip and rng.random() < 0.5:
        im0, im1, valid = im0[:, ::-1], im1[:, ::-1], valid[:, ::-1]
        flow = flow[:, ::-1] * np.array([-1.0, 1.0], np.float32)
    if flip and rng.random() < vflip_p:
        im0, im1, valid = im0[::-1], im1[::-1], valid[::-1]
        flow = flow[::-1] * np.array([1.0, -1.0], np.float32)
    flow = np.array(flow, dtype=np.float32, order="C", copy=True)  # never the input's arrays
    valid = np.array(valid, dtype=bool, order="C", copy=True)
    if max_shift > 0:
        dx, dy = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
        if dx or dy:
            h, w = im1.shape[:2]
            m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
            im1 = cv2.warpAffine(np.ascontiguousarray(im1), m, (w, h),
                                 flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
            flow += np.array([dx, dy], np.float32)
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            tx, ty = gx + flow[..., 0], gy + flow[..., 1]
            valid &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    if photometric:
        # one brightness/contrast change for both frames (a different camera or light), plus
        # a small one per frame (consecutive frames barely differ: a large independent change
        # would leave a feature difference that no flow can explain)
        a, b = float(rng.uniform(0.8, 1.2)), float(rng.uniform(-20.0, 20.0))

        def jitter(im: np.ndarray) -> np.ndarray:
            ai = a * float(rng.uniform(0.98, 1.02))
            bi = b + float(rng.uniform(-2.0, 2.0))
            return np.clip(im.astype(np.float32) * ai + bi, 0, 255).astype(np.uint8)

        im0, im1 = jitter(im0), jitter(im1)
    return FlowSample(
        s.video,
        s.index,
        np.ascontiguousarray(im0),
        np.ascontiguousarray(im1),
        flow,
        valid,
        s.gap,
    )


class FlowPairs:
    """Frame pairs with ground-truth flow from ``DIR/videos/{split}/VIDEO/``.

    Expects ``VIDEO/NNNNN.png`` frames and ``VIDEO/flow/NNNNN.{flo,npy}`` (+ optional
    ``NNNNN_valid.png``) as written by :func:`edgevision.data.synth.generate`. Videos are taken
    in name order; pair ``i`` is a ``(video, t, gap)`` for every ``gap`` in ``1..max_gap``
    whose consecutive flows ``t .. t+gap-1`` all exist (gap 1 first, then 2 ...). Pairs
    further apart than one frame are what a keyframe ``gap`` frames back looks like in
    video mode; their flow is chained from the consecutive ones.

    Args:
        root: dataset folder.
        split: video split.
        max_gap: largest frame distance of a pair (>= 1).

    Raises:
        DataError: the split folder is missing, or a flow file has no matching frames.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, *, max_gap: int = 1) -> None:
        if max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {max_gap}")
        self.root = Path(root)
        self.max_gap = max_gap
        base = self.root / "videos" / split
        require_dir(base, f"video split {split!r}")
        # per video: t -> (frame t, frame t+1, flow file, valid file)
        steps: list[tuple[str, dict[int, tuple[Path, Path, Path, Path | None]]]] = []
        for vdir in sorted(d for d in base.iterdir() if d.is_dir()):
            frames = {int(m.group(1)): f for f in vdir.iterdir() if (m := _FRAME_RE.match(f.name))}
            fdir = vdir / "flow"
            if not fdir.is_dir():
                continue
            per: dict[int, tuple[Path, Path, Path, Path | None]] = {}
            for ff in sorted(fdir.iterdir()):
                if ff.suffix.lower() not in (".flo", ".npy") or not ff.stem.isdigit():
                    continue
                t = int(ff.stem)
                if t not in frames or t + 1 not in frames:
                    raise DataError(f"flow file has no frames {t} and {t + 1} next to it: {ff}")
                valid = fdir / f"{ff.stem}_valid.png"
                per[t] = (frames[t], frames[t + 1], ff, valid if valid.is_file() else None)
            steps.append((vdir.name, per))
        self._steps = dict(steps)
        self._pairs: list[tuple[str, int, int]] = []
        for gap in range(1, max_gap + 1):
            for video, per in steps:
                for t in sorted(per):
                    if all(t + k in per for k in range(gap)):
                        self._pairs.append((video, t, gap))

    def __len__(self) -> int:
        return len(self._pairs)

    def _step(self, video: str, t: int) -> tuple[np.ndarray, np.ndarray]:
        _, _, ff, fv = self._steps[video][t]
        flow = read_flow(ff)
        valid = read_flow_valid(fv) if fv is not None else np.ones(flow.shape[:2], dtype=bool)
        return flow, valid

    def __getitem__(self, i: int) -> FlowSample:
        video, t, gap = self._pairs[i]
        return self.pair(video, t, gap)

    def has_pair(self, video: str, t: int, gap: int) -> bool:
        """Whether video ``video`` (folder name) has flows for frames ``t .. t + gap``."""
        per = self._steps.get(video)
        return per is not None and gap >= 1 and all(t + k in per for k in range(gap))

    def pair(self, video: str, t: int, gap: int) -> FlowSample:
        """Frames ``t`` and ``t + gap`` of video ``video`` (folder name) and the flow between
        them (chained), whatever ``max_gap`` is.

        Raises:
            KeyError: no such video or no flow for those frames (:meth:`has_pair`).
        """
        if not self.has_pair(video, t, gap):
            raise KeyError(f"no flow for frames {t}..{t + gap} of video {video!r}")
        flow, valid = self._step(video, t)
        for k in range(1, gap):
            f, v = self._step(video, t + k)
            flow, valid = compose_flow(flow, f, valid, v)
        f0 = self._steps[video][t][0]
        f1 = self._steps[video][t + gap - 1][1]
        return FlowSample(video, t, read_image(f0), read_image(f1), flow, valid, gap)

    def __iter__(self) -> Iterator[FlowSample]:
        for i in range(len(self)):
            yield self[i]
