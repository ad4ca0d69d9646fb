"""Network outputs -> result types, in numpy (no torch).

Postprocessors are looked up by the name in ``ModelSpec.postprocess``; each takes the list of
engine outputs for a batch, the spec and the per-image :class:`~edgevision.preprocess.Transform`
and returns one result per image. Modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.postprocess.boxes import box_iou
from edgevision.postprocess.nms import batched_nms, fast_nms, nms

__all__ = [
    "POSTPROCESSORS",
    "batched_nms",
    "box_iou",
    "fast_nms",
    "get_postprocessor",
    "nms",
    "postprocess",
]

# name -> "module:function"; a new decoder is registered here
POSTPROCESSORS: dict[str, str] = {
    "semantic_argmax": "edgevision.postprocess.segmentation:semantic_argmax",
    "panoptic_fusion": "edgevision.postprocess.panoptic:panoptic_fusion",
    "depthseg": "edgevision.postprocess.depthseg:depthseg",
    "yolo": "edgevision.postprocess.yolo:yolo_postprocess",
    "yolo_nms": "edgevision.postprocess.yolo:yolo_nms_postprocess",
    "yolact": "edgevision.postprocess.yolact:yolact_postprocess",
}

Postprocessor = Callable[..., list[Any]]


def get_postprocessor(name: str) -> Postprocessor:
    """The postprocessing function registered as ``name``."""
    if name not in POSTPROCESSORS:
        raise ModelFileError(
            f"unknown postprocessor {name!r} in model metadata; known: {', '.join(sorted(POSTPROCESSORS))}"
        )
    module, fn = POSTPROCESSORS[name].split(":")
    return getattr(importlib.import_module(module), fn)  # type: ignore[no-any-return]


def postprocess(
    outputs: Sequence[np.ndarray], spec: Any, transforms: Sequence[Any], **kwargs: Any
) -> list[Any]:
    """Apply the spec's postprocessor to a batch of engine outputs."""
    return get_postprocessor(spec.postprocess)(outputs, spec, transforms, **kwargs)
