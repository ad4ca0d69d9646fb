"""Trackers (edgevision.track): ids across frames, lost/ended tracks, configs."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.bench.tracker import moving_boxes
from edgevision.errors import ConfigError
from edgevision.results import Detections, InstanceMasks
from edgevision.track import TrackerConfig, create_tracker, list_trackers, register_tracker


def _dets(boxes, scores=None, classes=None, size=(200, 300)) -> Detections:
    n = len(boxes)
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.full(n, 0.9) if scores is None else scores,
        np.zeros(n) if classes is None else classes,
        ["a", "b"],
        size,
    )


def _box(x: float, y: float, s: float = 20) -> list[float]:
    return [x, y, x + s, y + s]


def test_registry_lists_both_and_refuses_duplicates():
    assert list_trackers() == ["bytetrack", "iou"]
    with pytest.raises(ValueError, match="already registered"):
        register_tracker("iou")(TrackerConfig)


@pytest.mark.parametrize("name", ["bytetrack", "iou"])
def test_moving_objects_keep_their_ids(name):
    scene = moving_boxes(20, 120, seed=3, image_size=(720, 1280))
    trk = create_tracker(name)
    owner: dict[int, set[int]] = {}  # true object -> track ids it was given
    for t, (dets, truth) in enumerate(scene):
        out = trk.update(dets, t)
        assert out.track_ids is not None and len(out.track_ids) == len(out)
        assert len(set(out.track_ids.tolist())) == len(out)  # one row per id per frame
        rows = {tuple(b): i for i, b in enumerate(dets.boxes.tolist())}
        for b, tid in zip(out.boxes.tolist(), out.track_ids.tolist()):
            obj = int(truth[rows[tuple(b)]])
            if obj >= 0:
                owner.setdefault(obj, set()).add(tid)
    assert len(owner) == 20
    switched = sum(len(ids) - 1 for ids in owner.values())
    assert switched <= (1 if name == "bytetrack" else 6), owner


def test_bytetrack_follows_crossing_objects_by_their_motion():
    trk = create_tracker("bytetrack")
    first = last = None
    for t in range(30):  # two boxes cross head-on; IoU alone would swap or merge them
        a, b = _box(20 + 6 * t, 50), _box(200 - 6 * t, 56)
        out = trk.update(_dets([a, b]), t)
        ids = dict(zip(out.boxes[:, 0].round().tolist(), out.track_ids.tolist()))
        pair = (ids[round(a[0])], ids[round(b[0])])
        first = first or pair
        last = pair
    assert first == last == (1, 2)


def test_second_stage_keeps_a_track_through_low_scores():
    low = np.array([0.3])
    for name, kept in (("bytetrack", True), ("iou", False)):
        trk = create_tracker(name, high_thresh=0.5, low_thresh=0.1 if kept else 0.5)
        trk.update(_dets([_box(10, 10)]), 0)
        out = trk.update(_dets([_box(12, 10)], scores=low), 1)
        assert (out.track_ids.tolist() == [1]) is kept


def test_lost_track_is_found_again_then_ends_after_max_lost():
    trk = create_tracker("bytetrack", max_lost=5)
    for t in range(3):
        trk.update(_dets([_box(10 + 2 * t, 10)]), t)
    for t in range(3, 6):  # occluded for three frames
        assert len(trk.update(_dets([]), t)) == 0
    out = trk.update(_dets([_box(22, 10)]), 6)
    assert out.track_ids.tolist() == [1]
    for t in range(7, 14):
        trk.update(_dets([]), t)
    s = trk.summary()
    assert (s["tracks_started"], s["tracks_ended"], s["tracks_active"]) == (1, 1, 0)
    assert s["tracks"] == [{"id": 1, "label": "a", "first_frame": 0, "last_frame": 6, "frames": 4}]


def test_a_one_frame_false_positive_gets_no_id():
    trk = create_tracker("bytetrack")
    trk.update(_dets([_box(10, 10)]), 0)
    out = trk.update(_dets([_box(12, 10), _box(150, 100)]), 1)  # second box: new, unconfirmed
    assert out.track_ids.tolist() == [1]
    out = trk.update(_dets([_box(14, 10)]), 2)
    assert out.track_ids.tolist() == [1] and trk.summary()["tracks_started"] == 1
    out = trk.update(_dets([_box(16, 10), _box(150, 100)]), 3)
    out = trk.update(_dets([_box(18, 10), _box(151, 100)]), 4)
    assert out.track_ids.tolist() == [1]  # seen twice: not yet (bytetrack confirms at 3)
    out = trk.update(_dets([_box(20, 10), _box(152, 100)]), 5)  # three in a row: id 2
    assert out.track_ids.tolist() == [1, 2]


def test_class_aware_matching_starts_a_new_track_on_a_class_change():
    for aware, ids in ((False, [1]), (True, [])):
        trk = create_tracker("bytetrack", class_aware=aware)
        trk.update(_dets([_box(10, 10)], classes=[0]), 0)
        assert trk.update(_dets([_box(11, 10)], classes=[1]), 1).track_ids.tolist() == ids


def test_instance_masks_keep_their_rows_and_ids_reach_the_metadata():
    masks = np.zeros((2, 60, 80), bool)
    masks[0, :10, :10] = True
    masks[1, 30:, 40:] = True
    inst = InstanceMasks(
        [[0, 0, 10, 10], [40, 30, 80, 60]], [0.9, 0.2], [0, 1], ["a", "b"], (60, 80), masks=masks
    )
    trk = create_tracker("bytetrack")
    out = trk.update(inst, 0)  # the 0.2 box is below new_track_thresh: not tracked
    assert isinstance(out, InstanceMasks) and len(out) == 1
    assert out.masks[0].sum() == 100 and out.track_ids.tolist() == [1]
    d = out.to_dict()
    assert d["track_ids"] == [1] and len(d["masks_rle"]) == 1
    assert "track_ids" not in inst.to_dict()
    drawn = out.draw(np.zeros((60, 80, 3), np.uint8))
    assert drawn.any()


def test_results_check_track_ids():
    with pytest.raises(ValueError, match="track_ids"):
        Detections([[0, 0, 1, 1]], [0.5], [0], track_ids=[1, 2])
    d = Detections([[0, 0, 1, 1], [2, 2, 3, 3]], [0.5, 0.6], [0, 0], track_ids=[4, 7])
    assert d[[1]].track_ids.tolist() == [7]


def test_update_refuses_a_semantic_result():
    from edgevision.results import SemanticMask

    with pytest.raises(TypeError, match="Detections"):
        create_tracker("iou").update(SemanticMask(np.zeros((4, 4))))  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("name", "kw", "match"),
    [
        ("sort", {}, "unknown tracker 'sort'; trackers: bytetrack, iou"),
        ("bytetrack", {"max_age": 3}, "unknown tracker option"),
        ("bytetrack", {"low_thresh": 0.9}, "low_thresh"),
        ("bytetrack", {"match_iou": 0.0}, "match_iou"),
        ("iou", {"motion": "flow"}, "motion"),
        ("iou", {"max_lost": "x"}, "max_lost"),
        ("bytetrack", {"reid_reach": -1.0}, "reid_reach"),
        ("bytetrack", {"reid_dist": 1.5}, "reid_dist"),
        ("bytetrack", {"reid_reach": float("nan")}, "reid_reach"),
    ],
)
def test_bad_names_and_options_are_config_errors(name, kw, match):
    with pytest.raises(ConfigError, match=match):
        create_tracker(name, **kw)


def test_recovery_finds_an_object_that_stopped_while_unseen():
    """The Kalman filter carries a stopped object on; its last box still finds it."""
    for recover, ids in ((False, [2]), (True, [1])):
        trk = create_tracker("bytetrack", recover=recover, confirm_hits=2)
        for t in range(10):
            trk.update(_dets([_box(10 + 8 * t, 50, 30)]), t)
        for t in range(10, 16):  # unseen while the filter moves it 8 px per frame
            trk.update(_dets([]), t)
        trk.update(_dets([_box(82, 50, 30)]), 16)  # it stopped where it was last seen
        assert trk.update(_dets([_box(82, 50, 30)]), 17).track_ids.tolist() == ids


def _painted(boxes, colours, size=(200, 300)) -> np.ndarray:
    img = np.full((*size, 3), 90, np.uint8)
    for (x0, y0, x1, y1), c in zip(boxes, colours):
        img[int(y0) : int(y1), int(x0) : int(x1)] = c
    return img


def test_colour_features_tell_colours_apart():
    from edgevision.track.appearance import appearance_distance, colour_features

    red, red2, blue = (220, 30, 30), (200, 40, 35), (30, 40, 220)
    boxes = [_box(10, 10, 40), _box(100, 10, 40), _box(200, 100, 40)]
    f = colour_features(_painted(boxes, [red, red2, blue]), np.array(boxes))
    d = appearance_distance(f, f)
    assert f.shape == (3, 64) and np.allclose((f**2).sum(1), 1.0)
    assert d[0, 1] < 0.05 and d[0, 2] > 0.95 and np.allclose(np.diag(d), 0.0, atol=1e-6)
    outside = colour_features(np.zeros((50, 50, 3), np.uint8), np.array([[60.0, 60, 90, 90]]))
    assert not outside.any()
    with pytest.raises(ValueError, match="uint8 RGB"):
        colour_features(np.zeros((50, 50), np.uint8), np.array(boxes))
    with pytest.raises(ValueError, match="uint8 RGB"):
        colour_features(np.zeros((50, 50, 3), np.float32), np.array(boxes))


def test_appearance_keeps_ids_of_objects_that_trade_places():
    """Two overlapping boxes exchange positions in one frame: overlap alone keeps the ids on
    the positions (a swap); the colour cue keeps them on the objects. Only each box's centre
    is painted (what the cue samples; these centres do not overlap)."""
    left, right = _box(40, 40, 40), _box(66, 40, 40)  # IoU 0.21
    red, blue = (220, 30, 30), (30, 40, 220)

    def frame(at_left, at_right):
        return _painted([[48, 48, 72, 72], [74, 48, 98, 72]], [at_left, at_right])

    for appearance, want in ((0.0, [2, 1]), (1.0, [1, 2])):
        trk = create_tracker("bytetrack", appearance=appearance, match_iou=0.2)
        for t in range(5):
            out = trk.update(_dets([left, right]), t, image=frame(red, blue))
        assert out.track_ids.tolist() == [1, 2]
        # the red object (id 1) is now on the right, the blue one on the left
        out = trk.update(_dets([right, left]), 5, image=frame(blue, red))
        assert out.track_ids.tolist() == want
        # without the frame the same tracker matches by overlap alone (no error)
        assert len(trk.update(_dets([right, left]), 6)) == 2


def test_reidentification_finds_a_lost_object_by_colour_not_a_stranger():
    """A red object moving right is unseen for 6 frames and comes back below the path the
    filter predicted (it turned): too far for the IoU gate, so without re-identification it
    gets a new id. With it, the red box near the predicted one keeps id 1; a blue box in
    the same place is a stranger and gets a new id."""
    red, blue = (220, 30, 30), (30, 40, 220)
    back = _box(10 + 8 * 16, 95, 30)  # predicted near y=50; it comes back at y=95

    def run(reach: float, colour, check_restart: bool = False) -> int:
        trk = create_tracker("bytetrack", reid_reach=reach, confirm_hits=1)
        for t in range(10):
            b = _box(10 + 8 * t, 50, 30)
            trk.update(_dets([b]), t, image=_painted([b], [red]))
        for t in range(10, 16):
            trk.update(_dets([]), t, image=_painted([], []))
        out = trk.update(_dets([back]), 16, image=_painted([back], [colour]))
        if check_restart:  # the filter restarts at the detection: no velocity carried over
            row = int(np.flatnonzero(trk.ids == out.track_ids[0])[0])
            assert np.allclose(trk.mean[row, 4:], 0.0)
        nxt = [back[0] + 8, back[1], back[2] + 8, back[3]]
        out = trk.update(_dets([nxt]), 17, image=_painted([nxt], [colour]))
        return int(out.track_ids[0])

    assert run(0.0, red) == 2  # the IoU stages alone: a new id
    assert run(3.0, red, check_restart=True) == 1  # re-identified; its motion restarts there
    assert run(3.0, blue) == 2  # the colour gate keeps a stranger out
    assert run(1.0, red) == 2  # beyond the reach


def test_a_recovered_track_is_not_reidentified_to_a_second_detection():
    """With recovery on, a lost track matched by its last box leaves the re-identification
    stage: a second box of the same colour within reach gets a new id, never the same one."""
    red = (220, 30, 30)
    for recover in (False, True):
        trk = create_tracker("bytetrack", recover=recover, reid_reach=3.0, confirm_hits=1)
        for t in range(10):
            b = _box(10 + 8 * t, 50, 30)
            trk.update(_dets([b]), t, image=_painted([b], [red]))
        for t in range(10, 16):
            trk.update(_dets([]), t, image=_painted([], []))
        last, near = _box(82, 50, 30), _box(82, 95, 30)
        out = trk.update(_dets([last, near]), 16, image=_painted([last, near], [red, red]))
        ids = out.track_ids.tolist()
        assert len(ids) == 2 and len(set(ids)) == 2 and 1 in ids


def test_tracker_specs_carry_typed_options():
    from edgevision.track import parse_tracker

    assert parse_tracker("bytetrack") == ("bytetrack", {})
    name, opts = parse_tracker("bytetrack:appearance=0, max_lost=60,recover=yes")
    assert name == "bytetrack" and opts == {"appearance": 0.0, "max_lost": 60, "recover": True}
    assert isinstance(opts["appearance"], float) and isinstance(opts["max_lost"], int)
    trk = create_tracker("bytetrack:appearance=0,confirm_hits=1", confirm_hits=2)
    assert trk.cfg.appearance == 0.0 and trk.cfg.confirm_hits == 2  # keywords win
    assert trk.cfg.two_stage  # the rest stays bytetrack's


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bytetrack:max_lost", "option=value"),
        ("bytetrack:max_lost=many", "max_lost='many': expected an integer"),
        ("bytetrack:recover=maybe", "expected true or false"),
        ("bytetrack:speed=2", "unknown tracker option"),
        ("sort:max_lost=3", "unknown tracker 'sort'"),
    ],
)
def test_bad_tracker_specs_are_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        create_tracker(spec)
