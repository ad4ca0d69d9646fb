"""Image -> network input, driven entirely by :class:`ModelSpec` (numpy + OpenCV, no torch).

``preprocess`` resizes (stretch or letterbox), reorders channels, normalises with the spec's
mean/std and returns an ``(N, 3, H, W)`` float32 batch plus one :class:`Transform` per image,
which :mod:`edgevision.postprocess` uses to map outputs back to the original pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgevision.config import ModelSpec


@dataclass(frozen=True)
class Transform:
    """How one original image maps onto the network input.

    ``input = original * scale + pad`` per axis, in pixels.

    Attributes:
        orig_size: ``(H, W)`` of the original image.
        input_size: ``(H, W)`` of the network input.
        scale: ``(sy, sx)`` resize factors.
        pad: ``(top, left)`` padding in input pixels (letterbox; 0 for stretch).
    """

    orig_size: tuple[int, int]
    input_size: tuple[int, int]
    scale: tuple[float, float]
    pad: tuple[int, int]

    @property
    def content_box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)`` of the image content inside the network input."""
        top, left = self.pad
        h = int(round(self.orig_size[0] * self.scale[0]))
        w = int(round(self.orig_size[1] * self.scale[1]))
        return top, left, min(top + h, self.input_size[0]), min(left + w, self.input_size[1])


def resize_image(
    image: np.ndarray, input_size: tuple[int, int], mode: str, pad_value: int = 114
) -> tuple[np.ndarray, Transform]:
    """Resize ``image`` (HWC uint8) to ``input_size`` by ``"stretch"`` or ``"letterbox"``."""
    import cv2

    ih, iw = image.shape[:2]
    th, tw = input_size
    if mode == "stretch":
        out = (
            image
            if (ih, iw) == (th, tw)
            else cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
        )
        return out, Transform((ih, iw), (th, tw), (th / ih, tw / iw), (0, 0))
    if mode != "letterbox":
        raise ValueError(f"unknown resize mode {mode!r}")
    r = min(th / ih, tw / iw)
    nh, nw = int(round(ih * r)), int(round(iw * r))
    resized = (
        image
        if (nh, nw) == (ih, iw)
        else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    )
    top, left = (th - nh) // 2, (tw - nw) // 2
    out = np.full((th, tw, image.shape[2]), pad_value, dtype=image.dtype)
    out[top : top + nh, left : left + nw] = resized
    return out, Transform((ih, iw), (th, tw), (nh / ih, nw / iw), (top, left))


@lru_cache(maxsize=16)
def _normalise_lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(3, 1, 256)`` float32 tables: ``lut[c, 0, v] == (v - mean[c]) * (1 / std[c])``.

    Normalising through a table (``cv2.split`` into planes, then ``cv2.LUT`` straight into the
    NCHW output) is one lookup per pixel instead of a float conversion, a subtraction, a
    multiplication and a transposed strided copy: about 6× less time for a 320×320 letterbox
    on the 2-core CPU (timed alternately in one process against the direct formula), with
    bit-identical results because the table holds that same float32 arithmetic.
    """
    values = np.arange(256, dtype=np.float32)[None, :]
    mean_a = np.asarray(mean, dtype=np.float32)[:, None]
    inv_std = 1.0 / np.asarray(std, dtype=np.float32)[:, None]
    lut = np.ascontiguousarray(((values - mean_a) * inv_std).astype(np.float32)[:, None, :])
    lut.setflags(write=False)
    return lut


def preprocess(
    images: np.ndarray | Sequence[np.ndarray],
    spec: ModelSpec,
    input_size: tuple[int, int] | None = None,
    *,
    bgr: bool = False,
) -> tuple[np.ndarray, list[Transform]]:
    """Prepare one image or a list of images for the network.

    Args:
        images: ``(H, W, 3)`` uint8 **RGB** 0–255, or a sequence of them (sizes may differ).
        spec: model metadata (resize mode, colour order, mean/std in 0–255 scale).
        input_size: ``(H, W)`` override of ``spec.input_size``.
        bgr: the images are **BGR** (``cv2.imread``, OpenCV video frames); the channels are
            reordered inside the normalisation lookup, at no extra cost.

    Returns:
        ``(N, 3, H, W)`` float32 normalised batch and one :class:`Transform` per image.
    """
    import cv2

    batch = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
    size = tuple(input_size or spec.input_size)
    lut = _normalise_lut(tuple(map(float, spec.mean)), tuple(map(float, spec.std)))
    src = (2, 1, 0) if (spec.color_order == "BGR") != bgr else (0, 1, 2)
    out = np.empty((len(batch), 3, size[0], size[1]), dtype=np.float32)
    transforms = []
    for i, img in enumerate(batch):
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            hint = " (a path: read it first, or use edgevision.load(...).predict(path))"
            raise ValueError(
                f"image must be HxWx3 uint8 {'BGR' if bgr else 'RGB'}, got shape {img.shape} "
                f"dtype {img.dtype}{hint if img.dtype.kind in 'US' else ''}"
            )
        resized, t = resize_image(img, size, spec.resize, spec.pad_value)  # type: ignore[arg-type]
        planes = cv2.split(np.ascontiguousarray(resized))
        for c in range(3):  # network channel c comes from image channel src[c]
            dst = out[i, c]
            res = cv2.LUT(planes[src[c]], lut[c], dst=dst)
            if res is not dst and not np.shares_memory(res, dst):
                dst[...] = res  # OpenCV allocated instead of writing in place
        transforms.append(t)
    return out, transforms
