"""Per-frame precision for video mode (VideoIQ-style input-dependent quantization).

A *precision policy* picks, for every frame on which the network runs, one of several engines
of different cost: ``fp32`` (every component FP32), ``mixed`` (INT8 with the sensitive
components, e.g. the FPN and the head, in FP32) and ``int8`` (every component INT8). In ONNX
Runtime each is a component folder (:class:`~edgevision.video.ort.ComponentSet`); the
tensors between components are FP32 in all of them, so a keyframe computed at one precision
can be warped on a frame run at another. A fourth, ``small``, runs an engine at a reduced
input size (the issue's "smaller input"): cheaper, and lossy where the others are not.

VideoIQ (Sun et al., ICCV 2021) learns the choice with a policy network; here the choice
is made from a signal that costs about 0.1 ms: the fraction of the frame that changed since
the last frame the network ran on (grey values at half resolution, more than 24 levels
apart: :func:`change_fraction`), and the confidence of that frame's result. A frame much
like the last one, whose result was confident, gets the cheapest engine; a frame that
changed a lot, or follows an unsure result, the most accurate one.

``parse_precision("fixed:mixed")`` / ``"adaptive"`` / ``"adaptive:0.01,0.04:mixed,small"``
builds a policy (the CLI's ``--precision-policy``). Policies hold only thresholds and the last
signal; the session owns the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevision.errors import ConfigError

__all__ = [
    "PRECISIONS",
    "AdaptivePrecision",
    "FixedPrecision",
    "PrecisionPolicy",
    "change_fraction",
    "folder_precision",
    "parse_precision",
]

PRECISIONS: tuple[str, ...] = ("fp32", "mixed", "int8", "small")
"""The engine precisions, most accurate (and costliest) first. ``small`` is not a component
folder: it is the ``mixed`` engine (or the model's own when none is loaded) run at a smaller
input size (``small_input``; the component graphs take any input size)."""


ALWAYS_FP32: tuple[str, ...] = ("warp",)
"""Components that stay FP32 in every folder (the feature warp is a GridSample, which ONNX
Runtime does not run in INT8); they do not make a folder ``mixed``."""


def folder_precision(component_precisions: dict[str, str]) -> str:
    """The precision name of a component folder from its components' precisions:
    ``fp32`` (all FP32), ``int8`` (all INT8 but :data:`ALWAYS_FP32`) or ``mixed``."""
    values = {str(v).lower() for k, v in component_precisions.items() if k not in ALWAYS_FP32}
    if values <= {"fp32"}:
        return "fp32"
    if values <= {"int8"}:
        return "int8"
    return "mixed"


def change_fraction(cur: np.ndarray, prev: np.ndarray, tolerance: int = 24) -> float:
    """Fraction of the pixels of two grey frames (same size) more than ``tolerance`` grey
    levels apart, counted on every second row and column."""
    import cv2

    a = np.ascontiguousarray(cur[::2, ::2])
    b = np.ascontiguousarray(prev[::2, ::2])
    if a.shape != b.shape:
        return 1.0
    bad = cv2.absdiff(a, b) > tolerance
    return float(np.count_nonzero(bad)) / float(max(bad.size, 1))


class PrecisionPolicy:
    """Base policy: choose among the engines that are loaded.

    Subclasses implement :meth:`choose`; :attr:`uses_signal` says whether the session must
    compute the change signal (a grey frame per frame) for it.
    """

    uses_signal: bool = False

    def reset(self) -> None:
        """Forget the last result (new stream)."""

    def choose(self, available: tuple[str, ...], change: float | None) -> str:
        """The precision of the next network pass.

        Args:
            available: the loaded precisions, most accurate first (a subset of
                :data:`PRECISIONS`).
            change: :func:`change_fraction` of this frame against the last frame the
                network ran on (``None`` on the first frame or when not computed).
        """
        return available[0]

    def observe(self, result: Any) -> None:
        """See the result of the network pass just run."""

    def needs(self) -> tuple[str, ...]:
        """Precisions that must be loaded."""
        return ()

    def describe(self) -> str:
        return "fixed:fp32"


@dataclass
class FixedPrecision(PrecisionPolicy):
    """Every network pass at one precision."""

    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def choose(self, available: tuple[str, ...], change: float | None) -> str:
        return self.precision

    def needs(self) -> tuple[str, ...]:
        return (self.precision,)

    def describe(self) -> str:
        return f"fixed:{self.precision}"


@dataclass
class AdaptivePrecision(PrecisionPolicy):
    """Cheapest engine for frames like the last one, the most accurate for changed scenes.

    The change since the last network pass ranks the frame: ``change >= high`` -> the most
    accurate loaded precision, ``low <= change < high`` -> the next one, ``change < low``
    -> the one after (as far as that many are loaded). A last result whose best score is
    below ``min_score`` moves the choice one step more accurate (an unsure result is
    VideoIQ's "hard frame"). The first frame of a stream runs the most accurate engine.

    Attributes:
        low: change below which a frame is *easy*.
        high: change at or above which a frame is *hard*.
        min_score: best detection score under which the last result counts as unsure.
        tiers: the precisions to choose among (``()``: every loaded one); e.g.
            ``("mixed", "small")`` leaves out an FP32 engine that costs more for no AP and
            an all-INT8 one that is broken for the model.
    """

    low: float = 0.01
    high: float = 0.04
    min_score: float = 0.5
    tiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high <= 1:
            raise ConfigError(
                f"adaptive precision needs 0 <= low <= high <= 1, got {self.low}, {self.high}"
            )
        bad = [t for t in self.tiers if t not in PRECISIONS]
        if bad:
            raise ConfigError(f"adaptive tiers must be among {', '.join(PRECISIONS)}, got {bad}")
        self.tiers = tuple(p for p in PRECISIONS if p in self.tiers)
        self._unsure = False

    uses_signal = True

    def reset(self) -> None:
        self._unsure = False

    def choose(self, available: tuple[str, ...], change: float | None) -> str:
        if self.tiers:
            available = tuple(p for p in available if p in self.tiers) or available
        if change is None:
            return available[0]
        rank = 0 if change >= self.high else 1 if change >= self.low else 2
        if self._unsure:
            rank -= 1
        return available[max(0, min(rank, len(available) - 1))]

    def observe(self, result: Any) -> None:
        scores = getattr(result, "scores", None)
        best = float(np.max(scores)) if scores is not None and len(scores) else 0.0
        self._unsure = best < self.min_score

    def needs(self) -> tuple[str, ...]:
        return self.tiers

    def describe(self) -> str:
        tiers = f":{','.join(self.tiers)}" if self.tiers else ""
        return f"adaptive:{self.low:g},{self.high:g}{tiers}"


def parse_precision(text: str | PrecisionPolicy) -> PrecisionPolicy:
    """``"fixed:fp32"`` | ``"fixed:mixed"`` | ``"fixed:int8"`` | ``"fixed:small"`` |
    ``"adaptive"`` | ``"adaptive:LOW,HIGH"`` | ``"adaptive:LOW,HIGH:mixed,small"`` |
    ``"adaptive:mixed,small"`` (the last field: the tiers to choose among) -> a policy.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(text, PrecisionPolicy):
        return text
    kind, _, arg = str(text).strip().partition(":")
    if kind == "fixed" and arg in PRECISIONS:
        return FixedPrecision(arg)
    if kind == "adaptive":
        fields = arg.split(":") if arg else []
        tiers: tuple[str, ...] = ()
        if fields and fields[-1] and fields[-1][0].isalpha():  # the tiers come last
            tiers = tuple(fields.pop().split(","))
        try:
            low, high = (float(v) for v in fields[0].split(",")) if fields else (0.01, 0.04)
        except ValueError:
            pass
        else:
            if len(fields) <= 1:
                return AdaptivePrecision(low, high, tiers=tiers)
    raise ConfigError(
        "--precision-policy must be fixed:fp32|fixed:mixed|fixed:int8|fixed:small or "
        "adaptive[:LOW,HIGH][:TIER,TIER...], "
        f"got {text!r}"
    )
