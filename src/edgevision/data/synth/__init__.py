"""Synthetic dataset generator: textured moving shapes with exact labels and optical flow.

One call writes a small, fully labelled dataset in the edgevision layout: still images with
semantic masks and COCO instances, and short videos with semantic / instance masks,
YouTube-VIS tracks and dense ground-truth forward flow. Deterministic by seed.

Example:
    >>> from edgevision.data.synth import SynthConfig, generate
    >>> summary = generate("data/synth", SynthConfig(seed=0), progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

from edgevision.data.synth.config import SEMANTIC_CLASSES, THING_CLASSES, SynthConfig
from edgevision.data.synth.writer import GENERATOR, SynthSummary, generate

__all__ = [
    "GENERATOR",
    "SEMANTIC_CLASSES",
    "THING_CLASSES",
    "SynthConfig",
    "SynthSummary",
    "generate",
]
