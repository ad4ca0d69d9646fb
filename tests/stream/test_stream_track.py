"""``run --track``: per-stream trackers in the output stage, ids in JSONL and the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevision.errors import ConfigError
from edgevision.results import InstanceMasks
from edgevision.stream.pipeline import RunConfig, run_stream

pytestmark = pytest.mark.gst


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_track_ids_reach_jsonl_and_the_summary(tiny_video, tmp_path, stub_module):
    cfg = RunConfig(
        [str(tiny_video), str(tiny_video)],
        "stub",
        meta=str(tmp_path / "o.jsonl"),
        summary=str(tmp_path / "s.json"),
        track="bytetrack",
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    lines = _jsonl(tmp_path / "o.jsonl")
    assert len(lines) == 48
    # one still box per stream: track 1 in each stream's own tracker, from the first frame
    assert {tuple(d["result"]["track_ids"]) for d in lines} == {(1,)}
    for st in json.loads((tmp_path / "s.json").read_text())["streams"]:
        t = st["tracking"]
        assert (t["tracker"], t["tracks_started"], t["tracks_active"]) == ("bytetrack", 1, 1)
        assert t["tracks"] == [
            {"id": 1, "label": "thing", "first_frame": 0, "last_frame": 23, "frames": 24}
        ]
    assert 24 <= s["stages_ms"]["track"]["n"] <= 48  # timed once per batch of frames


def test_stateful_sessions_are_tracked_too(tiny_video, tmp_path, stub_module):
    """Video mode runs a session per stream; its (propagated) masks keep their ids."""

    class Moving(stub_module.Stub):
        task = "instance"

        def new_stream(self, stream_id):
            n = [0]

            def session(frame):
                h, w = frame.shape[:2]
                x = 10 + 2 * n[0]
                n[0] += 1
                m = np.zeros((1, h, w), bool)
                m[0, 20:40, x : x + 20] = True
                return InstanceMasks([[x, 20, x + 20, 40]], [0.8], [0], ["thing"], (h, w), masks=m)

            return session

    cfg = RunConfig(
        [str(tiny_video)], "moving", meta=str(tmp_path / "o.jsonl"), track="iou", meta_masks=True
    )
    run_stream(cfg, plugin=Moving(), progress=False)
    lines = _jsonl(tmp_path / "o.jsonl")
    assert len(lines) == 24
    assert all(d["result"]["track_ids"] == [1] for d in lines)
    assert all(len(d["result"]["masks_rle"]) == 1 for d in lines)


def test_track_refuses_a_segmentation_model_and_unknown_trackers(tiny_video, stub_module):
    class Seg(stub_module.Stub):
        task = "semantic"

    with pytest.raises(ConfigError, match="--track needs a detection or instance model"):
        run_stream(RunConfig([str(tiny_video)], "s", track="iou"), plugin=Seg(), progress=False)
    with pytest.raises(ConfigError, match="unknown tracker 'sort'"):
        run_stream(RunConfig([str(tiny_video)], "s", track="sort"), plugin=Seg(), progress=False)
