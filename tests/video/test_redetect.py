"""Re-detection on non-keyframes (``--propagate dis:medium+redetect[:PREC]``): parsing, box
matching, the fusion with propagated masks, sessions on tiny component graphs, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import ConfigError
from edgevision.results import Detections, InstanceMasks
from edgevision.video.core import PROPAGATE_FLOWS
from edgevision.video.redetect import Redetect, fuse_redetections, match_boxes, parse_propagate


def test_parse_propagate():
    assert parse_propagate("dis:medium", PROPAGATE_FLOWS) == ("dis:medium", None)
    assert parse_propagate("none", PROPAGATE_FLOWS) == (False, None)
    assert parse_propagate(True, PROPAGATE_FLOWS) == (True, None)
    assert parse_propagate("dis:medium+redetect", PROPAGATE_FLOWS) == ("dis:medium", Redetect())
    flow, cfg = parse_propagate("dis+redetect:small", PROPAGATE_FLOWS)
    assert flow == "dis" and cfg == Redetect("small") and cfg.describe() == "redetect:small"
    for bad, msg in (("dis:slow", "propagate must be"), ("dis+redo", "only redetect"),
                     ("featflownet+redetect", "DIS flow"), ("dis+redetect:fp16", "precision")):  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            parse_propagate(bad, PROPAGATE_FLOWS)
    for kw in ({"iou": 1.5}, {"decay": -0.1}, {"new": "later"}):
        with pytest.raises(ConfigError):
            Redetect(**kw)  # type: ignore[arg-type]


def test_match_boxes_one_to_one_best_first():
    prop = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [100, 100, 110, 110]], np.float32)
    det = np.array([[1, 1, 11, 11], [0, 0, 10, 9], [21, 20, 31, 30], [50, 50, 60, 60]], np.float32)
    # det 0 takes prop 0; det 1 overlaps prop 0 more but it is taken; det 3 overlaps nothing
    assert match_boxes(det, prop, 0.5).tolist() == [0, -1, 1, -1]
    assert match_boxes(det, prop, 0.9).tolist() == [-1, 0, -1, -1]
    assert match_boxes(det[:0], prop, 0.5).tolist() == []
    assert match_boxes(det, prop[:0], 0.5).tolist() == [-1] * 4


def _objects(boxes, scores, classes, size=(40, 60)):
    h, w = size
    masks = np.zeros((len(boxes), h, w), bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        masks[i, y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = True
    return InstanceMasks(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                         np.asarray(classes, np.int64), ["a", "b"], size, masks=masks)  # fmt: skip


def test_fuse_takes_new_boxes_keeps_propagated_masks_and_decays_the_rest():
    prop = _objects([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [0, 1])
    det = Detections(np.array([[21, 20, 31, 31], [40, 5, 50, 15]], np.float32),
                     np.array([0.7, 0.6], np.float32), np.array([1, 0]), ["a", "b"],
                     (40, 60))  # fmt: skip
    match = match_boxes(det.boxes, prop.boxes, 0.5)
    assert match.tolist() == [1, -1]
    out = fuse_redetections(prop, det, match, Redetect(decay=0.5))
    # the matched object: new box, score and class, the propagated mask; the unmatched
    # propagated one at half its score; the unmatched new box waits (no masks given)
    assert out.scores.tolist() == pytest.approx([0.7, 0.45])
    np.testing.assert_array_equal(out.boxes[0], det.boxes[0])
    np.testing.assert_array_equal(out.masks[0], prop.masks[1])
    np.testing.assert_array_equal(out.masks[1], prop.masks[0])
    assert out.class_ids.tolist() == [1, 0]
    gone = fuse_redetections(prop, det, match, Redetect(decay=0.0))
    assert len(gone) == 1  # decay 0: the unmatched propagated object disappears
    new = _objects([[40, 5, 50, 15]], [0.95], [0])
    withnew = fuse_redetections(prop, det, match, Redetect(), new)
    assert withnew.scores.tolist() == pytest.approx([0.95, 0.7, 0.45])  # by score
    np.testing.assert_array_equal(withnew.masks[0], new.masks[0])
    empty = fuse_redetections(prop[:0], det[:0], match[:0], Redetect())
    assert len(empty) == 0 and empty.masks.shape == (0, 40, 60)


def _frames(n=5):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    return [np.roll(base, 2 * t, axis=1) for t in range(n)]


def test_session_redetects_without_protonet(fp32_and_mixed):
    from edgevision.video.ort import OrtVideoSession

    fp32, mixed = fp32_and_mixed
    frames = _frames()
    kw = dict(threads=1, keyframes="fixed:3", conf_threshold=0.0, max_det=10)
    # new objects wait for the next keyframe: keyframes 0 and 3, the detector on the others
    s = OrtVideoSession(fp32, engines=[mixed], propagate="dis:medium+redetect:mixed",
                        redetect=Redetect(new="drop"), **kw)  # fmt: skip
    seen = []
    for f in frames:
        r = s(f)
        assert r.masks.shape[1:] == f.shape[:2]
        seen.append((s.last.keyframe, s.last.precision))
    assert seen == [(True, "fp32"), (False, "mixed"), (False, "mixed"), (True, "fp32"),
                    (False, "mixed")]  # fmt: skip
    assert s.counts["redetect"] == s.counts["propagate"] == 3
    assert s.counts["protonet"] == s.counts["keyframes"] == 2  # no ProtoNet on non-keyframes
    assert s.counts["backbone_lower"] == s.counts["head"] == 5
    # every box is new (IoU 1 matches nothing, any score counts): each frame turns into a
    # keyframe from its own detector pass, ProtoNet added, nothing run twice
    k = OrtVideoSession(fp32, propagate="dis:medium+redetect",
                        redetect=Redetect(iou=1.0, min_score=0.0), **kw)  # fmt: skip
    plain = OrtVideoSession(fp32, keyframes="none", threads=1, conf_threshold=0.0, max_det=10)
    for f in frames:
        a, b = k(f), plain(f)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.masks, b.masks)
    assert k.counts["keyframes"] == 5 and k.counts["backbone_lower"] == 5
    assert k.counts["protonet"] == 5 and k.counts["redetect"] == 0
    # new objects from the keyframe's prototypes: never a keyframe in between
    p = OrtVideoSession(fp32, propagate="dis:medium+redetect",
                        redetect=Redetect(iou=1.0, min_score=0.0, new="protos"), **kw)  # fmt: skip
    for f in frames:
        r = p(f)
    assert p.counts["keyframes"] == 2 and p.counts["redetect"] == 3 and len(r) > 0
    with pytest.raises(ConfigError, match=r"propagate dis:medium\+redetect:int8 needs an engine"):
        OrtVideoSession(fp32, engines=[mixed], propagate="dis:medium+redetect:int8", **kw)
    with pytest.raises(ConfigError, match="redetect settings need"):
        OrtVideoSession(fp32, propagate="dis:medium", redetect=Redetect(), **kw)


def test_cli_compare_with_redetect(fp32_and_mixed, video_set, tmp_path, capsys):
    import json

    from edgevision.cli.main import main

    fp32, mixed = fp32_and_mixed
    base = ["video", str(fp32), "--data", str(video_set), "--threads", "1",
            "--precision-engines", str(mixed)]  # fmt: skip
    out = tmp_path / "r.json"
    assert main([*base, "--compare", "--propagate", "dis:medium+redetect:mixed",
                 "--keyframes", "fixed:3", "--json", str(out)]) == 0  # fmt: skip
    runs = json.loads(out.read_text())["runs"]
    asked = [r for r in runs if r["propagate"] == "dis:medium+redetect:mixed"]
    assert runs[0]["keyframes"] == "none" and runs[1]["default"] and len(asked) == 2
    assert asked[0]["keyframes"] == "fixed:3" and asked[0]["mask_ap"] is not None
    assert "none" not in asked[0]["precision_share"]  # a network ran on every frame
    assert "dis:medium+redetect:mixed" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # an argparse usage error
        main([*base, "--propagate", "featflownet+redetect"])
    assert e.value.code == 2 and "DIS flow" in capsys.readouterr().err
