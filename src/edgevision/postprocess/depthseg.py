"""Joint depth + segmentation postprocessing: ``(logits, depth)`` ->
:class:`~edgevision.results.DepthSegMask` at original size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.postprocess.letterbox import map_to_original
from edgevision.postprocess.segmentation import semantic_argmax
from edgevision.preprocess import Transform
from edgevision.results import DepthSegMask

__all__ = ["depthseg"]


def depthseg(
    outputs: Sequence[np.ndarray],
    spec: Any,
    transforms: Sequence[Transform],
    *,
    upsample: str = "labels",
    with_confidence: bool = False,
) -> list[DepthSegMask]:
    """Classes (as :func:`~edgevision.postprocess.segmentation.semantic_argmax`) and depth
    (bilinear) at each image's original size.

    Args:
        outputs: ``logits (N, C, h, w)`` and ``depth (N, 1, h', w')`` metres.
        spec: model spec; ``model_kwargs["max_depth"]`` (when set) is the far end of the
            overlay's colour map.
        transforms: one per image, from :func:`edgevision.preprocess.preprocess`.
        upsample: see :func:`~edgevision.postprocess.segmentation.semantic_argmax`.
        with_confidence: also return the max softmax probability per pixel.

    Returns:
        One :class:`DepthSegMask` per image.
    """
    if len(outputs) < 2:
        raise ModelFileError(f"depthseg model must output (logits, depth), got {len(outputs)}")
    depth = np.asarray(outputs[1])
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise ModelFileError(f"depth output must be (N, 1, h, w), got {depth.shape}")
    masks = semantic_argmax(
        outputs[:1], spec, transforms, upsample=upsample, with_confidence=with_confidence
    )
    max_depth = spec.model_kwargs.get("max_depth")
    rng = (0.0, float(max_depth)) if max_depth else None
    return [
        DepthSegMask(
            m.class_map,
            m.class_names,
            m.confidence,
            ignore_index=m.ignore_index,
            depth=map_to_original(np.ascontiguousarray(depth[i, 0], dtype=np.float32), t),
            depth_range=rng,
        )
        for i, (m, t) in enumerate(zip(masks, transforms))
    ]
