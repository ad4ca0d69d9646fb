"""Result propagation: warp a keyframe's instance masks to the current frame with the flow.

Our addition to YolactEdge's non-keyframe path (``--propagate``). Warping *features* is
limited by the features themselves: strided convolutions are not shift-equivariant, so even
the exact flow leaves most of a warped P4/P5/prototype map's error (``edgevision video
--warp-error``). Masks are images, and warping an image with an accurate flow moves it
exactly. On a non-keyframe the session then runs only the backbone to C3 and FeatFlowNet,
and warps the keyframe's final :class:`~edgevision.results.InstanceMasks`: the head,
ProtoNet, the FPN and NMS are skipped.

The flow is FeatFlowNet's stride-8 flow from the current frame to the keyframe (backward
flow: for every current pixel, where it was in the keyframe), so a mask is resampled as
``cur(x) = key(x + flow(x))``, or (``rigid=True``, what the session uses) every mask is
moved by one translation, the median flow under it: the stride-8 flow is smooth across
object boundaries, and a per-pixel warp bends the mask's edge with the background's
motion. Boxes are the warped masks' bounding boxes (a mask that left
the image keeps its box shifted by the mean flow under it); scores and classes are the
keyframe's. numpy + OpenCV only (the runtime imports no torch).
"""

from __future__ import annotations

import numpy as np

from edgevision.postprocess.letterbox import map_to_original
from edgevision.preprocess import Transform
from edgevision.results import InstanceMasks

__all__ = ["flow_to_original", "propagate_instances", "splat_instances"]


def flow_to_original(flow: np.ndarray, t: Transform, stride: int = 8) -> np.ndarray:
    """``(2, h, w)`` flow at ``stride`` of the network input -> ``(H, W, 2)`` float32 flow in
    the original image's pixels (``dx, dy``)."""
    f = np.ascontiguousarray(np.asarray(flow, np.float32).transpose(1, 2, 0)) * float(stride)
    fo = np.asarray(map_to_original(f, t), np.float32).reshape(*t.orig_size, 2)
    fo[..., 0] /= float(t.scale[1])
    fo[..., 1] /= float(t.scale[0])
    return fo


def _moved(key: InstanceMasks, boxes: np.ndarray, masks: np.ndarray) -> InstanceMasks:
    """``key``'s detections (scores, classes) with new boxes and masks."""
    return InstanceMasks(
        boxes,
        np.asarray(key.scores).copy(),
        np.asarray(key.class_ids).copy(),
        list(key.class_names),
        key.image_size,
        masks=masks,
    )


def propagate_instances(
    key: InstanceMasks, flow: np.ndarray, *, rigid: bool = False
) -> InstanceMasks:
    """Warp ``key`` (masks in original pixels) with ``flow`` (``(H, W, 2)``, current ->
    keyframe, original pixels; :func:`flow_to_original`).

    Each mask is resampled only inside its box grown by the largest flow under it, so the
    cost follows the objects' area, not the image's. ``rigid``: one translation per mask
    (the median flow under it) instead of the per-pixel flow.
    """
    import cv2

    h, w = key.image_size
    if flow.shape[:2] != (h, w):
        raise ValueError(f"flow is {flow.shape[:2]}, the keyframe result is {(h, w)}")
    n = len(key)
    if n == 0:
        return key
    masks = np.zeros((n, h, w), dtype=bool)
    boxes = np.asarray(key.boxes, np.float32).copy()
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        # destination window: where the object can be now (its box, grown by the motion)
        bx0, by0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        bx1, by1 = min(int(np.ceil(x1)) + 1, w), min(int(np.ceil(y1)) + 1, h)
        if bx1 <= bx0 or by1 <= by0:
            continue
        m = float(np.abs(flow[by0:by1, bx0:bx1]).max(initial=0.0)) + 2.0
        gx0, gy0 = max(int(bx0 - m), 0), max(int(by0 - m), 0)
        gx1, gy1 = min(int(bx1 + m), w), min(int(by1 + m), h)
        f = flow[gy0:gy1, gx0:gx1]
        if rigid:  # one translation per object: the median flow under its mask
            inside = key.masks[i, gy0:gy1, gx0:gx1]
            if inside.any():
                d = np.median(f[inside], axis=0)
                f = np.broadcast_to(d.astype(np.float32), f.shape)
        ys, xs = np.mgrid[gy0:gy1, gx0:gx1].astype(np.float32)
        src = key.masks[i].astype(np.uint8) * 255
        warped = cv2.remap(
            src,
            xs + f[..., 0],
            ys + f[..., 1],
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        masks[i, gy0:gy1, gx0:gx1] = warped >= 128
        yy, xx = np.nonzero(masks[i, gy0:gy1, gx0:gx1])
        if len(xx):
            boxes[i] = (gx0 + xx.min(), gy0 + yy.min(), gx0 + xx.max() + 1, gy0 + yy.max() + 1)
        else:  # left the image (or vanished): move the box with the motion under it
            d = flow[by0:by1, bx0:bx1].reshape(-1, 2).mean(0)
            boxes[i] -= np.array([d[0], d[1], d[0], d[1]], np.float32)
    return _moved(key, boxes, masks)


def splat_instances(key: InstanceMasks, flow: np.ndarray, *, close: int = 3) -> InstanceMasks:
    """Move ``key``'s masks with a *forward* flow (``(H, W, 2)``, keyframe -> current frame):
    every mask pixel goes to its rounded new position, then a ``close``×``close`` closing
    fills the holes splatting leaves. Boxes are the moved masks' boxes; scores and classes
    the keyframe's. The oracle of :func:`~edgevision.video.evaluate.exact_flow_propagation`
    (the synthetic generator writes forward flow).
    """
    import cv2

    h, w = key.image_size
    if flow.shape[:2] != (h, w):
        raise ValueError(f"flow is {flow.shape[:2]}, the keyframe result is {(h, w)}")
    masks = np.zeros((len(key), h, w), dtype=bool)
    boxes = np.asarray(key.boxes, np.float32).copy()
    kernel = np.ones((close, close), np.uint8) if close > 1 else None
    for i in range(len(key)):
        ys, xs = np.nonzero(key.masks[i])
        nx = np.rint(xs + flow[ys, xs, 0]).astype(np.int64)
        ny = np.rint(ys + flow[ys, xs, 1]).astype(np.int64)
        ok = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
        m: np.ndarray = np.zeros((h, w), np.uint8)
        m[ny[ok], nx[ok]] = 1
        if kernel is not None:
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
        masks[i] = m > 0
        yy, xx = np.nonzero(masks[i])
        if len(xx):
            boxes[i] = (xx.min(), yy.min(), xx.max() + 1, yy.max() + 1)
    return _moved(key, boxes, masks)
