"""Video-mode settings as one value, and the default path of ``run --video``.

A :class:`VideoMode` is what a stream session needs to know besides the model: keyframe
policy, how non-keyframes are made (``propagate``) and the precision policy.
:func:`default_mode` is the path ``edgevision run --video`` and ``edgevision video`` take
when none of ``--keyframes``/``--propagate``/``--precision-policy`` is given.

Why this default (``edgevision report instance``, Table III, 2 cores): masks propagated with
DIS *medium* flow at a keyframe every 2 frames lose 0.0 mask AP (FP32) at 1.48x per-frame
throughput; with the keyframes run on INT8 components whose FPN and head stay FP32 (the
``mixed`` engine: -0.2 AP) the same path runs at 9.6 ms/frame against 17.3 ms per frame
FP32. Longer intervals are faster but lose 1.3 (fixed:3) to 5.7 (fixed:5) mask AP.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PER_FRAME", "VideoMode", "default_mode", "resolve_mode"]


@dataclass(frozen=True)
class VideoMode:
    """One way to run a stream.

    Attributes:
        keyframes: keyframe policy text (``"none"`` = per frame).
        propagate: ``False`` (partial feature transform) or the flow that moves the
            keyframe's masks (``"dis:medium"`` ...).
        precision: precision policy text (``"fixed:fp32"``, ``"adaptive"`` ...).
    """

    keyframes: str = "fixed:5"
    propagate: bool | str = False
    precision: str = "fixed:fp32"

    def label(self) -> str:
        """Short text for tables: ``fixed:2, dis:medium, fixed:mixed``."""
        if self.keyframes == "none":
            return f"per-frame, {self.precision}"
        prop = "feature warp" if not self.propagate else str(self.propagate)
        if self.propagate is True:
            prop = "featflownet"
        return f"{self.keyframes}, {prop}, {self.precision}"


PER_FRAME = VideoMode("none", False, "fixed:fp32")
"""Per-frame FP32: the reference every comparison starts with."""


def default_mode(available: tuple[str, ...] | list[str] | set[str] = ("fp32",)) -> VideoMode:
    """The default video path given the engine precisions that are loaded: DIS medium
    propagation, a keyframe every 2 frames, keyframes on the ``mixed`` engine when one is
    loaded (``--precision-engines DIR``), else the most accurate one loaded."""
    from edgevision.video.precision import PRECISIONS

    have = [p for p in PRECISIONS if p in set(available)] or ["fp32"]
    prec = "fixed:mixed" if "mixed" in have else f"fixed:{have[0]}"
    return VideoMode("fixed:2", "dis:medium", prec)


def resolve_mode(
    keyframes: str | None = None,
    propagate: bool | str | None = None,
    precision: str | None = None,
    available: tuple[str, ...] | list[str] | set[str] = ("fp32",),
) -> VideoMode:
    """The mode asked for, each setting left ``None`` taken from :func:`default_mode`
    (``propagate="none"`` = ``False``: the partial feature transform)."""
    d = default_mode(available)
    return VideoMode(
        d.keyframes if keyframes is None else keyframes,
        d.propagate if propagate is None else (False if propagate == "none" else propagate),
        d.precision if precision is None else precision,
    )
