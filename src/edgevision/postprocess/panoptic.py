"""Panoptic fusion in numpy: semantic logits + object centres + offsets ->
:class:`~edgevision.results.PanopticMask` at original size.

The light EfficientPS (:mod:`edgevision.models.panoptic.efficientps`) predicts, at 1/4 of
the input, class logits, a centre heatmap (0–1) and for every pixel the offset ``(dy, dx)``
(in output pixels) to the centre of its object. Fusion: the class of a pixel is the argmax;
centres are the local maxima (3×3) of the heatmap above a threshold (at most ``top_k``; a
plateau of tied maxima is one centre);
each pixel of a thing class joins the centre nearest to where its offset points, and the
object's class is the majority class of its pixels; each stuff class present is one
segment. Thing pixels with no centre are void.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.postprocess.letterbox import map_to_original
from edgevision.preprocess import Transform
from edgevision.results import PanopticMask

__all__ = ["find_centres", "fuse_panoptic", "panoptic_fusion", "thing_ids"]


def thing_ids(spec: Any) -> list[int]:
    """Class ids of the spec's thing classes (``spec.model_kwargs["thing_classes"]``, names).

    Raises:
        ModelFileError: the metadata names a thing class the model does not have.
    """
    names = [str(c) for c in spec.class_names]
    things = [str(c) for c in spec.model_kwargs.get("thing_classes", ())]
    missing = [t for t in things if t not in names]
    if missing:
        raise ModelFileError(f"thing classes {missing} are not classes of the model {names}")
    return [names.index(t) for t in things]


def find_centres(heatmap: np.ndarray, *, threshold: float, top_k: int) -> np.ndarray:
    """Local maxima (3×3) of a ``(h, w)`` heatmap above ``threshold``, highest first:
    ``(K, 2)`` int64 ``(y, x)``, ``K <= top_k``.

    A plateau (8-connected pixels of one equal value, each a 3×3 maximum) is one centre: its
    pixel nearest the plateau's mean position. Quantized heads (INT8 activations) produce
    such ties often; counting every tied pixel as a centre would split one object in pieces.
    """
    import cv2

    hm = np.ascontiguousarray(heatmap, dtype=np.float32)
    peak = (hm == cv2.dilate(hm, np.ones((3, 3), np.uint8))) & (hm > threshold)
    n, labels, _, centroids = cv2.connectedComponentsWithStats(
        peak.astype(np.uint8), connectivity=8
    )
    ys, xs = np.nonzero(peak)
    lab = labels[ys, xs]
    d2 = (ys - centroids[lab, 1]) ** 2 + (xs - centroids[lab, 0]) ** 2
    first = np.lexsort((d2, lab))  # per plateau, its member nearest the mean comes first
    keep = first[np.r_[True, lab[first][1:] != lab[first][:-1]]] if len(first) else first
    ys, xs = ys[keep], xs[keep]
    order = np.argsort(-hm[ys, xs], kind="stable")[:top_k]
    return np.stack([ys[order], xs[order]], axis=1).astype(np.int64)


def fuse_panoptic(
    sem: np.ndarray,
    heatmap: np.ndarray,
    offset: np.ndarray,
    things: Sequence[int],
    *,
    threshold: float = 0.1,
    top_k: int = 100,
    min_area: int = 0,
) -> tuple[np.ndarray, list[int], list[bool]]:
    """One image's segments at the network's output resolution.

    Args:
        sem: ``(h, w)`` int class per pixel.
        heatmap: ``(h, w)`` float centre heatmap, 0–1.
        offset: ``(2, h, w)`` float ``(dy, dx)`` from each pixel to its object centre.
        things: thing class ids.
        threshold: least heatmap value of a centre.
        top_k: most centres.
        min_area: segments with fewer pixels become void.

    Returns:
        ``(segment_map (h, w) int32, classes, is_thing)``: segment ``i`` has id ``i + 1``.
    """
    h, w = sem.shape
    seg = np.zeros((h, w), dtype=np.int32)
    classes: list[int] = []
    is_thing: list[bool] = []
    thing_px = np.isin(sem, np.asarray(things, dtype=np.int64))

    def add(mask: np.ndarray, cls: int, thing: bool) -> None:
        if mask.sum() > max(min_area, 0):
            classes.append(cls)
            is_thing.append(thing)
            seg[mask] = len(classes)

    for c in np.unique(sem[~thing_px]):
        add((sem == c) & ~thing_px, int(c), False)
    centres = find_centres(heatmap, threshold=threshold, top_k=top_k)
    ys, xs = np.nonzero(thing_px)
    if len(centres) and len(ys):
        ty = ys + offset[0, ys, xs]
        tx = xs + offset[1, ys, xs]
        d2 = (ty[:, None] - centres[None, :, 0]) ** 2 + (tx[:, None] - centres[None, :, 1]) ** 2
        owner = d2.argmin(axis=1)
        for k in range(len(centres)):
            sel = owner == k
            if not sel.any():
                continue
            votes = np.bincount(sem[ys[sel], xs[sel]])
            mask = np.zeros((h, w), dtype=bool)
            mask[ys[sel], xs[sel]] = True
            add(mask, int(votes.argmax()), True)
    return seg, classes, is_thing


def panoptic_fusion(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Transform],
    *,
    center_threshold: float = 0.1,
    top_k: int = 100,
    min_area: int = 0,
) -> list[PanopticMask]:
    """Panoptic segments from the engine outputs ``(logits, center, offset)``.

    Args:
        outputs: ``logits (N, C, h, w)``, ``center (N, 1, h, w)`` in 0–1 and ``offset
            (N, 2, h, w)`` ``(dy, dx)`` in output pixels, all at one resolution.
        spec: model spec (class names, ``model_kwargs["thing_classes"]``, ignore index).
        transforms: one per image, from :func:`edgevision.preprocess.preprocess`.
        center_threshold: least centre heatmap value of an object, 0–1.
        top_k: most objects per image.
        min_area: segments of at most this many output pixels become void.

    Returns:
        One :class:`PanopticMask` per image, at its original size.
    """
    if len(outputs) < 3:
        raise ModelFileError(
            f"panoptic model must output (logits, center, offset), got {len(outputs)} outputs"
        )
    logits, center, offset = (np.asarray(o) for o in outputs[:3])
    if logits.ndim != 4 or center.shape[1:2] != (1,) or offset.shape[1:2] != (2,):
        raise ModelFileError(
            f"panoptic outputs must be (N, C, h, w), (N, 1, h, w), (N, 2, h, w); got "
            f"{logits.shape}, {center.shape}, {offset.shape}"
        )
    things = thing_ids(spec)
    out = []
    for i, t in enumerate(transforms):
        sem = logits[i].argmax(axis=0)
        seg, classes, is_thing = fuse_panoptic(
            sem, center[i, 0], offset[i], things,
            threshold=center_threshold, top_k=top_k, min_area=min_area,
        )  # fmt: skip
        full = map_to_original(seg, t, nearest=True)
        out.append(
            PanopticMask.from_segments(
                full,
                np.arange(1, len(classes) + 1),
                classes,
                is_thing,
                spec.class_names,
                ignore_index=spec.ignore_index,
            )
        )
    return out
