"""Training parts of the dense multi-head tasks, ``depthseg`` and ``panoptic``.

Both train on a semantic-layout folder (``images/``, ``labels/``; :class:`SemanticFolder`)
through the shared dense parts (:func:`edgevision.train.semantic.dense_parts`: model,
loaders, optimizer, schedule, mIoU hook on the class logits) with their own dataset and
loss (:mod:`edgevision.losses.dense_multi`):

* ``depthseg`` reads depth truth from ``depth/{split}/NAME.npy`` (float32 metres, as
  :mod:`edgevision.data.synth` writes with ``depth``) where it exists; a sample without
  it trains only the segmentation head (the loss is masked), so CamVid (classes only) and
  synthetic data (both) train one model. Scale augmentation divides depth by the scale
  (a zoomed-in scene looks nearer), the scale drawn in log space so that its median is 1.
* ``panoptic`` reads objects from ``panoptic/{split}/NAME.png`` (COCO panoptic ids, as the
  generator writes with ``panoptic``) and, where a folder has none (CamVid), from the
  pseudo-instances of the weak-supervision path
  (:func:`edgevision.data.pseudo_instances.image_pseudo_instances`: connected components
  of the thing classes, merged blobs split; their uncertain pixels carry no centre truth).
  Targets: a Gaussian (``sigma`` 8 px) at each object's centroid and each object pixel's
  offset to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgevision.config import ModelSpec
from edgevision.data.pseudo_instances import PseudoLabelConfig, image_pseudo_instances
from edgevision.data.semantic import SemanticFolder
from edgevision.errors import ConfigError, DataError
from edgevision.losses.dense_multi import DepthSegLoss, PanopticLoss
from edgevision.results import panoptic_rgb_to_id
from edgevision.train.config import TrainConfig
from edgevision.train.run import TrainParts
from edgevision.train.seg_data import SegTrainDataset, augment_maps
from edgevision.train.semantic import class_weights, dense_parts

__all__ = [
    "DepthSegTrainDataset",
    "PanopticTrainDataset",
    "build_depthseg_parts",
    "build_panoptic_parts",
    "instance_targets",
]

CENTER_SIGMA = 8.0
"""Standard deviation in input pixels of the Gaussian at each object centre."""


class _MapsDataset(SegTrainDataset):
    """A :class:`SegTrainDataset` whose samples carry one more per-pixel map."""

    log_scale = False
    """Draw the augmentation scale uniformly in log space (:func:`augment_maps`)."""

    def _augment(
        self, i: int, extra: np.ndarray
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, float]:
        sample = self.folder[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        image, mask, (out,), scale = augment_maps(
            sample.image, sample.mask, rng, crop=self.crop, ignore_index=self.folder.ignore_index,
            extras=[extra], scale_range=self.scale_range, flip=self.flip, jitter=self.jitter,
            photometric=self.photometric, pad_color=self.pad_color, log_scale=self.log_scale,
        )  # fmt: skip
        return self.normalize(image), mask, out, scale

    def _truth_file(self, kind: str, i: int, suffix: str) -> Path:
        return (
            self.folder.root / kind / self.folder.selector.base / f"{self.folder.names[i]}{suffix}"
        )


class DepthSegTrainDataset(_MapsDataset):
    """Items ``(image (3, h, w), target (2, h, w) float32)``: class ids, depth in metres
    (0 where unknown). Arguments as :class:`SegTrainDataset`.

    The scale is drawn in log space (median 1 for ``scale_range`` ``(0.5, 2.0)``) and the
    depth divided by it. With the plain uniform draw the median scale is 1.25, which pulls
    the L1 of log depth towards 1/1.25 of an unscaled image's depth. The first shipped
    FastDepthSeg predicted 25 % too near on synthetic seed 53; the model retrained with the
    log draw (and class balance, 40 epochs) 22 % (scale 0.750 → 0.778), also on its own
    training images: most of the bias has another cause.
    """

    log_scale = True

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        path = self._truth_file("depth", i, ".npy")
        h, w = self.folder[i].mask.shape
        depth = np.zeros((h, w), np.float32)
        if path.is_file():
            try:
                depth = np.load(path, allow_pickle=False).astype(np.float32)
            except (OSError, ValueError) as e:
                raise DataError(f"{path}: {e}") from None
            if depth.shape != (h, w):
                raise DataError(f"{path}: depth is {depth.shape}, the labels are {(h, w)}")
        image, mask, d, scale = self._augment(i, depth)
        d = np.where(np.isfinite(d) & (d > 0), d / scale, 0.0).astype(np.float32)
        target = np.stack([mask.astype(np.float32), d])
        return image, torch.from_numpy(target)


def instance_targets(ids: np.ndarray, sigma: float = CENTER_SIGMA) -> np.ndarray:
    """Centre and offset targets of an object id map.

    Args:
        ids: ``(H, W)`` int: object ids > 0, 0 = no object, -1 = unknown (no centre truth).
        sigma: Gaussian standard deviation in pixels.

    Returns:
        ``(5, H, W)`` float32: centre heatmap (0–1, the max over objects), offset ``dy``,
        ``dx`` from each object pixel to its object's centroid, offset weight (1 on object
        pixels) and centre weight (0 on unknown pixels).
    """
    h, w = ids.shape
    out = np.zeros((5, h, w), np.float32)
    out[4] = ids >= 0
    r = int(3 * sigma)
    for k in np.unique(ids[ids > 0]):
        ys, xs = np.nonzero(ids == k)
        cy, cx = float(ys.mean()), float(xs.mean())
        y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, h)
        x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, w)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        out[0, y0:y1, x0:x1] = np.maximum(out[0, y0:y1, x0:x1], g)
        out[1, ys, xs] = cy - ys
        out[2, ys, xs] = cx - xs
        out[3, ys, xs] = 1.0
    return out


class PanopticTrainDataset(_MapsDataset):
    """Items ``(image (3, h, w), target (6, h, w) float32)``: class ids and
    :func:`instance_targets` of the sample's objects.

    Args:
        thing_ids: class ids of the thing classes.
        pseudo: settings of the pseudo-instances for samples without panoptic truth.
        **kw: as :class:`SegTrainDataset`.
    """

    def __init__(
        self, folder: SemanticFolder, *, thing_ids: Sequence[int], pseudo: PseudoLabelConfig,
        **kw: Any,
    ) -> None:  # fmt: skip
        super().__init__(folder, **kw)
        self.thing_ids = [int(c) for c in thing_ids]
        self.pseudo = pseudo

    def _objects(self, i: int) -> np.ndarray:
        """``(H, W)`` int32 object ids (0 none, -1 unknown) of sample ``i``."""
        from edgevision.io import read_image

        label = self.folder[i].mask
        path = self._truth_file("panoptic", i, ".png")
        things = np.isin(label, self.thing_ids)
        if path.is_file():
            ids = panoptic_rgb_to_id(read_image(path))
            if ids.shape != label.shape:
                raise DataError(f"{path}: segments are {ids.shape}, the labels {label.shape}")
            return np.where(things, ids, 0).astype(np.int32)  # type: ignore[no-any-return]
        instances, ignore = image_pseudo_instances(
            label, self.thing_ids, self.pseudo, ignore_index=self.folder.ignore_index
        )
        ids = np.zeros(label.shape, np.int32)
        for k, inst in enumerate(instances):
            ids[inst.mask] = k + 1
        ids[ignore] = -1
        return ids

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        # shift by 1 so that padding (0) reads as "unknown" (-1), not as "no object"
        image, mask, ids, _ = self._augment(i, self._objects(i) + 1)
        target = np.concatenate([mask[None].astype(np.float32), instance_targets(ids - 1)])
        return image, torch.from_numpy(target)


def _thing_ids(spec: ModelSpec) -> list[int]:
    names = list(spec.class_names)
    things = [str(t) for t in spec.model_kwargs.get("thing_classes", ())]
    missing = [t for t in things if t not in names]
    if missing or not things:
        raise ConfigError(
            f"thing_classes {things} must be classes of the dataset {names} (set them with "
            "--set 'model_kwargs={thing_classes: [A, B]}')"
        )
    return [names.index(t) for t in things]


def build_depthseg_parts(
    cfg: TrainConfig, *, known_spec: ModelSpec | None, rank: int, world_size: int,
    progress: bool, quiet: bool,
) -> TrainParts:  # fmt: skip
    """The ``depthseg`` task's parts: :func:`dense_parts` with
    :class:`DepthSegTrainDataset` and :class:`~edgevision.losses.dense_multi.DepthSegLoss`
    (class-balanced with ``class_balanced``)."""
    return dense_parts(
        cfg,
        rank=rank,
        world_size=world_size,
        train_dataset=lambda folder, spec, **kw: DepthSegTrainDataset(folder, **kw),
        criterion=lambda folder, spec: DepthSegLoss(
            ignore_index=folder.ignore_index,
            class_weights=class_weights(cfg, folder, progress=progress),
        ),
        progress=progress,
    )


def build_panoptic_parts(
    cfg: TrainConfig, *, known_spec: ModelSpec | None, rank: int, world_size: int,
    progress: bool, quiet: bool,
) -> TrainParts:  # fmt: skip
    """The ``panoptic`` task's parts: :func:`dense_parts` with :class:`PanopticTrainDataset`
    (thing classes from the model's ``thing_classes``) and
    :class:`~edgevision.losses.dense_multi.PanopticLoss` (class-balanced with
    ``class_balanced``)."""

    def dataset(folder: SemanticFolder, spec: ModelSpec, **kw: Any) -> PanopticTrainDataset:
        things = _thing_ids(spec)
        pseudo = PseudoLabelConfig(classes=tuple(spec.class_names[c] for c in things))
        return PanopticTrainDataset(folder, thing_ids=things, pseudo=pseudo, **kw)

    return dense_parts(
        cfg,
        rank=rank,
        world_size=world_size,
        train_dataset=dataset,
        criterion=lambda folder, spec: PanopticLoss(
            ignore_index=folder.ignore_index,
            class_weights=class_weights(cfg, folder, progress=progress),
        ),
        progress=progress,
    )
