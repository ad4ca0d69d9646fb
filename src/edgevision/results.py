"""One result type per task, numpy-only: :class:`Detections`, :class:`InstanceMasks`,
:class:`SemanticMask`.

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
    "Detections",
    "InstanceMasks",
    "SemanticMask",
    "class_palette",
    "coco_mask_api",
    "encode_rle",
    "palette",
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


Result = Detections | InstanceMasks | SemanticMask
