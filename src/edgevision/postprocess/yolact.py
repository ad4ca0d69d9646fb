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
from edgevision.postprocess.letterbox import boxes_to_original, map_to_original
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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free


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
    m = _sigmoid(protos.reshape(h * w, -1) @ coeffs.T).reshape(h, w, -1)
    x1 = np.floor(boxes[:, 0] * w).astype(np.int64)
    x2 = np.ceil(boxes[:, 2] * w).astype(np.int64)
    y1 = np.floor(boxes[:, 1] * h).astype(np.int64)
    y2 = np.ceil(boxes[:, 3] * h).astype(np.int64)
    xs = np.arange(w)[:, None]
    ys = np.arange(h)[:, None]
    inside = ((ys >= y1) & (ys < y2))[:, None, :] & ((xs >= x1) & (xs < x2))[None, :, :]
    return (m * inside).astype(np.float32)


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
    if conf.ndim != 3 or conf.shape[2] != len(names) + 1 or loc.shape[:2] != conf.shape[:2]:
        raise ModelFileError(
            f"YOLACT scores must be (N, P, {len(names) + 1}) matching boxes (N, P, 4), got "
            f"{conf.shape} and {loc.shape}"
        )
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
        priors = make_priors(tuple(t.input_size), scales, ratios)
        if len(priors) != loc.shape[1]:
            raise ModelFileError(
                f"YOLACT output has {loc.shape[1]} priors; input {t.input_size} gives {len(priors)}"
            )
        sc = conf[b, :, 1:]
        cls = sc.argmax(1)
        best = sc[np.arange(len(sc)), cls]
        idx = np.flatnonzero(best >= conf_threshold)
        ih, iw = t.input_size
        oh, ow = t.orig_size
        if len(idx) == 0:
            res_cls = InstanceMasks if want_masks else Detections
            results.append(res_cls.empty(names, (oh, ow)))
            continue
        boxes_n = decode_boxes(loc[b, idx], priors[idx])
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
        if not want_masks:
            results.append(Detections(boxes, scores, classes, names, (oh, ow)))
            continue
        assert coef is not None and protos is not None
        prob = assemble_masks(protos[b], coef[b, kept], bn)
        full = map_to_original(prob, t)
        if full.ndim == 2:
            full = full[:, :, None]
        mk = np.ascontiguousarray((full > mask_threshold).transpose(2, 0, 1))
        # crop again at the output size (the prototype grid is 4x coarser than the input)
        xs, ys = np.arange(ow, dtype=np.float32) + 0.5, np.arange(oh, dtype=np.float32) + 0.5
        inx = (xs[None] >= boxes[:, 0:1]) & (xs[None] <= boxes[:, 2:3])
        iny = (ys[None] >= boxes[:, 1:2]) & (ys[None] <= boxes[:, 3:4])
        mk &= iny[:, :, None] & inx[:, None, :]
        results.append(InstanceMasks(boxes, scores, classes, names, (oh, ow), masks=mk))
    return results
