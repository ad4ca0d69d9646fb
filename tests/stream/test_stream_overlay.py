"""The run overlay: drawing threshold, one class per object, dataset palettes, legend."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from edgevision.classnames import CAMVID_CLASSES
from edgevision.config import ModelSpec
from edgevision.errors import ConfigError
from edgevision.results import Detections, InstanceMasks, SemanticMask
from edgevision.stream.overlay import PALETTES, Overlay, OverlayOptions, PaletteName, draw_legend

SHAPES = ["circle", "triangle", "rectangle", "star"]


def _demo_frame() -> Detections:
    """Objects as the demo recorded them (YOLACT: conf >= 0.05, Fast NMS per class): one
    shape seen as a star (0.95) and as a circle (0.21), another as a star (0.37) and a circle
    (0.34), a lone 0.10 box, and two real shapes that overlap a little."""
    return Detections(
        boxes=[
            [250, 0, 329, 71],  # star 0.95
            [252, 2, 327, 70],  # circle 0.21: the same shape
            [62, 21, 144, 122],  # star 0.37
            [46, 33, 138, 132],  # circle 0.34: the same shape, IoU 0.64
            [400, 300, 420, 330],  # star 0.10
            [13, 95, 168, 248],  # circle 0.99
            [89, 112, 218, 245],  # star 0.74: overlaps the circle, IoU 0.35
        ],
        scores=[0.95, 0.21, 0.37, 0.34, 0.10, 0.99, 0.74],
        class_ids=[3, 0, 3, 0, 3, 0, 3],
        class_names=SHAPES,
        image_size=(480, 640),
    )


def _scores(d: Detections) -> list[float]:
    return sorted(round(float(v), 2) for v in d.scores)


def test_demo_duplicates_are_not_drawn_but_distinct_objects_are():
    shown = Overlay(SHAPES).select(_demo_frame())
    assert type(shown) is Detections
    assert _scores(shown) == [0.37, 0.74, 0.95, 0.99]
    # --draw-iou 1: every object above --draw-conf, duplicates included
    every = Overlay(SHAPES, OverlayOptions(draw_iou=1.0)).select(_demo_frame())
    assert _scores(every) == [0.34, 0.37, 0.74, 0.95, 0.99]
    # --draw-conf 0: as recorded, minus the cross-class duplicates
    low = Overlay(SHAPES, OverlayOptions(draw_conf=0.0)).select(_demo_frame())
    assert _scores(low) == [0.1, 0.37, 0.74, 0.95, 0.99]


def test_instances_keep_their_masks_and_hidden_ones_are_not_painted():
    d = _demo_frame()
    masks = np.zeros((len(d), 480, 640), bool)
    for i, (x1, y1, x2, y2) in enumerate(d.boxes.astype(int)):
        masks[i, y1:y2, x1:x2] = True
    inst = InstanceMasks(**{**d._fields(slice(None)), "masks": masks})
    ov = Overlay(SHAPES, OverlayOptions(legend=False))
    shown = ov.select(inst)
    assert type(shown) is InstanceMasks and len(shown) == 4 and shown.masks.shape[0] == 4
    img = np.full((480, 640, 3), 50, np.uint8)
    out = ov(img, inst)
    assert (out[320, 410] == 50).all()  # inside the 0.10 star: not drawn at all
    assert not (out[60, 290] == 50).all()  # inside the 0.95 star: painted
    assert (img == 50).all()  # the frame itself is not modified


def test_dataset_palette_from_the_spec_and_the_legend():
    spec = ModelSpec(name="m", task="semantic", class_names=list(CAMVID_CLASSES))
    ov = Overlay.for_spec(spec, OverlayOptions(alpha=1.0))
    cm = np.full((120, 200), 3, np.int64)  # Road
    cm[:, :40] = 8  # Car
    out = ov(np.zeros((120, 200, 3), np.uint8), SemanticMask(cm, CAMVID_CLASSES))
    assert tuple(out[100, 100]) == (128, 64, 128) and tuple(out[100, 10]) == (64, 0, 128)
    # legend, top right: a swatch per class present, in id order (Road, then Car), on a
    # darkened panel
    row1, row2 = ({tuple(px) for px in out[y, 100:]} for y in (13, 31))
    assert (128, 64, 128) in row1 and (64, 0, 128) in row2 and (64, 0, 128) not in row1
    assert (44, 22, 44) in row1  # Road darkened behind the text (0.35 × 128, 64, 128)
    plain = Overlay.for_spec(spec, OverlayOptions(alpha=1.0, legend=False))(
        np.zeros((120, 200, 3), np.uint8), SemanticMask(cm, CAMVID_CLASSES)
    )
    assert (plain[:40, 100:] == (128, 64, 128)).all()
    # a palette named in the spec's metadata; a palette that lacks a class is one error
    city = ModelSpec(
        name="m", task="semantic", class_names=["car"], extra={"palette": "cityscapes"}
    )
    assert tuple(Overlay.for_spec(city).colours[0]) == (0, 0, 142)
    with pytest.raises(ConfigError, match="--palette cityscapes: the cityscapes palette has no"):
        Overlay(CAMVID_CLASSES, OverlayOptions(palette="cityscapes"))


def test_legend_lists_what_fits_and_plugin_results_draw_themselves():
    img = np.zeros((60, 300, 3), np.uint8)
    colours = np.tile(np.array([[255, 0, 0]], np.uint8), (10, 1))
    draw_legend(img, [f"class {i}" for i in range(10)], colours)
    reds = [y for y in range(60) if (img[y] == (255, 0, 0)).all(axis=-1).any()]
    assert reds and max(reds) < 60 - 18  # 3 rows fit: 2 classes and a "+8 more" row
    assert img[:, :150].sum() == 0  # only the top-right corner

    class Own:
        def draw(self, image):
            return image + 1

    frame = np.zeros((4, 4, 3), np.uint8)
    assert (Overlay([])(frame, Own()) == 1).all()
    assert Overlay([])(frame, {"anything": 1}) is frame


def test_options_are_checked_and_palette_names_agree():
    assert set(PALETTES) == set(typing.get_args(PaletteName))
    with pytest.raises(ConfigError, match="draw_conf must be in"):
        OverlayOptions(draw_conf=1.5)
    with pytest.raises(ConfigError, match="palette"):
        OverlayOptions(palette="rainbow")  # type: ignore[arg-type]


def test_depthseg_is_drawn_side_by_side_with_the_legend_on_the_class_view():
    from edgevision.results import DepthSegMask, PanopticMask

    h, w = 60, 80
    cm = np.zeros((h, w), np.int64)
    cm[:, 40:] = 3
    depth = np.tile(np.linspace(1, 70, w, dtype=np.float32), (h, 1))
    r = DepthSegMask(cm, SHAPES, depth=depth, depth_range=(0.0, 80.0))
    img = np.full((h, w, 3), 100, np.uint8)
    side = Overlay(SHAPES)(img, r)
    assert side.shape == (h, 2 * w, 3)
    plain = r.draw_side_by_side(img, colours=Overlay(SHAPES).colours)
    np.testing.assert_array_equal(side[:, w:], plain[:, w:])  # the depth view: no legend
    assert (side[:10, w - 10 : w] != plain[:10, w - 10 : w]).any()  # legend: the class view
    blend = Overlay(SHAPES, OverlayOptions(depth_view="blend", legend=False))(img, r)
    np.testing.assert_array_equal(blend, r.draw(img, colours=Overlay(SHAPES).colours))
    with pytest.raises(ConfigError):
        OverlayOptions(depth_view="stacked")  # type: ignore[arg-type]
    # a panoptic frame keeps the frame's size, segments in their class colours
    seg = np.zeros((h, w), np.int64)
    seg[:, :40], seg[10:30, 50:70] = 1, 2
    pm = PanopticMask.from_segments(seg, [1, 2], [0, 3], [False, True], SHAPES)
    out = Overlay(SHAPES, OverlayOptions(legend=False))(img, pm)
    assert out.shape == img.shape and (out[5, 5] != out[20, 60]).any()
