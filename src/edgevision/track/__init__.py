"""Multi-object tracking: ids for detections and instances across the frames of a stream.

Trackers are registered by name and built with :func:`create_tracker`::

    tracker = create_tracker("bytetrack")           # one per stream
    for frame in frames:
        tracked = tracker.update(predictor(frame), image=frame)  # Detections with track_ids
    tracker.summary()                               # tracks started / ended / active

``bytetrack``: ByteTrack (Kalman motion, two-stage matching that also uses low-score
detections) with a colour-histogram appearance cue (:mod:`.appearance`) in the matching
cost and in re-identifying lost tracks; ``iou``: the IoU tracker (last box, one stage). Both are
:class:`AssociationTracker` with different :class:`TrackerConfig` defaults; see
:mod:`edgevision.track.base` for why they are not a third-party call. numpy + SciPy only
(the runtime stays free of torch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from edgevision.errors import ConfigError
from edgevision.track.base import AssociationTracker, TrackerConfig, TrackRecord

__all__ = [
    "TRACKERS",
    "AssociationTracker",
    "TrackRecord",
    "TrackerConfig",
    "create_tracker",
    "list_trackers",
    "parse_tracker",
    "register_tracker",
]

TRACKERS: dict[str, Callable[[], TrackerConfig]] = {}
"""name -> the default :class:`TrackerConfig` of that tracker."""


def register_tracker(
    name: str,
) -> Callable[[Callable[[], TrackerConfig]], Callable[[], TrackerConfig]]:
    """Register a tracker's default config under ``name`` (a duplicate name raises)."""

    def deco(fn: Callable[[], TrackerConfig]) -> Callable[[], TrackerConfig]:
        if name in TRACKERS:
            raise ValueError(f"tracker {name!r} is already registered")
        TRACKERS[name] = fn
        return fn

    return deco


@register_tracker("bytetrack")
def _bytetrack() -> TrackerConfig:
    # the colour cue and a third confirming frame: chosen with scripts/tune_tracker.py on
    # synthetic seeds 3-6 (ID switches per 100 frames 2.19 -> 1.61); re-identification of
    # lost tracks (reach 3 box sizes, colour distance <= 0.2): chosen on seeds 3-10 and 12-19
    # with the varied YOLACT model (0.87 -> 0.64; reach 5 gave 0.61, no better beyond noise,
    # with a wider gate for wrong re-identifications); score thresholds stay at ByteTrack's, which
    # suit detectors whose scores are not all near 1
    return TrackerConfig(
        motion="kalman",
        two_stage=True,
        appearance=1.0,
        confirm_hits=3,
        reid_reach=3.0,
        reid_dist=0.2,
    )


@register_tracker("iou")
def _iou() -> TrackerConfig:
    # one stage: every detection the model keeps (>= low_thresh) is matched at once
    return TrackerConfig(
        motion="none",
        two_stage=False,
        high_thresh=0.25,
        low_thresh=0.25,
        new_track_thresh=0.5,
        match_iou=0.3,
    )


def list_trackers() -> list[str]:
    """Registered tracker names, sorted."""
    return sorted(TRACKERS)


def _parse_value(field: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return low in ("true", "1", "yes")
        return type(default)(text)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(
            type(default), type(default).__name__
        )
        raise ConfigError(f"tracker option {field}={text!r}: expected {kind}") from None


def parse_tracker(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:option=value,option=value"`` -> ``(name, options)``, each value
    converted to its :class:`TrackerConfig` field's type (e.g. ``bytetrack:appearance=0``,
    ``bytetrack:new_track_thresh=0.6,max_lost=60``).

    Raises:
        ConfigError: a malformed spec, an unknown option or a value of the wrong type.
    """
    name, _, rest = spec.partition(":")
    name = name.strip()
    defaults = {f.name: getattr(TrackerConfig(), f.name) for f in dataclasses.fields(TrackerConfig)}
    opts: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"tracker {spec!r}: options are written option=value, got {part!r}")
        if key not in defaults:
            raise ConfigError(
                f"unknown tracker option(s) {key}; options: {', '.join(sorted(defaults))}"
            )
        opts[key] = _parse_value(key, value, defaults[key])
    return name, opts


def create_tracker(name: str, **overrides: Any) -> AssociationTracker:
    """A new tracker (one per stream).

    Args:
        name: a registered name (:func:`list_trackers`), optionally with options as in
            :func:`parse_tracker` (``"bytetrack:appearance=0"``).
        **overrides: :class:`TrackerConfig` fields to change, checked against their types
            (they win over options in ``name``).

    Raises:
        ConfigError: an unknown name or field, or a value of the wrong type or range.
    """
    if ":" in name:
        name, opts = parse_tracker(name)
        overrides = {**opts, **overrides}
    if name not in TRACKERS:
        raise ConfigError(f"unknown tracker {name!r}; trackers: {', '.join(list_trackers())}")
    cfg = TRACKERS[name]()
    fields = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ConfigError(
            f"unknown tracker option(s) {', '.join(bad)}; options: {', '.join(sorted(fields))}"
        )
    cfg = dataclasses.replace(cfg, **overrides)  # __post_init__ checks types and ranges
    return AssociationTracker(cfg, name=name)
