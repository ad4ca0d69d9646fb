"""Semantic segmentation models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edgevision.classnames import CAMVID_CLASSES
from edgevision.registry import register_model


def register_camvid_model(
    name: str, *, components: Sequence[str]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """:func:`~edgevision.registry.register_model` for a semantic model with the CamVid
    defaults: 360×480 input, the 11 CamVid classes, argmax postprocessing."""
    return register_model(
        name,
        task="semantic",
        input_size=(360, 480),
        class_names=CAMVID_CLASSES,
        postprocess="semantic_argmax",
        components=components,
    )
