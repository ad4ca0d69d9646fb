"""Per-frame AP over a tiny hand-made YouTube-VIS set (2 videos x 3 frames)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from edgevision.errors import DataError
from edgevision.evaluate.video import VideoEvaluator, ytvis_to_coco
from edgevision.results import InstanceMasks, rle_encode

H, W = 40, 56
CLASSES = ["person", "car"]


def rect(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


# (video id, category id) -> per-frame masks (None: instance absent in that frame)
TRACKS = {
    (10, 1): [rect(5, 20, 5, 15), rect(6, 21, 7, 17), None],
    (10, 2): [None, rect(25, 35, 20, 50), rect(24, 34, 22, 52)],
    (20, 2): [rect(2, 12, 30, 50), rect(3, 13, 30, 50), rect(4, 14, 31, 51)],
}


def compressed(m: np.ndarray) -> dict:
    import faster_coco_eval.core.mask as mask_utils

    enc = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": enc["size"], "counts": enc["counts"].decode()}


def make_ytvis() -> dict:
    anns = []
    for k, ((vid, cat), frames) in enumerate(TRACKS.items()):
        # three segmentation formats: uncompressed RLE, compressed RLE (string), polygons
        if k == 0:
            segs = [None if m is None else rle_encode(m) for m in frames]
        elif k == 1:
            segs = [None if m is None else compressed(m) for m in frames]
        else:
            segs = []
            for m in frames:
                ys, xs = np.nonzero(m)
                x0, y0, x1, y1 = (int(v) for v in (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
                segs.append([[x0, y0, x1, y0, x1, y1, x0, y1]])
        anns.append(
            {
                "id": k + 1,
                "video_id": vid,
                "category_id": cat,
                "iscrowd": 0,
                "height": H,
                "width": W,
                "length": 1,
                "segmentations": segs,
                "areas": [None if m is None else float(m.sum()) for m in frames],
                "bboxes": None if k == 0 else [None if m is None else box_xywh(m) for m in frames],
            }
        )
        if anns[-1]["bboxes"] is None:
            del anns[-1]["bboxes"]  # bboxes are derived from the masks
    return {
        "videos": [
            {
                "id": v,
                "height": H,
                "width": W,
                "length": 3,
                "file_names": [f"v{v}/{f:05d}.png" for f in range(3)],
            }
            for v in (10, 20)
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
        "annotations": anns,
    }


def box_xywh(m: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(m)
    return [
        float(xs.min()),
        float(ys.min()),
        float(xs.max() + 1 - xs.min()),
        float(ys.max() + 1 - ys.min()),
    ]


def frame_result(vid: int, f: int, shift: int = 0) -> InstanceMasks:
    masks, classes = [], []
    for (v, cat), frames in TRACKS.items():
        if v == vid and frames[f] is not None:
            masks.append(np.roll(frames[f], shift, axis=1))
            classes.append(cat - 1)
    if not masks:
        return InstanceMasks.empty(CLASSES, (H, W))
    boxes = []
    for m in masks:
        x, y, w, h = box_xywh(m)
        boxes.append([x, y, x + w, y + h])
    return InstanceMasks(boxes, [0.9] * len(masks), classes, CLASSES, (H, W), masks=np.stack(masks))


def test_ytvis_to_coco_mapping():
    yt = make_ytvis()
    before = copy.deepcopy(yt)
    coco, id_map = ytvis_to_coco(yt)
    assert yt == before
    assert id_map == {(10, 0): 1, (10, 1): 2, (10, 2): 3, (20, 0): 4, (20, 1): 5, (20, 2): 6}
    assert [im["file_name"] for im in coco["images"]][:2] == ["v10/00000.png", "v10/00001.png"]
    assert coco["images"][3]["video_id"] == 20 and coco["images"][3]["frame_index"] == 0
    # 2 + 2 + 3 visible (instance, frame) pairs
    assert len(coco["annotations"]) == 7
    assert sorted(a["image_id"] for a in coco["annotations"]) == [1, 2, 2, 3, 4, 5, 6]


def test_perfect_per_frame_predictions(tmp_path):
    path = tmp_path / "ytvis_val.json"
    path.write_text(json.dumps(make_ytvis()))
    ev = VideoEvaluator(path)
    for vid in (10, 20):
        for f in range(3):
            ev.add(vid, f, frame_result(vid, f))
    out = ev.summarize()
    assert out["bbox"]["AP"] == pytest.approx(1.0)
    assert out["segm"]["AP"] == pytest.approx(1.0)
    assert out["segm"]["num_images"] == 6


def test_shifted_and_missing_frames_score_lower():
    ev = VideoEvaluator(make_ytvis(), ("segm",))
    for vid in (10, 20):
        for f in range(3):
            ev.add(vid, f, frame_result(vid, f, shift=3))
    shifted = ev.summarize()["segm"]["AP"]
    assert 0.0 < shifted < 1.0

    ev = VideoEvaluator(make_ytvis(), ("segm",))
    for vid in (10, 20):
        for f in range(3):
            r = frame_result(vid, f)
            ev.add(vid, f, r if (vid, f) != (20, 1) else InstanceMasks.empty(CLASSES, (H, W)))
    out = ev.summarize()["segm"]
    # recall per category: person 2/2, car 4/5 (one of its 5 visible frames has no result)
    assert out["AP"] < 1.0 and out["AR100"] == pytest.approx((1 + 4 / 5) / 2)


def test_errors():
    ev = VideoEvaluator(make_ytvis())
    with pytest.raises(DataError, match="video id 99"):
        ev.add(99, 0, frame_result(10, 0))
    with pytest.raises(DataError, match="frame 3 out of range"):
        ev.add(10, 3, frame_result(10, 0))
    bad = make_ytvis()
    bad["annotations"][0]["segmentations"] = bad["annotations"][0]["segmentations"][:2]
    with pytest.raises(DataError, match="2 segmentations for a 3-frame video"):
        ytvis_to_coco(bad)
    bad = make_ytvis()
    bad["annotations"][0]["video_id"] = 5
    with pytest.raises(DataError, match="unknown video 5"):
        ytvis_to_coco(bad)
    with pytest.raises(DataError, match="missing 'videos'"):
        ytvis_to_coco({"categories": []})


def test_evaluate_video_frames_scores_every_frame_of_every_video(tmp_path):
    """An oracle predictor (the frame's own truth) scores AP 1 over all frames; a model
    whose classes the videos do not name, or that returns no boxes, is refused."""
    import hashlib
    from types import SimpleNamespace

    from edgevision.data.synth import SynthConfig, generate
    from edgevision.data.ytvis import YtvisDataset, ytvis_layout
    from edgevision.errors import EdgeVisionError
    from edgevision.evaluate.video import evaluate_video_frames
    from edgevision.results import SemanticMask

    root = tmp_path / "vids"
    cfg = SynthConfig(seed=4, image_size=(48, 64), train_images=0, val_images=0,
                      train_videos=0, val_videos=2, frames=3, write_mp4=False)  # fmt: skip
    generate(root, cfg, progress=False)
    ds = YtvisDataset(*ytvis_layout(root, "val"))
    names = list(ds.class_names)
    truth = {}
    for i in range(len(ds)):
        s = ds[i]
        for t in range(len(s)):
            g = s.targets[t]
            key = hashlib.sha1(s.read_frame(t).tobytes()).digest()
            truth[key] = InstanceMasks(
                g.boxes, np.ones(len(g.boxes)), g.class_ids, names, (48, 64), masks=g.masks
            )

    class Oracle:
        spec = SimpleNamespace(task="instance", class_names=names, name="oracle")

        def __call__(self, image):
            return truth[hashlib.sha1(image.tobytes()).digest()]

    rep = evaluate_video_frames(Oracle(), root, progress=False)
    assert rep.num_images == 6 and rep.sequences == {"video1": 3, "video2": 3}
    assert rep.metrics["segm"]["AP"] == pytest.approx(1.0)
    assert rep.metrics["bbox"]["AP"] == pytest.approx(1.0)
    assert evaluate_video_frames(Oracle(), root, max_videos=1, progress=False).num_images == 3

    bad = Oracle()
    bad.spec = SimpleNamespace(task="instance", class_names=["zebra"], name="x")
    with pytest.raises(DataError, match="zebra"):
        evaluate_video_frames(bad, root, progress=False)

    class Semantic(Oracle):
        def __call__(self, image):
            return SemanticMask(np.zeros(image.shape[:2], np.int64))

    with pytest.raises(EdgeVisionError, match="detection or instance model"):
        evaluate_video_frames(Semantic(), root, progress=False)
    with pytest.raises(DataError):
        evaluate_video_frames(Oracle(), tmp_path / "nope", progress=False)
