"""Re-detection on non-keyframes, fused with the propagated masks (``--propagate
dis:medium+redetect[:PREC]``).

Masks moved by DIS flow (:mod:`edgevision.video.propagate`) keep the keyframe's objects:
they cannot drop an object that left, add one that entered, or update a score. On a
non-keyframe the session therefore also runs the *detector* part of YOLACT (backbone, FPN,
prediction head; no ProtoNet, no mask assembly), optionally on a cheaper engine (``int8``,
``mixed`` or ``small``, :mod:`edgevision.video.precision`), and fuses its boxes with the
propagated objects by box IoU (:func:`match_boxes`, :func:`fuse_redetections`):

- a re-detected box takes the propagated mask of the object it overlaps most (IoU at least
  ``iou``, one to one, best scores first), the mask moved and scaled from the propagated
  object's box into the new box (``fit``), with the new box, score and class;
- a propagated object no box matched keeps its mask at ``decay`` times its score
  (``decay=0``: it disappears);
- a new box no propagated object matched, scored at least ``min_score``: ``new="keyframe"``
  runs ProtoNet on the P3 the detector pass just computed, so the frame becomes a keyframe
  with its own full result (the cost of ProtoNet only); ``new="protos"`` assembles its mask
  from the keyframe's prototypes and its coefficients; ``new="drop"`` waits for the next
  keyframe. Weaker unmatched boxes are dropped.

A confident new object on the ``small`` engine makes a keyframe from the small pass (its
prototypes at the small input). The thresholds (``iou`` 0.5, ``min_score`` 0.3, ``decay``
0.5, ``new="keyframe"``) were picked on synthetic seed 4242; moving the masks into the new
boxes (scaled or shifted) measured worse there than keeping them as propagated.

Measured (AMD EPYC, 2 cores, shared; ONNX Runtime components, 2 threads; synthetic seed 9731,
8 videos x 12 frames; ``edgevision video FP32_DIR --data DS --compare --precision-engines
MIXED_DIR --rounds 2 --keyframes fixed:K --propagate dis:medium+redetect:mixed``): the
re-detection recovers per-frame *box* AP (0.757 at fixed:2 and fixed:4 against 0.756 per
frame FP32, 0.733 for the default path) but not mask AP (0.744 at fixed:2, 0.711 at fixed:4:
the masks are still the propagated ones), and it costs the detector on every non-keyframe
(1.6-1.7x per-frame FP32 against 2.5-2.8x for the default path), so it is not the default.

numpy + OpenCV only (the runtime imports no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgevision.errors import ConfigError
from edgevision.results import Detections, InstanceMasks

__all__ = [
    "NEW_OBJECTS",
    "Redetect",
    "fuse_redetections",
    "match_boxes",
    "parse_propagate",
]

NEW_OBJECTS: tuple[str, ...] = ("keyframe", "protos", "drop")
"""What a confident re-detected box without a propagated object gets (module docstring)."""


@dataclass(frozen=True)
class Redetect:
    """Settings of the re-detection pass.

    Attributes:
        precision: the engine it runs on (``fp32``, ``mixed``, ``int8``, ``small``);
            ``None``: the one the precision policy picks for the frame.
        iou: least box IoU (0–1) for a re-detected box to take a propagated object.
        min_score: least score (0–1) for an unmatched re-detected box to count as a new
            object.
        decay: factor on the score of a propagated object no box matched (0 drops it).
        new: ``"keyframe"``, ``"protos"`` or ``"drop"`` (:data:`NEW_OBJECTS`).
    """

    precision: str | None = None
    iou: float = 0.5
    min_score: float = 0.3
    decay: float = 0.5
    new: str = "keyframe"

    def __post_init__(self) -> None:
        from edgevision.video.precision import PRECISIONS

        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError(
                f"redetect precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.new not in NEW_OBJECTS:
            raise ConfigError(
                f"redetect new must be one of {', '.join(NEW_OBJECTS)}, got {self.new!r}"
            )
        for name in ("iou", "min_score", "decay"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"redetect {name} must be in [0, 1], got {v}")

    def describe(self) -> str:
        """``redetect`` or ``redetect:PREC`` (the suffix of the propagate text)."""
        return "redetect" if self.precision is None else f"redetect:{self.precision}"


def parse_propagate(text: bool | str, flows: tuple[str, ...]) -> tuple[bool | str, Redetect | None]:
    """``"dis:medium+redetect:int8"`` -> ``("dis:medium", Redetect("int8"))``;
    a text
    without ``+`` -> ``(text, None)``; ``"none"`` -> ``False``.

    Args:
        text: the propagate setting (``True``/``False`` or text).
        flows: the flows propagation knows (``core.PROPAGATE_FLOWS``).

    Raises:
        ConfigError: an unknown flow, a suffix other than ``redetect[:PREC]``, or
            re-detection with a flow other than DIS.
    """
    if text == "none" or text is False:
        return False, None
    if text is True:
        return True, None
    flow, plus, extra = str(text).partition("+")
    if flow not in flows:
        raise ConfigError(
            f"propagate must be one of {', '.join(flows)} (or True/False), optionally "
            f"+redetect[:PREC] after a dis flow, got {text!r}"
        )
    if not plus:
        return flow, None
    kind, _, prec = extra.partition(":")
    if kind != "redetect":
        raise ConfigError(f"propagate: after '+' only redetect[:PREC] is known, got {text!r}")
    if not flow.startswith("dis"):
        raise ConfigError(
            f"re-detection fuses masks propagated with DIS flow (dis, dis:fast, dis:medium), "
            f"not {flow!r}"
        )
    return flow, Redetect(prec or None)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(M, 4)`` × ``(N, 4)`` xyxy -> ``(M, N)`` IoU."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match_boxes(det: np.ndarray, prop: np.ndarray, iou: float) -> np.ndarray:
    """One-to-one matching of re-detected boxes to propagated ones.

    Boxes are taken in the given order (the detector's: by decreasing score); each takes the
    not yet taken propagated box it overlaps most, if the IoU is at least ``iou``.

    Args:
        det: ``(M, 4)`` float xyxy re-detected boxes, best first.
        prop: ``(N, 4)`` float xyxy propagated boxes (same pixels).
        iou: least IoU (0–1).

    Returns:
        ``(M,)`` int64: the matched propagated index, ``-1`` where none.
    """
    out = np.full(len(det), -1, np.int64)
    if len(det) == 0 or len(prop) == 0:
        return out
    m = _iou(np.asarray(det, np.float64), np.asarray(prop, np.float64))
    free = np.ones(len(prop), bool)
    for i in range(len(det)):
        row = np.where(free, m[i], -1.0)
        j = int(row.argmax())
        if row[j] >= iou and row[j] > 0:
            out[i] = j
            free[j] = False
    return out


def fuse_redetections(
    prop: InstanceMasks,
    det: Detections,
    match: np.ndarray,
    cfg: Redetect,
    new: InstanceMasks | None = None,
) -> InstanceMasks:
    """The non-keyframe result: re-detected boxes with the propagated masks they matched,
    unmatched propagated objects at ``cfg.decay`` times their score, and ``new`` objects.

    Args:
        prop: the keyframe's objects propagated to this frame (original pixels).
        det: the re-detection (same pixels), best first.
        match: :func:`match_boxes` of ``det`` against ``prop``.
        cfg: the settings (``decay``).
        new: masks already made for unmatched boxes (``new="protos"``), or ``None``.

    Returns:
        :class:`InstanceMasks` by decreasing score.
    """
    h, w = prop.image_size
    boxes, scores, classes, masks = [], [], [], []
    for i in np.flatnonzero(match >= 0).tolist():
        j = int(match[i])
        box = np.asarray(det.boxes[i], np.float32)
        boxes.append(box)
        scores.append(float(det.scores[i]))
        classes.append(int(det.class_ids[i]))
        masks.append(prop.masks[j])
    if cfg.decay > 0:
        taken = set(match[match >= 0].tolist())
        for j in range(len(prop)):
            if j not in taken:
                boxes.append(np.asarray(prop.boxes[j], np.float32))
                scores.append(float(prop.scores[j]) * cfg.decay)
                classes.append(int(prop.class_ids[j]))
                masks.append(prop.masks[j])
    if new is not None:
        for i in range(len(new)):
            boxes.append(np.asarray(new.boxes[i], np.float32))
            scores.append(float(new.scores[i]))
            classes.append(int(new.class_ids[i]))
            masks.append(new.masks[i])
    if not boxes:
        return InstanceMasks.empty(list(prop.class_names), (h, w))
    order = np.argsort(-np.asarray(scores), kind="stable")
    return InstanceMasks(
        np.stack(boxes)[order],
        np.asarray(scores, np.float32)[order],
        np.asarray(classes, np.int64)[order],
        list(prop.class_names),
        (h, w),
        masks=np.stack(masks)[order],
    )
