"""Multi-object tracking by detection: the association tracker behind ``bytetrack`` and
``iou``.

Why this is not a library call: the maintained Python ByteTrack implementations either left
their package (``supervision`` 0.31 no longer ships ``sv.ByteTrack``; its successor, the
``trackers`` package, requires ``opencv-python``, which clashes with the
``opencv-python-headless`` the runtime installs, and pulls in ``supervision``), or are tied to
a training framework (Ultralytics, YOLOX). What is left to write is small: the hard, numerical part — the optimal assignment —
is SciPy's ``linear_sum_assignment`` (a maintained LAPJV-style solver, already a core
dependency); the motion model is the standard constant-velocity Kalman filter of
SORT/ByteTrack (:mod:`.kalman`), batched over tracks so a frame with 50 objects costs well
under a millisecond (``edgevision bench tracker``). The ByteTrack logic follows Zhang et al.,
"ByteTrack: Multi-Object Tracking by Associating Every Detection Box", ECCV 2022.

The trackers take and return :class:`~edgevision.results.Detections` (or
:class:`~edgevision.results.InstanceMasks`, whose masks travel with their rows), one per
frame, in frame order; the returned result holds the detections that belong to a confirmed
track, each with its ``track_ids`` entry. Ids are per tracker (one tracker per stream),
counting up from 1 and never reused.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from scipy.optimize import linear_sum_assignment

from edgevision.config import validate
from edgevision.errors import ConfigError
from edgevision.postprocess.boxes import box_iou
from edgevision.results import Detections
from edgevision.track.appearance import HIST_BINS, appearance_distance, colour_features
from edgevision.track.kalman import BoxKalman, xyah_to_xyxy, xyxy_to_xyah

__all__ = ["AssociationTracker", "TrackRecord", "TrackerConfig"]

D = TypeVar("D", bound=Detections)

_TENTATIVE, _TRACKED, _LOST = 0, 1, 2
HIST_DIM = HIST_BINS[0] * HIST_BINS[1]


@dataclass
class TrackerConfig:
    """Thresholds of the association trackers.

    Attributes:
        high_thresh: detections scoring at least this are matched first (0–1).
        low_thresh: ByteTrack's second stage matches detections in ``[low_thresh,
            high_thresh)`` to tracks left unmatched; lower scores are ignored (0–1).
        new_track_thresh: an unmatched detection scoring at least this starts a track.
        match_iou: least IoU between a track's predicted box and a detection (first stage).
        low_match_iou: least IoU in the second (low-score) stage.
        confirm_hits: frames in a row a new track must be seen before it gets an id (1: at
            once). The first frame of a stream confirms at once.
        max_lost: frames a track without detections is kept (and can be found again) before
            it ends.
        class_aware: only match detections of the track's class (default: any class, as
            ByteTrack; a track takes the class of its latest detection).
        motion: ``"kalman"`` (constant velocity, ByteTrack) or ``"none"`` (the last box).
        two_stage: match low-score detections in a second stage (ByteTrack).
        recover: with Kalman motion, match tracks left over by the IoU with their last
            observed box (OC-SORT's observation-centric recovery, Cao et al., CVPR 2023).
        appearance: weight of the colour-histogram distance (:mod:`.appearance`, 0–1)
            added to ``1 - IoU`` in the matching cost of high-score detections; 0 matches
            by overlap alone. It needs the frame (``update(dets, frame, image=...)``).
        appearance_momentum: how much of a track's colour feature is kept per update
            (exponential moving average over its high-score detections, as BoT-SORT).
        reid_reach: with ``appearance`` above 0, a lost track left unmatched by the IoU
            stages can take a high-score detection whose centre lies within this many box
            sizes (square root of the predicted box's area) of its predicted centre and whose
            colour distance is at most ``reid_dist`` (re-identification, as DeepSORT's
            appearance stage with a distance gate instead of its Mahalanobis gate); 0: off.
            The track's motion restarts at the detection. It runs after the IoU stages of
            confirmed tracks and before tentative tracks are matched; it needs the colour
            cue, so with ``appearance=0`` or without the frame it is off.
        reid_dist: the largest colour distance (0–1) of a re-identification.
        history: ended tracks kept for :meth:`AssociationTracker.summary`.
    """

    high_thresh: float = 0.5
    low_thresh: float = 0.1
    new_track_thresh: float = 0.7
    match_iou: float = 0.3
    low_match_iou: float = 0.5
    confirm_hits: int = 2
    max_lost: int = 30
    class_aware: bool = False
    motion: str = "kalman"
    two_stage: bool = True
    recover: bool = False
    appearance: float = 0.0
    appearance_momentum: float = 0.9
    reid_reach: float = 0.0
    reid_dist: float = 0.25
    history: int = 1000

    def __post_init__(self) -> None:
        validate(self)
        for name in ("high_thresh", "low_thresh", "new_track_thresh"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"tracker {name} must be in [0, 1], got {v}")
        if self.low_thresh > self.high_thresh:
            raise ConfigError(
                f"tracker low_thresh ({self.low_thresh}) must be <= high_thresh "
                f"({self.high_thresh})"
            )
        for name in ("match_iou", "low_match_iou"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ConfigError(f"tracker {name} must be in (0, 1], got {v}")
        if not self.reid_reach >= 0.0 or not 0.0 <= self.reid_dist <= 1.0:  # nan fails too
            raise ConfigError(
                f"tracker reid_reach must be >= 0 and reid_dist in [0, 1], got "
                f"{self.reid_reach} and {self.reid_dist}"
            )
        if not 0.0 <= self.appearance <= 1.0 or not 0.0 <= self.appearance_momentum < 1.0:
            raise ConfigError(
                "tracker appearance must be in [0, 1] and appearance_momentum in [0, 1)"
            )
        if self.confirm_hits < 1 or self.max_lost < 0 or self.history < 0:
            raise ConfigError("tracker confirm_hits must be >= 1, max_lost and history >= 0")
        if self.motion not in ("kalman", "none"):
            raise ConfigError(f"tracker motion must be 'kalman' or 'none', got {self.motion!r}")


@dataclass
class TrackRecord:
    """One track's life (JSON-safe through :func:`dataclasses.asdict`).

    Attributes:
        id: the track id.
        label: class name (or id) of its latest detection.
        first_frame: frame index of its first detection (it gets its id on confirmation).
        last_frame: last frame index with a detection.
        frames: frames with a detection.
    """

    id: int
    label: str
    first_frame: int
    last_frame: int
    frames: int


def _assign(
    iou: np.ndarray, least: float, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matches of an IoU matrix (rows, cols), each with IoU >= ``least``;
    the cost is ``1 - IoU`` plus ``extra`` (the weighted appearance distance) if given."""
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    base = 1.0 - iou if extra is None else 1.0 - iou + extra
    cost = np.where(iou >= least, base, 1e6)
    r, c = linear_sum_assignment(cost)
    keep = iou[r, c] >= least
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


class AssociationTracker:
    """Tracking by detection for one stream: motion prediction, then IoU matching.

    With ``motion="kalman"`` and ``two_stage`` this is ByteTrack; with ``motion="none"`` and
    one stage it is the classic IoU tracker (Bochinski et al., AVSS 2017) with optimal
    instead of greedy matching.

    Args:
        cfg: thresholds (default :class:`TrackerConfig`).
        name: registry name, for summaries.
    """

    def __init__(self, cfg: TrackerConfig | None = None, *, name: str = "") -> None:
        self.cfg = cfg or TrackerConfig()
        self.name = name
        self.kf = BoxKalman()
        self.frame = -1
        self.next_id = 1
        self.started = 0
        self.ended = 0
        self.ended_tracks: deque[TrackRecord] = deque(maxlen=self.cfg.history)
        self._labels: list[str] = []
        n = 0
        self.ids = np.zeros(n, np.int64)  # 0 while tentative
        self.state = np.zeros(n, np.int64)
        self.mean = np.zeros((n, 8))
        self.cov = np.zeros((n, 8, 8))
        self.box = np.zeros((n, 4))  # the latest detection's box (xyxy)
        self.cls = np.zeros(n, np.int64)
        self.hits = np.zeros(n, np.int64)
        self.first = np.zeros(n, np.int64)
        self.last = np.zeros(n, np.int64)
        self.feat = np.zeros((n, HIST_DIM), np.float32)  # colour features (appearance > 0)

    _ARRAYS = ("ids", "state", "mean", "cov", "box", "cls", "hits", "first", "last", "feat")

    def __len__(self) -> int:
        """Confirmed tracks alive (tracked or lost)."""
        return int((self.state != _TENTATIVE).sum())

    # ------------------------------------------------------------------ association
    def _predicted_boxes(self) -> np.ndarray:
        if self.cfg.motion == "none" or not len(self.ids):
            return self.box
        self.mean[self.state != _TRACKED, 7] = 0.0  # ByteTrack: no height velocity when lost
        self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        return xyah_to_xyxy(self.mean[:, :4])

    def _iou(
        self,
        pred: np.ndarray,
        tracks: np.ndarray,
        boxes: np.ndarray,
        cls: np.ndarray,
        dets: np.ndarray,
    ) -> np.ndarray:
        iou = box_iou(pred[tracks], boxes[dets]).astype(np.float64)
        if self.cfg.class_aware:
            iou[self.cls[tracks][:, None] != cls[dets][None, :]] = 0.0
        return iou

    def _appearance(
        self, tracks: np.ndarray, dets: np.ndarray, feats: np.ndarray | None
    ) -> np.ndarray | None:
        """The weighted appearance term of the matching cost (None: matching by IoU only)."""
        if feats is None:
            return None
        return self.cfg.appearance * appearance_distance(self.feat[tracks], feats[dets])

    def _reidentify(
        self,
        pred: np.ndarray,
        tracks: np.ndarray,
        boxes: np.ndarray,
        cls: np.ndarray,
        dets: np.ndarray,
        feats: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Optimal matches (rows of ``tracks``, rows of ``dets``) of lost tracks to
        detections whose colour distance is at most ``reid_dist`` and whose centre is within
        ``reid_reach`` box sizes (square root of the predicted box's area) of the track's
        predicted centre; the cost is the colour distance plus 0.01 × the reach (at most
        0.01 × ``reid_reach``), so of two equally coloured detections the nearer wins."""
        if not len(tracks) or not len(dets):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        cfg = self.cfg
        dist = appearance_distance(self.feat[tracks], feats[dets])
        p = pred[tracks]
        size = np.sqrt(np.prod(np.maximum(p[:, 2:] - p[:, :2], 1.0), axis=1))
        pc = (p[:, :2] + p[:, 2:]) / 2
        dc = (boxes[dets, :2] + boxes[dets, 2:]) / 2
        reach = np.linalg.norm(pc[:, None] - dc[None], axis=2) / size[:, None]
        ok = (reach <= cfg.reid_reach) & (dist <= cfg.reid_dist)
        if cfg.class_aware:
            ok &= self.cls[tracks][:, None] == cls[dets][None, :]
        if not ok.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        r, c = linear_sum_assignment(np.where(ok, dist + 0.01 * reach, 1e6))
        keep = ok[r, c]
        return r[keep].astype(np.int64), c[keep].astype(np.int64)

    def update(self, dets: D, frame: int | None = None, image: np.ndarray | None = None) -> D:
        """Associate one frame's detections with the tracks.

        Args:
            dets: this frame's detections (boxes in image pixels; scores 0–1).
            frame: the frame's index (default: one more than the previous call's). Ages of
                lost tracks count in these indices, so a stream that drops frames keeps
                a lost track for ``max_lost`` frames of the source.
            image: the ``(H, W, 3)`` uint8 RGB frame the detections come from, for the
                appearance cue (config ``appearance`` above 0); without it this frame is
                matched by overlap alone (plain ByteTrack).

        Raises:
            TypeError: ``dets`` is not :class:`Detections`.

        Returns:
            The detections of confirmed tracks (same type as ``dets``, rows in input order),
            with ``track_ids`` set.
        """
        if not isinstance(dets, Detections):
            raise TypeError(f"a tracker needs Detections or InstanceMasks, got {type(dets)}")
        cfg = self.cfg
        self.frame = self.frame + 1 if frame is None else int(frame)
        first_frame = self.started == 0 and not len(self.ids)
        boxes = dets.boxes.astype(np.float64)
        scores, cls = dets.scores, dets.class_ids
        feats = colour_features(image, boxes) if cfg.appearance > 0 and image is not None else None
        pred = self._predicted_boxes()
        det_track = np.full(len(dets), -1, np.int64)  # row of the track each det joins

        high = np.flatnonzero(scores >= cfg.high_thresh)
        low = np.flatnonzero((scores >= cfg.low_thresh) & (scores < cfg.high_thresh))
        confirmed = np.flatnonzero(self.state != _TENTATIVE)
        # stage 1: high-score detections vs every confirmed track (tracked or lost)
        r, c = _assign(
            self._iou(pred, confirmed, boxes, cls, high),
            cfg.match_iou,
            self._appearance(confirmed, high, feats),
        )
        det_track[high[c]] = confirmed[r]
        left_tracks = np.setdiff1d(confirmed, confirmed[r])
        left_high = np.setdiff1d(high, high[c])
        # stage 2 (ByteTrack): low-score detections vs tracks seen last frame, still unmatched
        if cfg.two_stage and len(low):
            tracked = left_tracks[self.state[left_tracks] == _TRACKED]
            r, c = _assign(self._iou(pred, tracked, boxes, cls, low), cfg.low_match_iou)
            det_track[low[c]] = tracked[r]
            left_tracks = np.setdiff1d(left_tracks, tracked[r])
        # recovery (OC-SORT's observation-centric recovery): tracks still unmatched vs the
        # remaining high-score detections by the track's last observed box, for objects that
        # stopped or turned while the motion model went on; their filter restarts there
        recovered = np.zeros(0, np.int64)
        if cfg.recover and cfg.motion == "kalman" and len(left_tracks) and len(left_high):
            r, c = _assign(
                self._iou(self.box, left_tracks, boxes, cls, left_high),
                cfg.match_iou,
                self._appearance(left_tracks, left_high, feats),
            )
            det_track[left_high[c]] = left_tracks[r]
            recovered = left_tracks[r]
            left_tracks = np.setdiff1d(left_tracks, recovered)
            left_high = np.setdiff1d(left_high, left_high[c])
        # re-identification: lost tracks vs the high-score detections still unmatched, by
        # colour within a reach of the predicted box (a miss of a few frames lets the box
        # drift out of the IoU gate, and a new id would follow)
        if cfg.reid_reach > 0 and feats is not None and len(left_tracks) and len(left_high):
            lost = left_tracks[self.state[left_tracks] == _LOST]
            r, c = self._reidentify(pred, lost, boxes, cls, left_high, feats)
            det_track[left_high[c]] = lost[r]
            recovered = np.concatenate([recovered, lost[r]])
            left_tracks = np.setdiff1d(left_tracks, lost[r])
            left_high = np.setdiff1d(left_high, left_high[c])
        # stage 3: tentative tracks vs the remaining high-score detections
        tentative = np.flatnonzero(self.state == _TENTATIVE)
        r, c = _assign(self._iou(pred, tentative, boxes, cls, left_high), cfg.match_iou)
        det_track[left_high[c]] = tentative[r]
        unmatched = left_high[np.setdiff1d(np.arange(len(left_high)), c)]

        matched = np.flatnonzero(det_track >= 0)
        rows = det_track[matched]
        if len(rows):
            xyah = xyxy_to_xyah(boxes[matched])
            if cfg.motion == "kalman":
                self.mean[rows], self.cov[rows] = self.kf.update(
                    self.mean[rows], self.cov[rows], xyah
                )
                if len(recovered):
                    restart = np.isin(rows, recovered)
                    self.mean[rows[restart]], self.cov[rows[restart]] = self.kf.initiate(
                        xyah[restart]
                    )
            self.box[rows] = boxes[matched]
            self.cls[rows] = cls[matched]
            self.hits[rows] += 1
            self.last[rows] = self.frame
            if feats is not None:  # a moving average over high-score detections
                hi = scores[matched] >= cfg.high_thresh
                m = cfg.appearance_momentum
                f = m * self.feat[rows[hi]] + (1 - m) * feats[matched[hi]]
                norm = np.linalg.norm(f, axis=1, keepdims=True)
                self.feat[rows[hi]] = f / np.maximum(norm, 1e-12)
            self.state[rows] = np.where(self.state[rows] == _TENTATIVE, _TENTATIVE, _TRACKED)
        # unmatched: tentative tracks die, confirmed ones are lost (and end after max_lost)
        seen = np.zeros(len(self.ids), bool)
        seen[rows] = True
        self.state[~seen & (self.state == _TRACKED)] = _LOST
        dead = ~seen & ((self.state == _TENTATIVE) | (self.frame - self.last > cfg.max_lost))
        # new tracks from unmatched confident detections
        new = unmatched[scores[unmatched] >= cfg.new_track_thresh]
        det_track[new] = np.arange(len(self.ids), len(self.ids) + len(new))
        self._add(boxes[new], cls[new], None if feats is None else feats[new])
        dead = np.concatenate([dead, np.zeros(len(new), bool)])
        # confirmation: enough hits (or the stream's first frame) gives a track its id
        promote = (self.state == _TENTATIVE) & ((self.hits >= cfg.confirm_hits) | first_frame)
        for i in np.flatnonzero(promote):
            self.ids[i] = self.next_id
            self.next_id += 1
            self.started += 1
        self.state[promote] = _TRACKED
        tid = (
            np.where(det_track >= 0, self.ids[np.maximum(det_track, 0)], 0)
            if len(self.ids)
            else np.zeros(len(dets), np.int64)
        )
        self._labels = list(dets.class_names)
        for i in np.flatnonzero(dead & (self.state != _TENTATIVE)):
            self.ended += 1
            self.ended_tracks.append(self._record(int(i)))
        self._keep(~dead)
        keep = np.flatnonzero(tid > 0)
        out = cast(D, dets[keep])  # __getitem__ keeps the type
        out.track_ids = tid[keep]
        return out

    # ------------------------------------------------------------------ bookkeeping
    def _add(self, boxes: np.ndarray, cls: np.ndarray, feats: np.ndarray | None) -> None:
        n = len(boxes)
        if not n:
            return
        mean, cov = self.kf.initiate(xyxy_to_xyah(boxes))
        parts = {
            "ids": np.zeros(n, np.int64),
            "state": np.full(n, _TENTATIVE, np.int64),
            "mean": mean,
            "cov": cov,
            "box": boxes,
            "cls": cls.astype(np.int64),
            "hits": np.ones(n, np.int64),
            "first": np.full(n, self.frame, np.int64),
            "last": np.full(n, self.frame, np.int64),
            "feat": np.zeros((n, HIST_DIM), np.float32) if feats is None else feats,
        }
        for k, v in parts.items():
            setattr(self, k, np.concatenate([getattr(self, k), v]))

    def _keep(self, keep: np.ndarray) -> None:
        if not keep.all():
            for k in self._ARRAYS:
                setattr(self, k, getattr(self, k)[keep])

    def _record(self, i: int) -> TrackRecord:
        c = int(self.cls[i])
        label = self._labels[c] if 0 <= c < len(self._labels) else str(c)
        return TrackRecord(
            int(self.ids[i]), label, int(self.first[i]), int(self.last[i]), int(self.hits[i])
        )

    def summary(self, *, tracks: bool = True) -> dict[str, Any]:
        """Counts (JSON-safe): ``tracks_started``, ``tracks_ended``, ``tracks_active`` and,
        with ``tracks``, ``tracks`` — the ended (latest ``history``) and active tracks as
        :class:`TrackRecord` dicts, by id."""
        active = np.flatnonzero(self.state != _TENTATIVE)
        out: dict[str, Any] = {
            "tracker": self.name,
            "tracks_started": self.started,
            "tracks_ended": self.ended,
            "tracks_active": len(active),
        }
        if tracks:
            recs = [*self.ended_tracks, *(self._record(int(i)) for i in active)]
            out["tracks"] = [dataclasses.asdict(r) for r in sorted(recs, key=lambda r: r.id)]
        return out
