"""One result type per task, numpy-only: :class:`Detections`, :class:`InstanceMasks`,
:class:`SemanticMask`, :class:`PanopticMask`, :class:`DepthSegMask`.

Shared by the runtime, the streaming pipeline, evaluation and benchmarks. Each has
``draw(image)`` (overlay on an HWC uint8 image), ``to_coco(image_id)`` (COCO result dicts)
and ``to_dict()`` (JSON-safe, for ``--meta`` files). Coordinates are in the pixels of the
original image the result belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevision.classnames import dataset_colours

__all__ = [
    "DepthSegMask",
    "Detections",
    "InstanceMasks",
    "PanopticMask",
    "SemanticMask",
    "class_palette",
    "coco_mask_api",
    "depth_colours",
    "encode_rle",
    "palette",
    "panoptic_id_to_rgb",
    "panoptic_rgb_to_id",
    "rle_decode",
    "rle_encode",
]


def palette(n: int) -> np.ndarray:
    """Deterministic, well-separated colours: ``(n, 3)`` uint8 (RGB), id 0 first."""
    # golden-ratio hue walk in HSV, full saturation/value; reproducible, no RNG
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    h6 = hues * 6.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    v, s = 0.95, 0.75
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack(
        [
            np.choose(i, [np.full(n, v), q, np.full(n, p), np.full(n, p), t, np.full(n, v)]),
            np.choose(i, [t, np.full(n, v), np.full(n, v), q, np.full(n, p), np.full(n, p)]),
            np.choose(i, [np.full(n, p), np.full(n, p), t, np.full(n, v), np.full(n, v), q]),
        ],
        axis=1,
    )
    return (table * 255).round().astype(np.uint8)


NO_CLASS_NAMES = frozenset({"background", "void", "unlabeled", "unlabelled"})
"""Stuff class names that mean "no class": :meth:`PanopticMask.draw` leaves them untinted."""


def class_palette(class_names: Sequence[str], n: int = 0, *, dataset: str = "auto") -> np.ndarray:
    """Colours of a model's classes: ``(max(n, len(class_names)), 3)`` uint8 RGB, id 0 first.

    Args:
        class_names: the classes in id order.
        n: at least this many rows (ids beyond the names get :func:`palette` colours).
        dataset: ``"auto"``: a dataset's standard palette (CamVid, Cityscapes:
            :func:`edgevision.classnames.dataset_colours`) when it names every class, else
            :func:`palette`; ``"distinct"``: always :func:`palette`; or a dataset name.

    Raises:
        KeyError, ValueError: an unknown dataset, or one without a colour for some class.
    """
    rows = max(n, len(class_names))
    table = palette(rows)
    known = None if dataset == "distinct" else dataset_colours(class_names, dataset)
    if known:
        table[: len(known)] = np.asarray(known, dtype=np.uint8)
    return table


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """Binary ``(H, W)`` mask -> uncompressed COCO RLE ``{"size": [H, W], "counts": [...]}``.

    Counts run in column-major (Fortran) order and start with the number of zeros, as COCO
    specifies. Evaluators (faster-coco-eval, pycocotools) accept this form.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    flat = m.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": [int(c) for c in counts]}


def coco_mask_api() -> Any:
    """faster-coco-eval's COCO mask API (``encode``, ``decode``, ``area`` …), imported on use.

    Raises:
        BackendUnavailable: faster-coco-eval is not installed.
    """
    try:
        from faster_coco_eval.core import mask as mask_api
    except ImportError:
        from edgevision.errors import BackendUnavailable

        raise BackendUnavailable(
            "COCO masks need faster-coco-eval: pip install faster-coco-eval"
        ) from None
    return mask_api


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """``(H, W)`` bool mask -> compressed COCO RLE ``{"size": [H, W], "counts": str}``
    through the COCO mask API (JSON-ready; the form the evaluators and
    :func:`edgevision.data.coco.decode_segmentation` read)."""
    rle = coco_mask_api().encode(np.asfortranarray(np.asarray(mask).astype(np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """Uncompressed COCO RLE -> ``(H, W)`` bool mask (inverse of :func:`rle_encode`)."""
    h, w = (int(x) for x in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        raise ValueError("compressed RLE: decode with edgevision.data.coco.decode_segmentation")
    vals = np.zeros(len(counts), dtype=bool)
    vals[1::2] = True
    flat = np.repeat(vals, np.asarray(counts, dtype=np.int64))
    if flat.size != h * w:
        raise ValueError(f"RLE counts sum to {flat.size}, expected {h * w}")
    return flat.reshape((w, h)).T.copy()


def _as_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got shape {img.shape} dtype {img.dtype}")
    return img.copy()


@dataclass
class Detections:
    """Boxes for one image.

    Attributes:
        boxes: ``(N, 4)`` float32 ``x1, y1, x2, y2`` in image pixels.
        scores: ``(N,)`` float32 confidences in 0–1.
        class_ids: ``(N,)`` int64 class indices into ``class_names``.
        class_names: names of all classes of the model (may be empty).
        image_size: ``(H, W)`` of the image the boxes refer to.
        track_ids: ``(N,)`` int64 track ids (:mod:`edgevision.track`), ``-1`` for an object
            without a track, or ``None`` when no tracker ran (keyword only).
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: Sequence[str] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)
    track_ids: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if len(self.scores) != n or len(self.class_ids) != n:
            raise ValueError(
                f"boxes ({n}), scores ({len(self.scores)}) and class_ids "
                f"({len(self.class_ids)}) must have the same length"
            )
        self.class_names = list(self.class_names)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if self.track_ids is not None:
            self.track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
            if len(self.track_ids) != n:
                raise ValueError(f"track_ids ({len(self.track_ids)}) must have {n} entries")

    @classmethod
    def empty(cls, class_names: Sequence[str] = (), image_size: tuple[int, int] = (0, 0)):
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), list(class_names), image_size)

    def __len__(self) -> int:
        return len(self.boxes)

    def _fields(self, idx: Any) -> dict[str, Any]:
        return {
            "boxes": self.boxes[idx],
            "scores": self.scores[idx],
            "class_ids": self.class_ids[idx],
            "class_names": self.class_names,
            "image_size": self.image_size,
            "track_ids": None if self.track_ids is None else self.track_ids[idx],
        }

    def __getitem__(self, idx: Any) -> Detections:
        """Select by index array, slice or boolean mask; returns the same type."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        return type(self)(**self._fields(idx))

    def label(self, i: int) -> str:
        c = int(self.class_ids[i])
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def draw(
        self,
        image: np.ndarray,
        *,
        thickness: int = 2,
        show_scores: bool = True,
        colours: np.ndarray | None = None,
    ) -> np.ndarray:
        """A copy of ``image`` with boxes and labels.

        Args:
            image: ``(H, W, 3)`` uint8 RGB, 0–255.
            thickness: box line width in pixels.
            show_scores: append the score to each label.
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`).

        Returns:
            ``(H, W, 3)`` uint8 RGB.
        """
        import cv2

        out = _as_image(image)
        need = int(self.class_ids.max(initial=0)) + 1
        if colours is None or len(colours) < need:
            colours = class_palette(self.class_names, need)
        for i in range(len(self)):
            x1, y1, x2, y2 = (int(round(v)) for v in self.boxes[i])
            col = tuple(int(c) for c in colours[self.class_ids[i]])
            cv2.rectangle(out, (x1, y1), (x2, y2), col, thickness)
            text = self.label(i) + (f" {self.scores[i]:.2f}" if show_scores else "")
            if self.track_ids is not None and self.track_ids[i] >= 0:
                text = f"#{self.track_ids[i]} {text}"
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
            ty = max(y1, th + 4)
            cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 2, ty), col, -1)
            cv2.putText(out, text, (x1 + 1, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        return out

    def to_coco(
        self, image_id: int, category_ids: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO detection results: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``.

        ``category_ids[c]`` maps class index ``c`` to a COCO category id (default: ``c + 1``).
        """
        out = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            c = int(self.class_ids[i])
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(category_ids[c]) if category_ids is not None else c + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(self.scores[i]),
                }
            )
        return out

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-safe dict (for ``--meta`` JSONL and reports): boxes rounded to 0.01 px,
        scores to 1e-4 (in float64, so no float32 noise such as ``339.4700012207031``).

        Args:
            masks: include masks where the type has them (boxes have none).
        """
        return {
            "type": "detections",
            "image_size": list(self.image_size),
            "boxes": np.round(self.boxes.astype(np.float64), 2).tolist(),
            "scores": np.round(self.scores.astype(np.float64), 4).tolist(),
            "class_ids": self.class_ids.tolist(),
            "labels": [self.label(i) for i in range(len(self))],
        } | ({} if self.track_ids is None else {"track_ids": self.track_ids.tolist()})


@dataclass
class InstanceMasks(Detections):
    """Detections with one binary mask each.

    Attributes:
        masks: ``(N, H, W)`` bool, full image resolution (``H, W == image_size``).
    """

    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))

    def __post_init__(self) -> None:
        super().__post_init__()
        m = np.asarray(self.masks)
        if m.size == 0 and len(self) == 0:
            h, w = self.image_size
            m = np.zeros((0, h, w), dtype=bool)
        if m.ndim != 3 or m.shape[0] != len(self):
            raise ValueError(f"masks must be (N, H, W) with N={len(self)}, got shape {m.shape}")
        if self.image_size == (0, 0):
            self.image_size = (int(m.shape[1]), int(m.shape[2]))
        elif tuple(m.shape[1:]) != self.image_size:
            raise ValueError(f"masks are {m.shape[1:]}, image_size is {self.image_size}")
        self.masks = m.astype(bool, copy=False)

    @classmethod
    def empty(cls, class_names: Sequence[str] = (), image_size: tuple[int, int] = (0, 0)):
        h, w = image_size
        return cls(
            np.zeros((0, 4)),
            np.zeros(0),
            np.zeros(0),
            list(class_names),
            image_size,
            masks=np.zeros((0, h, w), dtype=bool),
        )

    def _fields(self, idx: Any) -> dict[str, Any]:
        return {**super()._fields(idx), "masks": self.masks[idx]}

    def draw(self, image: np.ndarray, *, alpha: float = 0.5, **kw: Any) -> np.ndarray:
        """Masks blended with ``alpha`` (one colour per instance) plus boxes and labels
        (coloured by class, see :meth:`Detections.draw` for ``**kw``), on a copy of ``image``."""
        out = _as_image(image).astype(np.float32)
        colours = palette(max(len(self), 1) + 7)[7:]  # instance colours, distinct from classes
        for i in range(len(self)):
            m = self.masks[i]
            out[m] = out[m] * (1 - alpha) + colours[i % len(colours)] * alpha
        return Detections.draw(self, out.round().astype(np.uint8), **kw)

    def to_coco(
        self, image_id: int, category_ids: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO segmentation results: detection fields plus ``"segmentation"`` (RLE)."""
        dets = super().to_coco(image_id, category_ids)
        for d, m in zip(dets, self.masks):
            d["segmentation"] = rle_encode(m)
        return dets

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-safe dict: the detection fields, and with ``masks`` ``masks_rle`` (one
        compressed COCO RLE per instance, :func:`encode_rle`)."""
        d = super().to_dict()
        d["type"] = "instances"
        if masks:
            d["masks_rle"] = [encode_rle(m) for m in self.masks]
        return d


@dataclass
class SemanticMask:
    """Per-pixel classes for one image.

    Attributes:
        class_map: ``(H, W)`` int64 class ids (``ignore_index`` where unknown).
        class_names: names of all classes, index = id.
        confidence: optional ``(H, W)`` float32 max softmax probability, 0–1.
        ignore_index: id that marks "no class" (not drawn, not exported).
    """

    class_map: np.ndarray
    class_names: Sequence[str] = field(default_factory=list)
    confidence: np.ndarray | None = None
    ignore_index: int = 255

    def __post_init__(self) -> None:
        cm = np.asarray(self.class_map)
        if cm.ndim != 2:
            raise ValueError(f"class_map must be (H, W), got shape {cm.shape}")
        self.class_map = cm.astype(np.int64, copy=False)
        self.class_names = list(self.class_names)
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
            if self.confidence.shape != cm.shape:
                raise ValueError(f"confidence {self.confidence.shape} != class_map {cm.shape}")

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.class_map.shape[0]), int(self.class_map.shape[1]))

    def present_classes(self) -> list[int]:
        ids = np.unique(self.class_map)
        return [int(c) for c in ids if c != self.ignore_index]

    def colorize(self, colours: np.ndarray | None = None) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB image of the class map (ignored pixels black).

        Args:
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`, the
                dataset's standard colours where the class names are a known dataset's).
        """
        n = int(self.class_map[self.class_map != self.ignore_index].max(initial=0)) + 1
        if colours is None or len(colours) < n:
            colours = class_palette(self.class_names, n)
        n = len(colours)
        pal = np.concatenate([np.asarray(colours, np.uint8), np.zeros((1, 3), np.uint8)])
        idx = np.where((self.class_map >= 0) & (self.class_map < n), self.class_map, n)
        return pal[idx]

    def draw(
        self, image: np.ndarray, *, alpha: float = 0.5, colours: np.ndarray | None = None
    ) -> np.ndarray:
        """Blend the colourised class map (:meth:`colorize`) onto a copy of ``image``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the class map's ``(H, W)``.
            alpha: weight of the class colour, 0–1.
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`).
        """
        img = _as_image(image)
        if img.shape[:2] != self.class_map.shape:
            raise ValueError(f"image is {img.shape[:2]}, class_map is {self.class_map.shape}")
        col = self.colorize(colours).astype(np.float32)
        valid = (self.class_map != self.ignore_index)[..., None]
        out = np.where(valid, img * (1 - alpha) + col * alpha, img)
        return out.round().astype(np.uint8)

    def to_coco(
        self, image_id: int, category_ids: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO stuff-style results: one RLE segment per present class (score = mean conf.)."""
        out = []
        for c in self.present_classes():
            m = self.class_map == c
            score = float(self.confidence[m].mean()) if self.confidence is not None else 1.0
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(category_ids[c]) if category_ids is not None else c + 1,
                    "segmentation": rle_encode(m),
                    "score": score,
                }
            )
        return out

    def class_label(self, c: int) -> str:
        """The name of class id ``c`` (its number when the names do not cover it)."""
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def components(self) -> dict[int, int]:
        """``{class id: number of 8-connected regions}`` of every present class."""
        import cv2

        out = {}
        for c in self.present_classes():
            n, _ = cv2.connectedComponents((self.class_map == c).astype(np.uint8), connectivity=8)
            out[c] = int(n) - 1  # label 0 is the background
        return out

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-safe dict: per present class (by name) its pixel fraction
        (``class_fractions``, 0–1) and number of 8-connected regions (``components``); with
        ``masks``, ``masks_rle``: one compressed COCO RLE label mask per class
        (:func:`encode_rle`)."""
        ids, counts = np.unique(self.class_map, return_counts=True)
        total = max(int(self.class_map.size), 1)
        d: dict[str, Any] = {
            "type": "semantic",
            "image_size": list(self.image_size),
            "class_fractions": {
                self.class_label(int(c)): round(float(n) / total, 5)
                for c, n in zip(ids, counts)
                if c != self.ignore_index
            },
            "components": {self.class_label(c): n for c, n in self.components().items()},
        }
        if masks:
            d["masks_rle"] = {
                self.class_label(c): encode_rle(self.class_map == c) for c in self.present_classes()
            }
        return d


def _boundaries(label_map: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels whose right or lower neighbour has another label."""
    edge = np.zeros(label_map.shape, dtype=bool)
    edge[:, :-1] |= label_map[:, :-1] != label_map[:, 1:]
    edge[:-1, :] |= label_map[:-1, :] != label_map[1:, :]
    return edge


def panoptic_id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """``(H, W)`` segment ids -> ``(H, W, 3)`` uint8 RGB with ``id = R + 256 G + 256² B``
    (the COCO panoptic PNG encoding; 0 = void)."""
    a = np.asarray(ids, dtype=np.int64)
    return np.stack([a % 256, (a // 256) % 256, (a // 65536) % 256], axis=-1).astype(np.uint8)


def panoptic_rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB COCO panoptic PNG -> ``(H, W)`` int64 segment ids (inverse of
    :func:`panoptic_id_to_rgb`)."""
    a = np.asarray(rgb).astype(np.int64)
    return a[..., 0] + 256 * a[..., 1] + 65536 * a[..., 2]  # type: ignore[no-any-return]


@dataclass
class PanopticMask(SemanticMask):
    """A panoptic segmentation of one image: every pixel belongs to one segment (or to none),
    every segment has one class; a *thing* segment is one object, a *stuff* segment is all
    pixels of an amorphous class.

    Build it with :meth:`from_segments`. ``class_map`` (inherited) is the class of each
    pixel's segment (``ignore_index`` where no segment), so a panoptic result is also scored
    and drawn as a semantic one.

    Attributes:
        segment_map: ``(H, W)`` int64 segment id per pixel, 0 = no segment (void).
        segment_ids: ``(S,)`` int64 ids (> 0, unique) of the segments.
        segment_classes: ``(S,)`` int64 class id of each segment.
        is_thing: ``(S,)`` bool, True for thing segments (objects).
    """

    segment_map: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    segment_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    segment_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    is_thing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        super().__post_init__()
        sm = np.asarray(self.segment_map, dtype=np.int64)
        if sm.shape != self.class_map.shape:
            raise ValueError(f"segment_map {sm.shape} != class_map {self.class_map.shape}")
        self.segment_map = sm
        self.segment_ids = np.asarray(self.segment_ids, dtype=np.int64).reshape(-1)
        self.segment_classes = np.asarray(self.segment_classes, dtype=np.int64).reshape(-1)
        self.is_thing = np.asarray(self.is_thing, dtype=bool).reshape(-1)
        n = len(self.segment_ids)
        if len(self.segment_classes) != n or len(self.is_thing) != n:
            raise ValueError(
                f"segment_ids ({n}), segment_classes ({len(self.segment_classes)}) and "
                f"is_thing ({len(self.is_thing)}) must have the same length"
            )
        if (self.segment_ids <= 0).any() or len(np.unique(self.segment_ids)) != n:
            raise ValueError("segment ids must be unique and > 0 (0 marks void)")
        unknown = np.setdiff1d(np.unique(sm), np.concatenate([[0], self.segment_ids]))
        if unknown.size:
            raise ValueError(f"segment_map holds ids without a segment: {unknown[:5].tolist()}")

    @classmethod
    def from_segments(
        cls,
        segment_map: np.ndarray,
        segment_ids: Sequence[int] | np.ndarray,
        segment_classes: Sequence[int] | np.ndarray,
        is_thing: Sequence[bool] | np.ndarray,
        class_names: Sequence[str] = (),
        *,
        ignore_index: int = 255,
    ) -> PanopticMask:
        """A :class:`PanopticMask` whose ``class_map`` is derived from the segments.

        Args:
            segment_map: ``(H, W)`` integer segment ids, 0 = void.
            segment_ids: ``(S,)`` ids of the segments (> 0).
            segment_classes: ``(S,)`` class id of each segment.
            is_thing: ``(S,)`` whether each segment is a thing (object).
            class_names: names of all classes, index = id.
            ignore_index: class id of void pixels in ``class_map``.
        """
        sm = np.asarray(segment_map, dtype=np.int64)
        ids = np.asarray(segment_ids, dtype=np.int64).reshape(-1)
        classes = np.asarray(segment_classes, dtype=np.int64).reshape(-1)
        class_map = np.full(sm.shape, ignore_index, dtype=np.int64)
        if ids.size:
            lut_ids = np.concatenate([[0], ids])
            lut_cls = np.concatenate([[ignore_index], classes])
            order = np.argsort(lut_ids)
            pos = np.searchsorted(lut_ids[order], sm)
            pos = np.clip(pos, 0, len(order) - 1)
            known = lut_ids[order][pos] == sm
            class_map = np.where(known, lut_cls[order][pos], ignore_index)
        return cls(
            class_map,
            class_names,
            ignore_index=ignore_index,
            segment_map=sm,
            segment_ids=ids,
            segment_classes=classes,
            is_thing=np.asarray(is_thing, dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.segment_ids)

    def segment_mask(self, i: int) -> np.ndarray:
        """``(H, W)`` bool mask of segment ``i`` (index into :attr:`segment_ids`)."""
        return self.segment_map == int(self.segment_ids[i])  # type: ignore[no-any-return]

    def areas(self) -> np.ndarray:
        """``(S,)`` int64 pixel count of each segment."""
        ids, counts = np.unique(self.segment_map, return_counts=True)
        by_id = dict(zip(ids.tolist(), counts.tolist()))
        return np.array([by_id.get(int(s), 0) for s in self.segment_ids], dtype=np.int64)

    def draw(
        self, image: np.ndarray, *, alpha: float = 0.5, colours: np.ndarray | None = None
    ) -> np.ndarray:
        """Segments blended onto a copy of ``image``: stuff in its class colour, each thing in
        its class colour shifted per object, white lines on segment boundaries. Stuff named as
        no class (``background``, ``void``, ``unlabeled``) keeps the image's own colours: tinting
        it would tint most of the frame.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the masks' ``(H, W)``.
            alpha: weight of the segment colour, 0–1.
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`).

        Returns:
            ``(H, W, 3)`` uint8 RGB.
        """
        out = _as_image(image)
        if out.shape[:2] != self.segment_map.shape:
            raise ValueError(f"image is {out.shape[:2]}, segment_map is {self.segment_map.shape}")
        if not len(self):
            return out
        n = int(self.segment_classes.max(initial=0)) + 1
        if colours is None or len(colours) < n:
            colours = class_palette(self.class_names, n)
        seg_col = np.asarray(colours, np.float32)[self.segment_classes].copy()
        shift = palette(len(self) + 7)[7:].astype(np.float32)  # per-object tint
        seg_col[self.is_thing] = 0.7 * seg_col[self.is_thing] + 0.3 * shift[self.is_thing]
        order = np.argsort(self.segment_ids)
        pos = np.clip(np.searchsorted(self.segment_ids[order], self.segment_map), 0, len(self) - 1)
        valid = (self.segment_map > 0) & (self.segment_ids[order][pos] == self.segment_map)
        names = list(self.class_names)
        plain = np.array(
            [
                not thing and c < len(names) and names[c].lower() in NO_CLASS_NAMES
                for c, thing in zip(self.segment_classes.tolist(), self.is_thing.tolist())
            ],
            dtype=bool,
        )
        tint = valid & ~plain[order][pos]
        col = seg_col[order][pos]
        img = out.astype(np.float32)
        blended = np.where(tint[..., None], img * (1 - alpha) + col * alpha, img)
        blended[_boundaries(self.segment_map) & valid] = 255.0
        return blended.round().astype(np.uint8)  # type: ignore[no-any-return]

    def to_coco_panoptic(
        self, image_id: int, file_name: str, category_ids: Sequence[int] | None = None
    ) -> tuple[dict[str, Any], np.ndarray]:
        """The COCO panoptic result of this image: the annotation and its PNG.

        Args:
            image_id: COCO image id.
            file_name: name of the PNG the annotation refers to (``NAME.png``).
            category_ids: COCO category id of each class id (default: ``c + 1``).

        Returns:
            ``({"image_id", "file_name", "segments_info": [{"id", "category_id", "iscrowd",
            "area", "bbox", "isthing"}]}, png)`` with ``png`` the ``(H, W, 3)`` uint8 RGB
            image of the segment ids (:func:`panoptic_id_to_rgb`).
        """
        infos = []
        for i, area in enumerate(self.areas()):
            if area == 0:
                continue
            c = int(self.segment_classes[i])
            infos.append(
                {
                    "id": int(self.segment_ids[i]),
                    "category_id": int(category_ids[c]) if category_ids is not None else c + 1,
                    "iscrowd": 0,
                    "area": int(area),
                    "bbox": _mask_box(self.segment_mask(i)),
                    "isthing": int(bool(self.is_thing[i])),
                }
            )
        ann = {"image_id": int(image_id), "file_name": file_name, "segments_info": infos}
        return ann, panoptic_id_to_rgb(self.segment_map)

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-safe dict: the semantic summary (:meth:`SemanticMask.to_dict`) plus
        ``segments``: ``[{"id", "class_id", "label", "isthing", "area", "bbox"}]`` (``label``
        the category name, ``area`` in pixels, ``bbox`` COCO ``[x, y, w, h]`` pixels; ids as
        in :attr:`segment_map`, not stable across frames); with ``masks`` each segment also
        has ``mask_rle`` (compressed COCO RLE)."""
        d = super().to_dict(masks=False)
        d["type"] = "panoptic"
        segs = []
        for i, area in enumerate(self.areas()):
            m = self.segment_mask(i)
            seg: dict[str, Any] = {
                "id": int(self.segment_ids[i]),
                "class_id": int(self.segment_classes[i]),
                "label": self.class_label(int(self.segment_classes[i])),
                "isthing": bool(self.is_thing[i]),
                "area": int(area),
                "bbox": _mask_box(m),
            }
            if masks:
                seg["mask_rle"] = encode_rle(m)
            segs.append(seg)
        d["segments"] = segs
        return d


def _mask_box(mask: np.ndarray) -> list[int]:
    """COCO ``[x, y, w, h]`` of a bool mask (pixel-corner coordinates; zeros when empty)."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not len(xs):
        return [0, 0, 0, 0]
    return [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)]


def depth_limits(
    depth: np.ndarray, depth_range: tuple[float, float] | None = None
) -> tuple[float, float]:
    """``(near, far)`` metres that :func:`depth_colours` maps to the ends of its colour map:
    ``depth_range``, or the 2nd and 98th percentile of the valid (finite, > 0) depths."""
    if depth_range is not None:
        return float(depth_range[0]), float(depth_range[1])
    d = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    if not valid.any():
        return 0.0, 1.0
    lo, hi = np.percentile(d[valid], (2, 98))
    return float(lo), float(hi)


def depth_colours(depth: np.ndarray, depth_range: tuple[float, float] | None = None) -> np.ndarray:
    """Depth map -> ``(H, W, 3)`` uint8 RGB (OpenCV's turbo colour map, near = red, far =
    blue; non-finite or non-positive depths black).

    Args:
        depth: ``(H, W)`` float depths (metres).
        depth_range: ``(near, far)`` mapped to the ends of the colour map (default: the 2nd
            and 98th percentile of the valid depths, so one outlier does not flatten it).
    """
    import cv2

    d = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    lo, hi = depth_limits(d, depth_range)
    scaled = np.clip((d - lo) / max(float(hi - lo), 1e-6), 0, 1)
    u8 = np.where(valid, np.round(255 * (1 - scaled)), 0).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb  # type: ignore[no-any-return]


@dataclass
class DepthSegMask(SemanticMask):
    """Per-pixel depth and classes for one image (``class_map`` etc. as in
    :class:`SemanticMask`).

    Attributes:
        depth: ``(H, W)`` float32 depth in metres (the unit the model was trained in).
        depth_range: ``(near, far)`` metres that :meth:`draw` maps to the ends of the colour
            map (``None``: per image, :func:`depth_colours`).
    """

    depth: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    depth_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        d = np.asarray(self.depth, dtype=np.float32)
        if d.shape != self.class_map.shape:
            raise ValueError(f"depth {d.shape} != class_map {self.class_map.shape}")
        self.depth = d

    def draw(
        self, image: np.ndarray, *, alpha: float = 0.5, colours: np.ndarray | None = None
    ) -> np.ndarray:
        """The depth colour map (:func:`depth_colours`) blended onto a copy of ``image``, with
        class boundaries drawn in their class colours.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the maps' ``(H, W)``.
            alpha: weight of the depth colour, 0–1.
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`).

        Returns:
            ``(H, W, 3)`` uint8 RGB.
        """
        img = _as_image(image)
        if img.shape[:2] != self.class_map.shape:
            raise ValueError(f"image is {img.shape[:2]}, class_map is {self.class_map.shape}")
        col = depth_colours(self.depth, self.depth_range).astype(np.float32)
        out = img * (1 - alpha) + col * alpha
        lines = self.colorize(colours)
        edge = _boundaries(self.class_map) & (self.class_map != self.ignore_index)
        out[edge] = lines[edge]
        return out.round().astype(np.uint8)  # type: ignore[no-any-return]

    def draw_side_by_side(
        self, image: np.ndarray, *, alpha: float = 0.5, colours: np.ndarray | None = None
    ) -> np.ndarray:
        """The two views of a depth + segmentation frame next to each other: left the class
        overlay (:meth:`SemanticMask.draw`, as for a semantic model), right the depth colour
        map (:func:`depth_colours`) with a near/far scale bar along its bottom.

        Side by side rather than one blended image because one pixel cannot carry two
        colour codes: blended, a red pixel may be near or be the class drawn in red. Apart,
        the class view looks exactly like a semantic model's overlay and the depth view
        keeps its colours meaningful (with the model's fixed ``depth_range``, the same
        colour is the same distance in every frame). The cost is a frame twice as wide.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the maps' ``(H, W)``.
            alpha: weight of the class colour on the left, 0–1.
            colours: ``(C, 3)`` uint8 RGB per class id (default: :func:`class_palette`).

        Returns:
            ``(H, 2W, 3)`` uint8 RGB.
        """
        import cv2

        left = SemanticMask.draw(self, image, alpha=alpha, colours=colours)
        right = depth_colours(self.depth, self.depth_range)
        h, w = right.shape[:2]
        bar_h = max(3, h // 24)
        if h >= 4 * bar_h and w >= 16:  # a scale bar near -> far, with its ends in metres
            ramp = np.linspace(1.0, 0.0, w, dtype=np.float32)  # depth_colours: near = 255
            u8 = np.round(255 * ramp).astype(np.uint8)[None, :].repeat(bar_h, 0)
            bar = cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
            right[h - bar_h :] = bar
            near, far = depth_limits(self.depth, self.depth_range)
            font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.35
            far_w = cv2.getTextSize(f"{far:.1f} m", font, scale, 1)[0][0]
            for text, x in ((f"{near:.1f} m", 2), (f"{far:.1f} m", w - far_w - 2)):
                org = (x, h - bar_h - 3)  # white on a black outline: readable on any colour
                cv2.putText(right, text, org, font, scale, (0, 0, 0), 2, cv2.LINE_AA)
                cv2.putText(right, text, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return np.concatenate([left, right], axis=1)

    def depth_stats(self, mask: np.ndarray | None = None) -> dict[str, float | None]:
        """``{"min", "median", "max"}`` metres over the finite depths (where ``mask``, an
        ``(H, W)`` bool, is True), rounded to 1 mm; ``None`` where there are none."""
        v = self.depth if mask is None else self.depth[mask]
        v = v[np.isfinite(v)]
        stats = (v.min(), np.median(v), v.max()) if v.size else (np.nan,) * 3
        return {
            k: (round(float(x), 3) if np.isfinite(x) else None)
            for k, x in zip(("min", "median", "max"), stats)
        }

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-safe dict: the semantic summary (``class_fractions``, ``components``, with
        ``masks`` the label masks) plus ``depth``: ``{"min", "median", "max"}`` metres over
        the finite depths, and ``depth_by_class``: the same per present class, by name (how
        far the road, the nearest car ...); metres rounded to 1 mm."""
        d = super().to_dict(masks=masks)
        d["type"] = "depthseg"
        d["depth"] = self.depth_stats()
        d["depth_by_class"] = {
            self.class_label(c): self.depth_stats(self.class_map == c)
            for c in self.present_classes()
        }
        return d


Result = Detections | InstanceMasks | SemanticMask
