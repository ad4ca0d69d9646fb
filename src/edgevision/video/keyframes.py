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

    uses_residual: bool = False
    """Whether :meth:`promote` wants the warp residual (the session computes it only then)."""

    def promote(self, since_key: int, motion: float, residual: float | None = None) -> bool:
        """After the flow of a non-keyframe: make it a keyframe after all?

        Args:
            since_key: frames since the last keyframe (>= 1).
            motion: mean flow magnitude as a fraction of the input's shorter side.
            residual: fraction of the frame the warped keyframe does not explain (DIS
                flow only, :meth:`~edgevision.video.core.DisFlow.residual`), else ``None``.
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
    """New keyframe when motion, warp error, elapsed frames or detection confidence cross a
    threshold.

    Attributes:
        max_interval: longest run of frames without a keyframe.
        motion_threshold: promote a frame whose mean flow to the keyframe exceeds this
            fraction of the input's shorter side (large motion -> warping errors grow). The
            only flow test on the FeatFlowNet paths, which have no residual (before the
            residual test the defaults were 0.03 and ``max_interval`` 10).
        score_drop: force a keyframe after a frame whose summed detection score fell below
            ``(1 - score_drop)`` × the keyframe's (objects lost by warping).
        residual_threshold: with DIS flow, promote a frame when more than this fraction of
            it is not explained by the warped keyframe (objects entering, uncovered or
            deforming); ``None`` turns the test off.
        anticipate: also make the *next* frame a keyframe when the motion or residual,
            extrapolated linearly from this frame and the previous one (both grow about
            linearly with the frames since the keyframe), would cross its threshold there:
            that keyframe is chosen before any flow is computed, so it costs no more than
            a fixed one, where a promoted frame has paid for its flow first.

    The defaults were chosen on the synthetic videos' ``train`` split with
    ``scripts/tune_keyframes.py`` (DIS ultrafast: 23.9 % keyframes and mask AP 0.6148,
    fixed:5 25 % and 0.6036: fewer keyframes, so no slower, and a better AP) and checked
    on ``val`` and on videos of varying motion (``edgevision report instance``, Table IV).
    The warp residual grows with the frames since the keyframe and varies ten-fold between
    videos (synthetic ``train``, 10th vs 90th percentile), which a fixed interval ignores.
    """

    max_interval: int = 8
    motion_threshold: float = 0.07
    score_drop: float = 0.5
    residual_threshold: float | None = 0.011
    anticipate: bool = True

    def __post_init__(self) -> None:
        if self.max_interval < 1:
            raise ConfigError(f"max_interval must be >= 1, got {self.max_interval}")
        if self.motion_threshold <= 0 or not 0 < self.score_drop <= 1:
            raise ConfigError("need motion_threshold > 0 and 0 < score_drop <= 1")
        if self.residual_threshold is not None and not 0 < self.residual_threshold < 1:
            raise ConfigError(
                f"residual_threshold must be in (0, 1), got {self.residual_threshold}"
            )
        self._key_score = 0.0
        self._force = False
        self._next = False
        self._prev = (0.0, 0.0)  # (motion, residual) of the previous frame; 0 at a keyframe

    def reset(self) -> None:
        self._key_score, self._force, self._next, self._prev = 0.0, False, False, (0.0, 0.0)

    def wants_keyframe(self, since_key: int) -> bool:
        return self._force or self._next or since_key + 1 >= self.max_interval

    @property
    def uses_residual(self) -> bool:  # type: ignore[override]
        return self.residual_threshold is not None

    def promote(self, since_key: int, motion: float, residual: float | None = None) -> bool:
        rt = self.residual_threshold
        use_res = rt is not None and residual is not None
        if motion > self.motion_threshold or (use_res and residual > rt):  # type: ignore[operator]
            return True
        if self.anticipate:
            pm, pr = self._prev
            self._next = 2 * motion - pm > self.motion_threshold or (
                use_res and 2 * residual - pr > rt  # type: ignore[operator]
            )
        self._prev = (motion, residual or 0.0)
        return False

    def observe(self, keyframe: bool, result: Any) -> None:
        scores = getattr(result, "scores", None)
        score = float(np.sum(scores)) if scores is not None and len(scores) else 0.0
        if keyframe:
            self._key_score, self._force, self._next, self._prev = score, False, False, (0.0, 0.0)
        else:
            self._force = self._key_score > 0 and score < (1 - self.score_drop) * self._key_score

    def describe(self) -> str:
        res = "" if self.residual_threshold is None else f", residual>{self.residual_threshold}"
        ant = ", anticipated" if self.anticipate else ""
        return (
            f"adaptive(max={self.max_interval}, motion>{self.motion_threshold}{res}, "
            f"score drop>{self.score_drop}{ant})"
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
