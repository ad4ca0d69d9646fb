"""Semantic segmentation postprocessing: logits -> :class:`SemanticMask` at original size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.postprocess.letterbox import map_to_original
from edgevision.preprocess import Transform
from edgevision.results import SemanticMask


def semantic_argmax(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Transform],
    *,
    with_confidence: bool = False,
) -> list[SemanticMask]:
    """Per-pixel argmax of ``(N, C, h, w)`` logits (first output), bilinearly resized to the
    original image first so boundaries are as sharp as the logits allow.

    Returns one :class:`SemanticMask` per image (``class_map`` int64 in ``[0, C)``,
    ``confidence`` = max softmax probability when ``with_confidence``).
    """
    logits = np.asarray(outputs[0])
    if logits.ndim != 4:
        raise ValueError(f"semantic model output must be (N, C, H, W), got {logits.shape}")
    results = []
    for i, t in enumerate(transforms):
        hwc = map_to_original(np.ascontiguousarray(logits[i].transpose(1, 2, 0)), t)
        if hwc.ndim == 2:
            hwc = hwc[..., None]
        cls = hwc.argmax(axis=2)
        conf = None
        if with_confidence:
            z = hwc - hwc.max(axis=2, keepdims=True)
            e = np.exp(z)
            conf = (1.0 / e.sum(axis=2)).astype(np.float32)
        results.append(SemanticMask(cls, spec.class_names, conf, ignore_index=spec.ignore_index))
    return results
