"""YOLACT outputs -> :class:`InstanceMasks` (or :class:`Detections`) in numpy; no torch.

The ``yolact_*`` models export four tensors (see ``YolactExport``):

* ``boxes``  ``(N, P, 4)`` float32 SSD deltas ``(dx, dy, dw, dh)`` per prior;
* ``scores`` ``(N, P, C + 1)`` float32 softmax, column 0 = background;
* ``coeffs`` ``(N, P, k)`` float32 mask coefficients in −1…1 (tanh);
* ``protos`` ``(N, H/4, W/4, k)`` float32 prototypes (ReLU), absent in detection-only files.

Priors are recomputed here from the input size and ``spec.model_kwargs`` (``anchor_scales`` in
input pixels, as in YOLACT, so anchors keep their size relative to the strides at any input
size; ``aspect_ratios``), ordered level (P3 … P7), row, column, aspect ratio, exactly as the head
emits them, as normalised ``cx, cy, w, h``. Post-processing follows YOLACT: score threshold,
top-k, Fast NMS per class (:func:`~edgevision.postprocess.nms.fast_nms`), mask assembly
``sigmoid(protos @ coeffs.T)``, crop to the box, resize to the original image, threshold 0.5, crop again at that size.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.postprocess.letterbox import boxes_to_original, content_region
from edgevision.postprocess.nms import fast_nms
from edgevision.results import Detections, InstanceMasks

__all__ = [
    "DEFAULT_ASPECT_RATIOS",
    "DEFAULT_SCALES",
    "STRIDES",
    "assemble_masks",
    "decode_boxes",
    "level_sizes",
    "make_priors",
    "masks_at_original",
    "yolact_detect",
    "yolact_postprocess",
]

STRIDES: tuple[int, ...] = (8, 16, 32, 64, 128)
"""Strides of P3 … P7 in input pixels."""

DEFAULT_SCALES: tuple[float, ...] = (24.0, 48.0, 96.0, 192.0, 384.0)
"""YOLACT's anchor sizes in input pixels, one per level P3 … P7 (3 × the stride)."""

DEFAULT_ASPECT_RATIOS: tuple[float, ...] = (1.0, 0.5, 2.0)
"""Anchor aspect ratios ``w / h``."""

VARIANCES: tuple[float, float] = (0.1, 0.2)


def level_sizes(input_size: Sequence[int], num_levels: int = 5) -> list[tuple[int, int]]:
    """``(h, w)`` of P3 … P7 for an input ``(H, W)``: each stride-2 conv rounds up."""
    h, w = int(input_size[0]), int(input_size[1])
    out = []
    for i in range(2 + num_levels):
        h, w = (h + 1) // 2, (w + 1) // 2
        if i >= 2:
            out.append((h, w))
    return out


@lru_cache(maxsize=16)
def make_priors(
    input_size: tuple[int, int],
    scales: tuple[float, ...] = DEFAULT_SCALES,
    aspect_ratios: tuple[float, ...] = DEFAULT_ASPECT_RATIOS,
) -> np.ndarray:
    """Anchor boxes of every head position (cached per input size).

    Returns:
        ``(P, 4)`` float32 normalised ``cx, cy, w, h`` (0–1 of the input), in head order:
        level, row, column, aspect ratio.
    """
    out = []
    for (h, w), s in zip(level_sizes(input_size, len(scales)), scales):
        yy, xx = np.meshgrid(
            np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
        )
        cx = ((xx + 0.5) / w).reshape(-1, 1)
        cy = ((yy + 0.5) / h).reshape(-1, 1)
        ar = np.sqrt(np.asarray(aspect_ratios, np.float32))[None, :]
        bw = np.broadcast_to(s * ar / input_size[1], (h * w, len(aspect_ratios)))
        bh = np.broadcast_to(s / ar / input_size[0], (h * w, len(aspect_ratios)))
        cxs = np.broadcast_to(cx, bw.shape)
        cys = np.broadcast_to(cy, bw.shape)
        out.append(np.stack([cxs, cys, bw, bh], -1).reshape(-1, 4))
    pri = np.concatenate(out).astype(np.float32)
    pri.setflags(write=False)
    return pri


def decode_boxes(deltas: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """SSD deltas ``(K, 4)`` + priors ``(K, 4)`` cxcywh -> ``(K, 4)`` float32 normalised xyxy."""
    xy = priors[:, :2] + deltas[:, :2] * VARIANCES[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(np.minimum(deltas[:, 2:] * VARIANCES[1], 10.0))
    return np.concatenate([xy - wh / 2, xy + wh / 2], 1).astype(np.float32)


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """``sigmoid(x) = (tanh(x / 2) + 1) / 2`` in place (overflow-free); returns ``x``."""
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def assemble_masks(protos: np.ndarray, coeffs: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """YOLACT mask assembly at prototype resolution.

    Args:
        protos: ``(h, w, k)`` float32 prototypes.
        coeffs: ``(K, k)`` float32 coefficients of the kept detections.
        boxes: ``(K, 4)`` normalised xyxy boxes (0–1 of the network input).

    Returns:
        ``(h, w, K)`` float32 mask probabilities in 0–1, zero outside each box.
    """
    h, w, _ = protos.shape
    m = _sigmoid_(protos.reshape(h * w, -1) @ coeffs.T).reshape(h, w, -1)
    x1 = np.floor(boxes[:, 0] * w).astype(np.int64)
    x2 = np.ceil(boxes[:, 2] * w).astype(np.int64)
    y1 = np.floor(boxes[:, 1] * h).astype(np.int64)
    y2 = np.ceil(boxes[:, 3] * h).astype(np.int64)
    xs = np.arange(w)[:, None]
    ys = np.arange(h)[:, None]
    inside = ((ys >= y1) & (ys < y2))[:, None, :] & ((xs >= x1) & (xs < x2))[None, :, :]
    return (m * inside).astype(np.float32)


def masks_at_original(
    protos: np.ndarray,
    coeffs: np.ndarray,
    boxes_n: np.ndarray,
    boxes: np.ndarray,
    t: Any,
    mask_threshold: float = 0.5,
) -> np.ndarray:
    """Binary masks at the original size, each computed only around its box.

    The same masks as :func:`assemble_masks` (linear combination, sigmoid, zero outside the
    box at prototype resolution), resized to the original size over the content region
    like :func:`~edgevision.postprocess.letterbox.map_to_original`, thresholded and cropped
    to the box in original pixels — but per detection, on the prototype pixels its box
    needs and the output pixels inside it: the work is proportional to the boxes' area,
    not ``K x H x W``. The products run in ``np.einsum`` (no BLAS), so no BLAS thread pool
    wakes up to spin against the inference engine's threads.

    Args:
        protos: ``(h, w, k)`` float32 prototypes (resolution proportional to the input).
        coeffs: ``(K, k)`` coefficients of the kept detections.
        boxes_n: ``(K, 4)`` normalised xyxy boxes (0–1 of the network input).
        boxes: ``(K, 4)`` the same boxes in original pixels.
        t: the image's :class:`~edgevision.preprocess.Transform`.
        mask_threshold: probability above which a pixel is on.

    Returns:
        ``(K, H, W)`` bool masks, ``False`` outside each box.
    """
    import cv2

    h, w, _ = protos.shape
    k = len(coeffs)
    oh, ow = t.orig_size
    out = np.zeros((k, oh, ow), bool)
    cy0, cy1, cx0, cx1 = content_region((h, w), t)
    sy, sx = (cy1 - cy0) / oh, (cx1 - cx0) / ow  # source pixels per output pixel
    # the box at prototype resolution (as assemble_masks), in content-crop coordinates
    bx0 = np.floor(boxes_n[:, 0] * w).astype(np.int64) - cx0
    bx1 = np.ceil(boxes_n[:, 2] * w).astype(np.int64) - cx0
    by0 = np.floor(boxes_n[:, 1] * h).astype(np.int64) - cy0
    by1 = np.ceil(boxes_n[:, 3] * h).astype(np.int64) - cy0
    # output pixels whose centre (i + 0.5) lies inside the box, as in the box crop
    px0 = np.clip(np.ceil(boxes[:, 0] - 0.5), 0, ow).astype(np.int64)
    px1 = np.clip(np.floor(boxes[:, 2] - 0.5) + 1, 0, ow).astype(np.int64)
    py0 = np.clip(np.ceil(boxes[:, 1] - 0.5), 0, oh).astype(np.int64)
    py1 = np.clip(np.floor(boxes[:, 3] - 0.5) + 1, 0, oh).astype(np.int64)
    crop = protos[cy0:cy1, cx0:cx1]
    ch, cw = crop.shape[:2]
    coeffs = np.asarray(coeffs, np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    # source pixels read by output pixels lo..hi-1 (bilinear; margin for the 1/32-pixel
    # coordinate grid of warpAffine), clipped to the crop: all detections at once
    rx0 = np.maximum(np.floor((px0 + 0.5) * sx - 0.5).astype(np.int64) - 1, 0)
    rx1 = np.minimum(np.floor((px1 - 0.5) * sx - 0.5).astype(np.int64) + 3, cw)
    ry0 = np.maximum(np.floor((py0 + 0.5) * sy - 0.5).astype(np.int64) - 1, 0)
    ry1 = np.minimum(np.floor((py1 - 0.5) * sy - 0.5).astype(np.int64) + 3, ch)
    # prototype pixels of that region inside the box; the rest stays 0 (assemble_masks)
    ix0, ix1 = np.maximum(rx0, bx0), np.minimum(rx1, bx1)
    iy0, iy1 = np.maximum(ry0, by0), np.minimum(ry1, by1)
    ok = (px1 > px0) & (py1 > py0) & (ix1 > ix0) & (iy1 > iy0)
    # output pixel (a + u, c + v) samples the crop at ((a + u + 0.5) * sx - 0.5 - rx0, ...)
    tx = (px0 + 0.5) * sx - 0.5 - rx0
    ty = (py0 + 0.5) * sy - 0.5 - ry0
    cols = (px0, px1, py0, py1, rx0, rx1, ry0, ry1, ix0, ix1, iy0, iy1, tx, ty)
    rows = zip(np.flatnonzero(ok).tolist(), *(v[ok].tolist() for v in cols))
    for i, a, b, c, d, x0, x1, y0, y1, jx0, jx1, jy0, jy1, ox, oy in rows:
        e = _sigmoid_(np.einsum("hwk,k->hw", crop[jy0:jy1, jx0:jx1], coeffs[i], optimize=False))
        if (jx0, jx1, jy0, jy1) == (x0, x1, y0, y1):
            src = e
        else:
            src = np.zeros((y1 - y0, x1 - x0), np.float32)
            src[jy0 - y0 : jy1 - y0, jx0 - x0 : jx1 - x0] = e
        m = np.array([[sx, 0.0, ox], [0.0, sy, oy]], np.float64)
        roi = cv2.warpAffine(src, m, (b - a, d - c), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        out[i, c:d, a:b] = roi > mask_threshold
    return out


def _model_params(spec: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    kw = getattr(spec, "model_kwargs", None) or {}
    try:
        scales = tuple(float(v) for v in (kw.get("anchor_scales") or DEFAULT_SCALES))
        ratios = tuple(float(v) for v in (kw.get("aspect_ratios") or DEFAULT_ASPECT_RATIOS))
    except (TypeError, ValueError):
        raise ModelFileError("model metadata: malformed anchor_scales / aspect_ratios") from None
    if len(scales) != len(STRIDES) or not ratios:
        raise ModelFileError(
            f"model metadata: need {len(STRIDES)} anchor_scales and >= 1 aspect ratio, "
            f"got {scales}, {ratios}"
        )
    return scales, ratios


def _top_k_per_class(idx: np.ndarray, score: np.ndarray, cls: np.ndarray, top_k: int) -> np.ndarray:
    """The candidates Fast NMS would look at: per class the ``top_k`` best of ``idx`` (by
    score, ties by index, as :func:`~edgevision.postprocess.nms.fast_nms` ranks them), so
    that only those are decoded and sorted. Returned in the order of ``idx`` (increasing
    as the caller's ``flatnonzero`` gives it)."""
    if top_k <= 0 or len(idx) <= top_k:
        return idx
    c = cls[idx]
    over = np.flatnonzero(np.bincount(c) > top_k)  # only these classes lose candidates
    if len(over) == 0:
        return idx
    keep = np.ones(len(idx), bool)
    for k in over.tolist():
        pos = np.flatnonzero(c == k)  # one class, in index order
        sg = score[idx[pos]]
        kth = np.partition(sg, len(sg) - top_k)[len(sg) - top_k]  # top_k-th best score
        sel = sg > kth
        sel[np.flatnonzero(sg == kth)[: top_k - int(sel.sum())]] = True  # ties: lowest index
        keep[pos[~sel]] = False
    return idx[keep]


def _check_outputs(loc: np.ndarray, conf: np.ndarray, names: list[str]) -> None:
    """Raise :class:`ModelFileError` unless ``conf`` is ``(N, P, C + 1)`` matching ``loc``."""
    if conf.ndim != 3 or conf.shape[2] != len(names) + 1 or loc.shape[:2] != conf.shape[:2]:
        raise ModelFileError(
            f"YOLACT scores must be (N, P, {len(names) + 1}) matching boxes (N, P, 4), got "
            f"{conf.shape} and {loc.shape}"
        )


def yolact_postprocess(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Any],
    *,
    conf_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    top_k: int = 200,
    max_det: int = 100,
    mask_threshold: float = 0.5,
    masks: bool = True,
) -> list[Detections]:
    """Engine outputs of a batch -> one :class:`InstanceMasks` per image (original pixels).

    Args:
        outputs: ``[boxes, scores, coeffs, protos]`` (or the first two/three for a
            detection-only file), see the module docstring.
        spec: the model's :class:`~edgevision.config.ModelSpec` (classes, anchors).
        transforms: one :class:`~edgevision.preprocess.Transform` per image.
        conf_threshold: keep candidates whose best class score is ``>=`` this (0–1).
        iou_threshold: Fast NMS IoU threshold (0–1), per class.
        top_k: candidates per class entering Fast NMS.
        max_det: most detections per image.
        mask_threshold: probability above which a mask pixel is on.
        masks: ``False`` = detection-only: return :class:`Detections` and skip mask work.

    Returns:
        ``InstanceMasks`` (``masks (K, H, W)`` bool at the original size) or ``Detections``,
        boxes ``(K, 4)`` float32 xyxy original pixels, by decreasing score.

    Raises:
        ModelFileError: outputs inconsistent with the spec or the input size.
    """
    if len(outputs) < 2:
        raise ModelFileError(f"YOLACT needs at least boxes and scores outputs, got {len(outputs)}")
    loc, conf = np.asarray(outputs[0]), np.asarray(outputs[1])
    names = list(spec.class_names)
    _check_outputs(loc, conf, names)
    want_masks = masks and len(outputs) >= 4
    if masks and not want_masks:
        raise ModelFileError(
            "this YOLACT file has no prototypes (detection-only); pass masks=False"
        )
    coef = np.asarray(outputs[2]) if want_masks else None
    protos = np.asarray(outputs[3]) if want_masks else None
    scales, ratios = _model_params(spec)
    results: list[Detections] = []
    for b, t in enumerate(transforms):
        kept, bn, det = _detect_image(
            loc[b], conf[b], names, t, scales, ratios, conf_threshold, iou_threshold, top_k,
            max_det,
        )  # fmt: skip
        if not want_masks:
            results.append(det)
            continue
        assert coef is not None and protos is not None
        oh, ow = t.orig_size
        if len(kept) == 0:
            results.append(InstanceMasks.empty(names, (oh, ow)))
            continue
        mk = masks_at_original(protos[b], coef[b, kept], bn, det.boxes, t, mask_threshold)
        results.append(
            InstanceMasks(det.boxes, det.scores, det.class_ids, names, (oh, ow), masks=mk)
        )
    return results


def _detect_image(
    loc: np.ndarray,
    conf: np.ndarray,
    names: list[str],
    t: Any,
    scales: tuple[float, ...],
    ratios: tuple[float, ...],
    conf_threshold: float,
    iou_threshold: float,
    top_k: int,
    max_det: int,
) -> tuple[np.ndarray, np.ndarray, Detections]:
    """One image's kept prior indices ``(K,)``, their normalised xyxy boxes ``(K, 4)`` and
    the :class:`Detections` (original pixels), from ``loc (P, 4)`` and ``conf (P, C + 1)``."""
    priors = make_priors(tuple(t.input_size), scales, ratios)
    if len(priors) != loc.shape[0]:
        raise ModelFileError(
            f"YOLACT output has {loc.shape[0]} priors; input {t.input_size} gives {len(priors)}"
        )
    sc = conf[:, 1:]
    cls = sc.argmax(1)
    best = sc[np.arange(len(sc)), cls]
    idx = _top_k_per_class(np.flatnonzero(best >= conf_threshold), best, cls, top_k)
    ih, iw = t.input_size
    oh, ow = t.orig_size
    if len(idx) == 0:
        return (
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.float32),
            Detections.empty(names, (oh, ow)),
        )
    boxes_n = decode_boxes(loc[idx], priors[idx])
    keep = fast_nms(
        boxes_n * np.array([iw, ih, iw, ih], np.float32),
        best[idx],
        cls[idx],
        iou_threshold,
        top_k=top_k,
        max_det=max_det,
    )
    kept = idx[keep]
    bn = boxes_n[keep].clip(0.0, 1.0)
    boxes = boxes_to_original(bn * np.array([iw, ih, iw, ih], np.float32), t)
    scores, classes = best[kept].astype(np.float32), cls[kept].astype(np.int64)
    return kept, bn, Detections(boxes, scores, classes, names, (oh, ow))


def yolact_detect(
    outputs: Sequence[np.ndarray],
    spec: Any,
    t: Any,
    *,
    conf_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    top_k: int = 200,
    max_det: int = 100,
) -> tuple[Detections, np.ndarray]:
    """The detector part of YOLACT's postprocessing for one image, keeping the mask
    coefficients: what a re-detection pass without ProtoNet gives
    (:mod:`edgevision.video.redetect`).

    Args:
        outputs: ``[boxes, scores, coeffs]`` of a batch of one (see the module docstring).
        spec: the model's :class:`~edgevision.config.ModelSpec`.
        t: the image's :class:`~edgevision.preprocess.Transform`.
        conf_threshold, iou_threshold, top_k, max_det: as :func:`yolact_postprocess`.

    Returns:
        ``(Detections in original pixels by decreasing score, (K, k) float32 coefficients)``.

    Raises:
        ModelFileError: outputs inconsistent with the spec or the input size.
    """
    if len(outputs) < 3:
        raise ModelFileError(f"re-detection needs boxes, scores and coeffs, got {len(outputs)}")
    loc, conf, coef = (np.asarray(o) for o in outputs[:3])
    names = list(spec.class_names)
    _check_outputs(loc, conf, names)
    scales, ratios = _model_params(spec)
    kept, _, det = _detect_image(
        loc[0], conf[0], names, t, scales, ratios, conf_threshold, iou_threshold, top_k, max_det
    )
    return det, coef[0, kept].astype(np.float32)
