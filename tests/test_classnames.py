"""Dataset class names and their standard colours (CamVid, Cityscapes)."""

from __future__ import annotations

import pytest

from edgevision.classnames import (
    CAMVID_CLASSES,
    CAMVID_COLOURS,
    CITYSCAPES_CLASSES,
    CITYSCAPES_COLOURS,
    dataset_colours,
)


def test_palettes_cover_their_datasets_classes_with_distinct_colours():
    assert tuple(CAMVID_COLOURS) == CAMVID_CLASSES
    assert tuple(CITYSCAPES_COLOURS) == CITYSCAPES_CLASSES
    for table in (CAMVID_COLOURS, CITYSCAPES_COLOURS):
        colours = list(table.values())
        assert len(set(colours)) == len(colours)
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colours)


def test_auto_finds_the_dataset_of_a_class_list():
    # the published values of three classes each (CamVid label_colors.txt, cityscapesScripts)
    cam = dataset_colours(CAMVID_CLASSES)
    assert cam is not None
    assert (cam[0], cam[3], cam[8]) == ((128, 128, 128), (128, 64, 128), (64, 0, 128))
    city = dataset_colours(CITYSCAPES_CLASSES)
    assert city is not None
    assert (city[0], city[10], city[13]) == ((128, 64, 128), (70, 130, 180), (0, 0, 142))
    # names shared by both lists go to the dataset whose list is exact, case-blind
    assert dataset_colours([n.upper() for n in CITYSCAPES_CLASSES]) == city
    # a subset (e.g. a detector on CamVid's boxes), compared without case and punctuation
    assert dataset_colours(["car", "Pedestrian", "bicyclist"]) == [cam[8], cam[9], cam[10]]
    assert dataset_colours(["Traffic_Light", "rider"]) == [(250, 170, 30), (255, 0, 0)]


def test_unknown_classes_and_named_palettes():
    assert dataset_colours(["circle", "star"]) is None
    assert dataset_colours(["car", "circle"]) is None  # every class must have a colour
    assert dataset_colours([]) is None
    assert dataset_colours(["car"], "cityscapes") == [(0, 0, 142)]
    with pytest.raises(ValueError, match="cityscapes palette has no colour for Pavement, Tree"):
        dataset_colours(CAMVID_CLASSES, "cityscapes")
    with pytest.raises(KeyError, match="unknown palette 'ade20k'"):
        dataset_colours(["car"], "ade20k")
