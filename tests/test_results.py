from __future__ import annotations

import numpy as np
import pytest

from edgevision.results import (
    Detections,
    InstanceMasks,
    SemanticMask,
    class_palette,
    palette,
    rle_decode,
    rle_encode,
)


def _dets():
    return Detections(
        boxes=[[10, 20, 50, 60], [0, 0, 5, 5]],
        scores=[0.9, 0.3],
        class_ids=[1, 0],
        class_names=["cat", "dog"],
        image_size=(100, 120),
    )


def test_detections_validation_and_selection():
    d = _dets()
    assert len(d) == 2 and d.boxes.dtype == np.float32 and d.class_ids.dtype == np.int64
    keep = d[d.scores > 0.5]
    assert len(keep) == 1 and keep.label(0) == "dog"
    assert len(Detections.empty(["a"], (4, 4))) == 0
    with pytest.raises(ValueError, match="same length"):
        Detections(boxes=[[0, 0, 1, 1]], scores=[1, 2], class_ids=[0])


def test_detections_to_coco_xywh_and_category_map():
    coco = _dets().to_coco(7, category_ids=[11, 12])
    assert coco[0] == {
        "image_id": 7,
        "category_id": 12,
        "bbox": [10.0, 20.0, 40.0, 40.0],
        "score": pytest.approx(0.9),
    }
    assert _dets().to_coco(1)[1]["category_id"] == 1  # default: index + 1


def test_rle_round_trip_column_major():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (1, 1), (13, 4)]:
        m = rng.random(shape) > 0.5
        rle = rle_encode(m)
        assert rle["size"] == list(shape)
        assert sum(rle["counts"]) == m.size
        np.testing.assert_array_equal(rle_decode(rle), m)
    # known value: first column [1,0], second [1,1] in a 2x2 mask -> F order 1,0,1,1
    assert rle_encode(np.array([[1, 1], [0, 1]], bool))["counts"] == [0, 1, 1, 2]


def test_instance_masks_shape_checks_and_coco():
    masks = np.zeros((2, 100, 120), bool)
    masks[0, 20:60, 10:50] = True
    inst = InstanceMasks(
        **{
            k: getattr(_dets(), k)
            for k in ("boxes", "scores", "class_ids", "class_names", "image_size")
        },
        masks=masks,
    )
    seg = inst.to_coco(3)[0]["segmentation"]
    np.testing.assert_array_equal(rle_decode(seg), masks[0])
    assert len(inst[[1]].masks) == 1
    with pytest.raises(ValueError, match="masks"):
        InstanceMasks(boxes=[[0, 0, 1, 1]], scores=[1], class_ids=[0], masks=np.zeros((2, 4, 4)))
    assert InstanceMasks.empty(["a"], (4, 5)).masks.shape == (0, 4, 5)


def test_semantic_mask_draw_and_export():
    cm = np.zeros((4, 6), np.int64)
    cm[:, 3:] = 1
    cm[0, 0] = 255
    sm = SemanticMask(cm, ["road", "car"])
    assert sm.present_classes() == [0, 1]
    img = np.full((4, 6, 3), 100, np.uint8)
    out = sm.draw(img)
    assert out.shape == img.shape and (out[0, 0] == 100).all() and not (out[1, 4] == 100).all()
    coco = sm.to_coco(1)
    assert [c["category_id"] for c in coco] == [1, 2]
    assert sm.to_dict()["class_fractions"]["car"] == pytest.approx(12 / 24)
    with pytest.raises(ValueError, match="image is"):
        sm.draw(np.zeros((5, 6, 3), np.uint8))


def test_drawing_changes_pixels_and_keeps_input():
    img = np.zeros((100, 120, 3), np.uint8)
    out = _dets().draw(img)
    assert out.shape == img.shape and out.any() and not img.any()


def test_palette_is_deterministic_and_distinct():
    p = palette(12)
    assert p.shape == (12, 3) and p.dtype == np.uint8
    assert len({tuple(c) for c in p}) == 12
    np.testing.assert_array_equal(p, palette(12))


def test_class_palette_uses_the_dataset_colours_of_the_class_names():
    from edgevision.classnames import CAMVID_CLASSES

    cam = class_palette(CAMVID_CLASSES)
    assert cam.shape == (11, 3) and cam.dtype == np.uint8
    assert tuple(cam[3]) == (128, 64, 128) and tuple(cam[8]) == (64, 0, 128)  # Road, Car
    # ids beyond the names get distinct colours; unknown names get palette(n)
    assert class_palette(CAMVID_CLASSES, 13).shape == (13, 3)
    np.testing.assert_array_equal(class_palette(["a", "b"], 3), palette(3))
    np.testing.assert_array_equal(class_palette(CAMVID_CLASSES, dataset="distinct"), palette(11))


def test_drawing_takes_explicit_class_colours():
    cm = np.full((4, 6), 1, np.int64)
    sm = SemanticMask(cm, ["sky", "road"])
    red = np.array([[0, 0, 0], [255, 0, 0]], np.uint8)
    out = sm.draw(np.zeros((4, 6, 3), np.uint8), alpha=1.0, colours=red)
    assert (out == [255, 0, 0]).all()
    # by default a dataset palette names the classes (road: 128, 64, 128 in CamVid and
    # Cityscapes alike)
    assert (sm.draw(np.zeros((4, 6, 3), np.uint8), alpha=1.0) == [128, 64, 128]).all()
    img = np.zeros((100, 120, 3), np.uint8)
    green = np.array([[0, 255, 0], [0, 255, 0]], np.uint8)
    box = _dets()[[0]].draw(img, colours=green)  # class 1, box 10,20 - 50,60
    assert tuple(box[40, 10]) == (0, 255, 0)


def test_to_dict_rounds_in_float64_without_float32_noise():
    d = Detections([[339.47, 1.234567, 3, 4]], [0.912345], [0], ["a"], (10, 10)).to_dict()
    assert d["boxes"] == [[339.47, 1.23, 3.0, 4.0]]  # float32 339.47 is 339.4700012207031
    assert d["scores"] == [0.9123]


def test_semantic_to_dict_components_and_coco_rle_label_masks():
    from edgevision.data.coco import decode_segmentation

    cm = np.zeros((6, 8), np.int64)
    cm[0:2, 0:2] = 1  # two separate cars
    cm[4:, 5:] = 1
    cm[3, 3] = 255  # ignored: neither counted nor exported
    sm = SemanticMask(cm, ["road", "car"])
    d = sm.to_dict()
    assert d["components"] == {"road": 1, "car": 2}
    assert set(d["class_fractions"]) == set(d["masks_rle"]) == {"road", "car"}
    rle = d["masks_rle"]["car"]
    assert isinstance(rle["counts"], str)  # compressed, by the COCO mask API
    np.testing.assert_array_equal(decode_segmentation(rle, 6, 8), cm == 1)
    assert "masks_rle" not in sm.to_dict(masks=False)


def test_instance_to_dict_masks_are_compressed_coco_rle():
    from edgevision.data.coco import decode_segmentation

    masks = np.zeros((1, 30, 40), bool)
    masks[0, 5:20, 3:30] = True
    inst = InstanceMasks([[3, 5, 30, 20]], [0.8], [0], ["car"], (30, 40), masks=masks)
    rle = inst.to_dict()["masks_rle"][0]
    assert isinstance(rle["counts"], str) and rle["size"] == [30, 40]
    np.testing.assert_array_equal(decode_segmentation(rle, 30, 40), masks[0])
    assert "masks_rle" not in inst.to_dict(masks=False)


# ------------------------------------------------------------------------------------------
# PanopticMask, DepthSegMask
# ------------------------------------------------------------------------------------------
def _panoptic_example():
    from edgevision.results import PanopticMask

    seg = np.zeros((6, 8), dtype=np.int64)
    seg[:, :4] = 3  # stuff "road" (class 0)
    seg[1:3, 5:7] = 7  # a car (class 1)
    seg[4:6, 5:8] = 9  # another car
    return PanopticMask.from_segments(
        seg, [3, 7, 9], [0, 1, 1], [False, True, True], ["road", "car"], ignore_index=255
    )


def test_panoptic_mask_derives_classes_and_areas():
    pm = _panoptic_example()
    assert pm.class_map[0, 0] == 0 and pm.class_map[1, 5] == 1
    assert pm.class_map[0, 7] == 255  # void pixel: no segment
    assert pm.areas().tolist() == [24, 4, 6]
    assert pm.segment_mask(1).sum() == 4
    d = pm.to_dict()
    assert d["type"] == "panoptic"
    assert [s["label"] for s in d["segments"]] == ["road", "car", "car"]
    assert d["segments"][1]["isthing"] is True and "mask_rle" in d["segments"][1]
    car = {k: v for k, v in d["segments"][1].items() if k != "mask_rle"}
    assert car == {"id": 7, "class_id": 1, "label": "car", "isthing": True, "area": 4,
                   "bbox": [5, 1, 2, 2]}  # fmt: skip


def test_panoptic_mask_checks_its_segments():
    from edgevision.results import PanopticMask

    seg = np.ones((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="ids without a segment"):
        PanopticMask.from_segments(seg, [2], [0], [False], ["a"])
    with pytest.raises(ValueError, match="unique and > 0"):
        PanopticMask.from_segments(seg, [1, 1], [0, 0], [False, False], ["a"])


def test_panoptic_coco_json_and_png_round_trip():
    from edgevision.results import panoptic_id_to_rgb, panoptic_rgb_to_id

    pm = _panoptic_example()
    ann, png = pm.to_coco_panoptic(5, "x.png", category_ids=[10, 20])
    assert png.dtype == np.uint8 and png.shape == (6, 8, 3)
    np.testing.assert_array_equal(panoptic_rgb_to_id(png), pm.segment_map)
    infos = {s["id"]: s for s in ann["segments_info"]}
    assert infos[7] == {"id": 7, "category_id": 20, "iscrowd": 0, "area": 4,
                        "bbox": [5, 1, 2, 2], "isthing": 1}  # fmt: skip
    assert infos[3]["category_id"] == 10 and infos[3]["isthing"] == 0
    big = np.array([[0, 1, 256, 65536 + 2]])
    np.testing.assert_array_equal(panoptic_rgb_to_id(panoptic_id_to_rgb(big)), big)


def test_panoptic_draw_separates_the_two_cars():
    pm = _panoptic_example()
    img = np.full((6, 8, 3), 100, np.uint8)
    out = pm.draw(img, alpha=1.0)
    assert out.shape == img.shape
    assert not (out[1, 5] == out[5, 6]).all()  # two cars, two tints
    assert (out[0, 7] == 100).all()  # void left as it was
    assert (out[1, 6] == 255).all()  # boundary between segments is white


def test_panoptic_draw_leaves_background_stuff_untinted():
    """A "background" stuff segment (the synthetic panoptic data's one stuff class) keeps the
    image's colours; a named stuff class is tinted; the boundary is still drawn."""
    from edgevision.results import PanopticMask

    seg = np.full((6, 8), 3, dtype=np.int64)
    seg[1:3, 5:7] = 7
    img = np.full((6, 8, 3), 100, np.uint8)
    for name, tinted in (("background", False), ("Void", False), ("road", True)):
        pm = PanopticMask.from_segments(seg, [3, 7], [0, 1], [False, True], [name, "car"])
        out = pm.draw(img, alpha=1.0)
        assert (out[5, 0] != 100).any() == tinted, name
        assert (out[2, 5] != 100).any()  # the thing is tinted either way
        assert (out[1, 6] == 255).all()  # its boundary is white


def test_depthseg_side_by_side_is_the_class_overlay_then_the_depth_map():
    from edgevision.results import DepthSegMask, SemanticMask, depth_colours

    h, w = 48, 64
    cm = np.zeros((h, w), dtype=np.int64)
    cm[:, w // 2 :] = 1
    depth = np.tile(np.linspace(2, 40, w, dtype=np.float32), (h, 1))
    r = DepthSegMask(cm, ["road", "car"], depth=depth, depth_range=(0.0, 80.0))
    img = np.full((h, w, 3), 90, np.uint8)
    out = r.draw_side_by_side(img, alpha=0.5)
    assert out.shape == (h, 2 * w, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :w], SemanticMask(cm, ["road", "car"]).draw(img))
    col = depth_colours(depth, (0.0, 80.0))
    np.testing.assert_array_equal(out[:20, w:], col[:20])  # the depth map above the scale
    bar = out[-1, w:]  # the scale bar: near (left) to far (right) over the model's range
    assert not (bar[0] == bar[-1]).all()
    np.testing.assert_array_equal(bar[0], depth_colours(np.array([[0.01]]), (0.0, 80.0))[0, 0])


def test_depthseg_mask_draws_depth_and_summarises():
    from edgevision.results import DepthSegMask, depth_colours

    cm = np.zeros((4, 6), dtype=np.int64)
    cm[:, 3:] = 1
    depth = np.tile(np.linspace(1, 10, 6, dtype=np.float32), (4, 1))
    r = DepthSegMask(cm, ["a", "b"], depth=depth, depth_range=(0.0, 10.0))
    col = depth_colours(depth, (0.0, 10.0))
    assert not (col[0, 0] == col[0, 5]).all()  # near and far differ
    out = r.draw(np.zeros((4, 6, 3), np.uint8), alpha=1.0)
    np.testing.assert_array_equal(out[0, 0], col[0, 0])
    assert (out[0, 2] == r.colorize()[0, 2]).all()  # class boundary in the class colour
    d = r.to_dict(masks=False)
    assert d["type"] == "depthseg" and d["depth"] == {"min": 1.0, "median": 5.5, "max": 10.0}
    assert d["depth_by_class"]["a"] == {"min": 1.0, "median": 2.8, "max": 4.6}
    assert d["depth_by_class"]["b"] == {"min": 6.4, "median": 8.2, "max": 10.0}
    with pytest.raises(ValueError, match="depth"):
        DepthSegMask(cm, ["a", "b"], depth=np.zeros((2, 2)))
