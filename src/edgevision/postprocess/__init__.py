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
    "OPTION_NAMES",
    "POSTPROCESSORS",
    "batched_nms",
    "box_iou",
    "check_options",
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


OPTION_NAMES: dict[str, str] = {"conf": "conf_threshold", "iou": "iou_threshold"}
"""The public option names (CLI ``--conf``, ``Predictor(conf=...)``, ``Model.predict``)
-> the postprocessors' keyword names."""


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Postprocessing ``options`` under their public names -> the keywords of postprocessor
    ``name``, checked now (not at the first image).

    ``conf`` and ``iou`` are the public names of ``conf_threshold``/``iou_threshold`` (both
    spellings are accepted, not both at once); ``None`` values are dropped (the
    postprocessor's default).

    Raises:
        ConfigError: an option the postprocessor does not take (the message lists those it
            takes), both spellings of one option, or a threshold outside [0, 1].
    """
    import inspect

    from edgevision.errors import ConfigError

    fn = get_postprocessor(name)
    params = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    public = {v: k for k, v in OPTION_NAMES.items()}
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        kw = OPTION_NAMES.get(key, key)
        if kw not in params:
            valid = ", ".join(public.get(p, p) for p in params) or "none"
            raise ConfigError(
                f"option {key!r} does not apply to this model's postprocessing ({name}); "
                f"it takes: {valid}"
            )
        if kw in out:
            raise ConfigError(f"option {public.get(kw, kw)!r} given twice (as {key!r} too)")
        if kw in ("conf_threshold", "iou_threshold") and not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{public[kw]} must be in [0, 1], got {value}")
        out[kw] = value
    return out
