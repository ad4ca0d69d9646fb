"""Keyframe policies for video mode: fixed interval (YolactEdge) and adaptive (motion/score).

A policy answers two questions per frame: :meth:`wants_keyframe` before any work (given the
frames since the last keyframe) and, on a non-keyframe, :meth:`promote` after the flow is known
(given the estimated motion). :meth:`observe` sees each result, so a confidence drop can force
the next frame to be a keyframe. Policies hold no model state; :func:`parse_keyframes` builds
one from the CLI form ``fixed:5`` / ``adaptive`` / ``adaptive:10``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevision.errors import ConfigError

__all__ = ["AdaptiveKeyframes", "FixedKeyframes", "KeyframePolicy", "parse_keyframes"]


class KeyframePolicy:
    """Base policy: every frame is a keyframe (per-frame mode)."""

    def reset(self) -> None:
        """Forget everything (new stream or size change)."""

    def wants_keyframe(self, since_key: int) -> bool:
        """Whether the next frame must be a keyframe; ``since_key`` = non-keyframes since the
        last keyframe (0 right after it)."""
        return True

    def promote(self, since_key: int, motion: float) -> bool:
        """After the flow of a non-keyframe: make it a keyframe after all?

        Args:
            since_key: frames since the last keyframe (>= 1).
            motion: mean flow magnitude as a fraction of the input's shorter side.
        """
        return False

    def observe(self, keyframe: bool, result: Any) -> None:
        """See the result of the frame just processed."""

    def describe(self) -> str:
        return "per-frame"


@dataclass
class FixedKeyframes(KeyframePolicy):
    """A keyframe every ``interval`` frames (YolactEdge uses 5)."""

    interval: int = 5

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ConfigError(f"keyframe interval must be >= 1, got {self.interval}")

    def wants_keyframe(self, since_key: int) -> bool:
        return since_key + 1 >= self.interval

    def describe(self) -> str:
        return f"fixed:{self.interval}"


@dataclass
class AdaptiveKeyframes(KeyframePolicy):
    """New keyframe when motion, elapsed frames or detection confidence cross a threshold.

    Attributes:
        max_interval: longest run of frames without a keyframe.
        motion_threshold: promote a frame whose mean flow to the keyframe exceeds this
            fraction of the input's shorter side (large motion -> warping errors grow).
        score_drop: force a keyframe after a frame whose summed detection score fell below
            ``(1 - score_drop)`` × the keyframe's (objects lost by warping).
    """

    max_interval: int = 10
    motion_threshold: float = 0.03
    score_drop: float = 0.5

    def __post_init__(self) -> None:
        if self.max_interval < 1:
            raise ConfigError(f"max_interval must be >= 1, got {self.max_interval}")
        if self.motion_threshold <= 0 or not 0 < self.score_drop <= 1:
            raise ConfigError("need motion_threshold > 0 and 0 < score_drop <= 1")
        self._key_score = 0.0
        self._force = False

    def reset(self) -> None:
        self._key_score, self._force = 0.0, False

    def wants_keyframe(self, since_key: int) -> bool:
        return self._force or since_key + 1 >= self.max_interval

    def promote(self, since_key: int, motion: float) -> bool:
        return motion > self.motion_threshold

    def observe(self, keyframe: bool, result: Any) -> None:
        scores = getattr(result, "scores", None)
        score = float(np.sum(scores)) if scores is not None and len(scores) else 0.0
        if keyframe:
            self._key_score, self._force = score, False
        else:
            self._force = self._key_score > 0 and score < (1 - self.score_drop) * self._key_score

    def describe(self) -> str:
        return (
            f"adaptive(max={self.max_interval}, motion>{self.motion_threshold}, "
            f"score drop>{self.score_drop})"
        )


def parse_keyframes(text: str | KeyframePolicy) -> KeyframePolicy:
    """``"fixed:5"``, ``"fixed"`` (5), ``"adaptive"``, ``"adaptive:10"`` (max interval),
    ``"none"`` (every frame a keyframe) -> a policy.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(text, KeyframePolicy):
        return text
    kind, _, arg = str(text).strip().partition(":")
    try:
        if kind == "fixed":
            return FixedKeyframes(int(arg) if arg else 5)
        if kind == "adaptive":
            return AdaptiveKeyframes(int(arg)) if arg else AdaptiveKeyframes()
        if kind == "none" and not arg:
            return KeyframePolicy()
    except ValueError:
        pass
    raise ConfigError(f"--keyframes must be fixed:K, adaptive[:MAX] or none, got {text!r}")
