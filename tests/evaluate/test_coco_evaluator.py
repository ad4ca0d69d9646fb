"""CocoEvaluator (faster-coco-eval) on tiny hand-made ground truth."""

from __future__ import annotations

import copy
import importlib.util
import json

import numpy as np
import pytest

from edgevision.errors import DataError
from edgevision.evaluate.coco import CocoEvaluator
from edgevision.results import Detections, InstanceMasks, rle_encode

H, W = 48, 64
CLASSES = ["cat", "dog"]


def rect(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def disk(cy, cx, r) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# image id -> [(class index, mask)]
OBJECTS = {
    1: [(0, rect(4, 20, 5, 30)), (1, disk(32, 45, 9))],
    2: [(1, rect(10, 40, 10, 22)), (0, rect(2, 12, 40, 60))],
    3: [(0, disk(24, 20, 12))],
}


def tight_box(m: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(m)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def make_gt() -> dict:
    anns = []
    for img_id, objs in OBJECTS.items():
        for c, m in objs:
            x1, y1, x2, y2 = tight_box(m)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": [3, 7][c],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(m.sum()),
                    "iscrowd": 0,
                    "segmentation": rle_encode(m),
                }
            )
    return {
        "images": [{"id": i, "file_name": f"{i}.png", "height": H, "width": W} for i in OBJECTS],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
        "annotations": anns,
    }


CAT_IDS = [3, 7]  # model class index -> COCO category id


def perfect(img_id: int, shift: float = 0.0) -> InstanceMasks:
    objs = OBJECTS[img_id]
    masks = np.stack([np.roll(m, int(shift), axis=1) for _, m in objs])
    boxes = np.array([tight_box(m) for m in masks], np.float32)
    return InstanceMasks(
        boxes,
        np.linspace(0.9, 0.5, len(objs)),
        [c for c, _ in objs],
        CLASSES,
        (H, W),
        masks=masks,
    )


def test_perfect_predictions_give_ap_one():
    gt = make_gt()
    before = copy.deepcopy(gt)
    ev = CocoEvaluator(gt, ("bbox", "segm"), category_ids=CAT_IDS)
    for i in OBJECTS:
        ev.add(i, perfect(i))
    out = ev.summarize()
    assert set(out) == {"bbox", "segm"}
    for t in ("bbox", "segm"):
        assert out[t]["AP"] == pytest.approx(1.0)
        assert out[t]["AP50"] == pytest.approx(1.0)
        assert out[t]["AP75"] == pytest.approx(1.0)
        assert out[t]["per_class_AP"] == pytest.approx({"cat": 1.0, "dog": 1.0})
        assert np.isnan(out[t]["APl"])  # no large objects in this GT
        assert out[t]["num_images"] == 3
    assert gt == before  # the caller's dict is not modified


def test_shifted_predictions_lower_ap():
    ev = CocoEvaluator(make_gt(), ("bbox", "segm"), category_ids=CAT_IDS)
    for i in OBJECTS:
        ev.add(i, perfect(i, shift=4))
    out = ev.summarize()
    for t in ("bbox", "segm"):
        assert 0.0 < out[t]["AP"] < 1.0
        assert out[t]["AP50"] >= out[t]["AP75"] >= 0
        assert out[t]["AP50"] > out[t]["AP"]


def test_empty_predictions_give_zero_not_crash():
    ev = CocoEvaluator(make_gt(), ("bbox", "segm"), category_ids=CAT_IDS)
    for i in OBJECTS:
        ev.add(i, InstanceMasks.empty(CLASSES, (H, W)))
    out = ev.summarize()
    assert out["bbox"]["AP"] == 0.0 and out["segm"]["AP"] == 0.0
    # nothing added at all: every GT image is evaluated, all objects missed
    assert CocoEvaluator(make_gt()).summarize()["bbox"]["AP"] == 0.0


def test_only_added_images_are_scored():
    ev = CocoEvaluator(make_gt(), category_ids=CAT_IDS)
    ev.add(1, Detections(perfect(1).boxes, [0.9, 0.8], [0, 1], CLASSES, (H, W)))
    out = ev.summarize()["bbox"]
    assert out["AP"] == pytest.approx(1.0) and out["num_images"] == 1
    assert ev.image_ids == [1]


def test_default_category_ids_and_raw_results(tmp_path):
    gt = make_gt()
    for a in gt["annotations"]:
        a["category_id"] = {3: 1, 7: 2}[a["category_id"]]
    gt["categories"] = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    ev = CocoEvaluator(path, ("bbox", "segm"))  # class c -> category c + 1
    for i in OBJECTS:
        ev.add(i, perfect(i))
    assert ev.summarize()["segm"]["AP"] == pytest.approx(1.0)
    raw = CocoEvaluator(path, ("bbox", "segm"))
    raw.add_results([d for i in OBJECTS for d in perfect(i).to_coco(i)], image_ids=list(OBJECTS))
    assert raw.summarize()["segm"]["AP"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="not listed"):
        raw.add_results(perfect(1).to_coco(1), image_ids=[2])
    with pytest.raises(DataError, match="segm evaluation needs 'segmentation'"):
        box_only = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}
        raw.add_results([box_only], image_ids=[1])


def test_gt_with_polygons_compressed_rle_and_missing_area():
    import faster_coco_eval.core.mask as mask_utils

    gt = make_gt()
    a0, a1 = gt["annotations"][0], gt["annotations"][2]
    # rect(4, 20, 5, 30) as a polygon, and a compressed (string) RLE
    a0["segmentation"] = [[5, 4, 30, 4, 30, 20, 5, 20]]
    enc = mask_utils.encode(np.asfortranarray(OBJECTS[2][0][1].astype(np.uint8)))
    a1["segmentation"] = {"size": enc["size"], "counts": enc["counts"].decode()}
    for a in gt["annotations"]:
        a.pop("area")
    ev = CocoEvaluator(gt, ("bbox", "segm"), category_ids=CAT_IDS)
    for i in OBJECTS:
        ev.add(i, perfect(i))
    out = ev.summarize()
    assert out["bbox"]["AP"] == pytest.approx(1.0)
    assert out["segm"]["AP50"] == pytest.approx(1.0)


def test_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        CocoEvaluator(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        CocoEvaluator(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="iou_types"):
        CocoEvaluator(make_gt(), ("keypoints",))
    with pytest.raises(DataError, match=r"category ids \[9\]"):
        CocoEvaluator(make_gt(), category_ids=[3, 9])
    boxes_only = make_gt()
    for a in boxes_only["annotations"]:
        del a["segmentation"]
    with pytest.raises(DataError, match="no segmentation"):
        CocoEvaluator(boxes_only, ("segm",))
    ev = CocoEvaluator(make_gt(), ("bbox", "segm"), category_ids=CAT_IDS)
    with pytest.raises(DataError, match="image id 99"):
        ev.add(99, perfect(1))
    with pytest.raises(TypeError, match="InstanceMasks"):
        ev.add(1, Detections.empty(CLASSES, (H, W)))
    with pytest.raises(DataError, match="24x64 image"):
        ev.add(1, InstanceMasks.empty(CLASSES, (24, 64)))
    ev.add(1, perfect(1))
    with pytest.raises(DataError, match="image 1 was already added"):
        ev.add(1, perfect(1))
    bad = perfect(2)
    bad.class_ids[:] = 5
    with pytest.raises(DataError, match="class id 5"):
        ev.add(2, bad)


def test_verbose_prints_only_when_asked(capsys):
    ev = CocoEvaluator(make_gt(), category_ids=CAT_IDS)
    ev.add(1, perfect(1))
    ev.summarize()
    assert capsys.readouterr().out == ""
    ev.verbose = True
    ev.summarize()
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("pycocotools") is None, reason="needs pycocotools")
def test_matches_pycocotools():
    """Noisy predictions scored by faster-coco-eval and by pycocotools agree."""
    from pycocotools import mask as pmask
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    results = {}
    for i, objs in OBJECTS.items():
        masks, boxes, classes = [], [], []
        for c, m in objs:
            for _ in range(3):  # duplicates with jitter, plus a wrong class now and then
                mm = np.roll(m, tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
                masks.append(mm)
                boxes.append(np.array(tight_box(mm)) + rng.normal(0, 1.5, 4))
                classes.append(c if rng.random() > 0.2 else 1 - c)
        results[i] = InstanceMasks(
            np.array(boxes), rng.random(len(boxes)), classes, CLASSES, (H, W), masks=np.stack(masks)
        )
    ev = CocoEvaluator(make_gt(), ("bbox", "segm"), category_ids=CAT_IDS)
    for i, r in results.items():
        ev.add(i, r)
    ours = ev.summarize()

    gt = COCO()
    gt.dataset = make_gt()
    gt.createIndex()
    for t in ("bbox", "segm"):
        dets = []
        for i, r in results.items():
            for d in r.to_coco(i, CAT_IDS):
                d["segmentation"] = pmask.frPyObjects(d["segmentation"], H, W)
                if t == "segm":
                    d.pop("bbox")
                dets.append(d)
        e = COCOeval(gt, gt.loadRes(dets), t)
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            e.evaluate()
            e.accumulate()
            e.summarize()
        ref = dict(zip(["AP", "AP50", "AP75", "APs", "APm", "APl"], e.stats[:6]))
        for k, v in ref.items():
            got = ours[t][k]
            assert (np.isnan(got) and v == -1) or got == pytest.approx(v, abs=1e-6), (t, k)
        assert 0.0 < ours[t]["AP"] < 1.0
