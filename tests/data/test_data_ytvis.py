"""YtvisDataset on the synth output and on malformed files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevision.data.synth import THING_CLASSES
from edgevision.data.ytvis import YtvisDataset, ytvis_layout
from edgevision.errors import DataError
from edgevision.io import read_mask
from edgevision.results import InstanceMasks


def test_round_trip_against_frame_labels(synth_dir):
    ds = YtvisDataset(*ytvis_layout(synth_dir, "train"))
    assert len(ds) == 1 and ds.class_names == list(THING_CLASSES)
    v = ds[0]
    assert len(v) == 4 and v.image_size == (64, 80)
    raw = json.loads((synth_dir / "annotations/ytvis_train.json").read_text())
    inst_of_track = {a["id"]: a["instance_id"] for a in raw["annotations"]}
    seen: dict[int, int] = {}
    for t, (frame, target, tracks) in enumerate(zip(v.frames, v.targets, v.track_ids)):
        assert isinstance(target, InstanceMasks) and len(tracks) == len(target)
        assert v.read_frame(t).shape == (64, 80, 3)
        inst = read_mask(frame.parent / "instances" / frame.name)
        sem = read_mask(frame.parent / "labels" / frame.name)
        painted = np.zeros_like(sem)
        for m, c, tid in zip(target.masks, target.class_ids, tracks):
            assert np.array_equal(m, inst == inst_of_track[int(tid)])  # same object, same id
            painted[m] = c + 1
            assert seen.setdefault(int(tid), int(c)) == int(c)  # class constant along a track
            ys, xs = np.nonzero(m)
            box = target.boxes[list(tracks).index(tid)]
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert np.array_equal(painted, sem)
    assert set(seen) == set(inst_of_track)


def _video_file(tmp_path, **ann_changes):
    (tmp_path / "v").mkdir(exist_ok=True)
    ann = {
        "id": 1,
        "video_id": 1,
        "category_id": 2,
        "segmentations": [None, None],
        "bboxes": [None, None],
        "areas": [None, None],
    }
    ann.update(ann_changes)
    data = {
        "videos": [{"id": 1, "width": 4, "height": 3, "file_names": ["v/0.png", "v/1.png"]}],
        "annotations": [ann],
        "categories": [{"id": 2, "name": "thing"}],
    }
    p = tmp_path / "ytvis.json"
    p.write_text(json.dumps(data))
    return p


def test_absent_frames_and_missing_boxes(tmp_path):
    seg = {"size": [3, 4], "counts": [4, 2, 6]}  # column-major: pixels (1,1), (2,1)
    p = _video_file(tmp_path, segmentations=[None, seg], bboxes=None)
    v = YtvisDataset(p, tmp_path)[0]
    assert len(v.targets[0]) == 0 and v.track_ids[0].size == 0
    assert v.track_ids[1].tolist() == [1]
    assert v.targets[1].boxes.tolist() == [[1, 1, 2, 3]]  # from the mask
    assert v.frames[1] == tmp_path / "v/1.png"


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"category_id": 5}, "unknown category id 5"),
        ({"video_id": 9}, "field 'video_id' 9"),
        ({"segmentations": [None]}, "'segmentations' has 1 entries, video 1 has 2 frames"),
        ({"bboxes": [None]}, "field 'bboxes'"),
    ],
)
def test_malformed(tmp_path, changes, pattern):
    with pytest.raises(DataError, match=pattern) as e:
        YtvisDataset(_video_file(tmp_path, **changes), tmp_path)
    assert "ytvis.json" in str(e.value)
