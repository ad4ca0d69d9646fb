"""The overlay of ``edgevision run``: which results are drawn, in which colours, with a legend.

What is *recorded* (``--meta`` JSONL, the Python API) and what is *drawn* are separate
choices. A postprocessor keeps low-scoring objects for evaluation (YOLACT keeps everything
scoring ``>= 0.05``, because COCO mAP needs the low end of the precision-recall curve) and
runs NMS per class, so one object seen as two classes keeps both boxes. Drawn as they are,
these are the "duplicate boxes" of the demo: a star at 0.96 and a circle at 0.21 on one
shape (IoU 0.84), or boxes at 0.10–0.23 of other classes around a confidently detected one.
The overlay therefore draws only objects scoring ``>= draw_conf`` (default 0.25, the score Ultralytics and our YOLO
postprocessor show by default) and hides an object when a higher-scored drawn one of another
class overlaps it by IoU ``> draw_iou`` (default 0.5, the postprocessors' own NMS IoU, so
the overlay applies the model's NMS across classes). The JSONL keeps every recorded object.

Colours come from the model's spec: a dataset's standard palette (CamVid, Cityscapes) when
the class names are that dataset's (or ``spec.extra["palette"]`` names one), else
well-separated colours (:func:`edgevision.results.class_palette`). The legend lists the
classes drawn in the frame.

Dense multi-head results: a panoptic frame is drawn segment by segment (stuff in its class
colour, each object its class colour tinted per object, white segment boundaries:
:meth:`~edgevision.results.PanopticMask.draw`); a depth + segmentation frame is drawn side
by side, the class overlay left and the depth colour map with its scale right
(:meth:`~edgevision.results.DepthSegMask.draw_side_by_side`, which says why), so its output
video is twice as wide as the input (``depth_view="blend"``: one frame-sized image, depth
colours with class boundaries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from edgevision.classnames import DATASET_COLOURS
from edgevision.config import validate
from edgevision.errors import ConfigError
from edgevision.postprocess.nms import nms
from edgevision.results import (
    DepthSegMask,
    Detections,
    InstanceMasks,
    SemanticMask,
    class_palette,
)

__all__ = ["PALETTES", "Overlay", "OverlayOptions", "draw_legend"]

PaletteName = Literal["auto", "distinct", "camvid", "cityscapes"]
DepthView = Literal["side", "blend"]
PALETTES: tuple[str, ...] = ("auto", "distinct", *DATASET_COLOURS)
"""``--palette`` choices: ``auto`` (from the spec), ``distinct``, or a dataset's."""


@dataclass
class OverlayOptions:
    """How ``edgevision run`` draws results.

    Attributes:
        draw_conf: draw objects scoring at least this (0–1); recorded ones below it are
            only in the JSONL.
        draw_iou: hide a drawn object whose box overlaps a higher-scored drawn object of
            another class by IoU above this (0–1; 1 = never).
        palette: ``"auto"`` (the spec's dataset palette, else distinct colours),
            ``"distinct"``, or a dataset (``"camvid"``, ``"cityscapes"``).
        legend: draw a legend of the classes in the frame (top right).
        alpha: weight of mask colours, 0–1.
        depth_view: how a depth + segmentation result is drawn: ``"side"`` (class overlay
            and depth colour map side by side, a frame twice as wide) or ``"blend"`` (depth
            colours blended onto the frame, class boundaries in their class colours).
    """

    draw_conf: float = 0.25
    draw_iou: float = 0.5
    palette: PaletteName = "auto"
    legend: bool = True
    alpha: float = 0.5
    depth_view: DepthView = "side"

    def __post_init__(self) -> None:
        validate(self)
        for name in ("draw_conf", "draw_iou", "alpha"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")


def draw_legend(
    image: np.ndarray, names: Sequence[str], colours: np.ndarray, *, max_rows: int = 0
) -> np.ndarray:
    """Draw a legend (a colour swatch and a name per row) into the top-right corner, in place.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, modified in place.
        names: one label per row.
        colours: ``(len(names), 3)`` uint8 RGB.
        max_rows: most rows (0: as many as fit the image height); the rest are summed up
            as ``+N more``.

    Returns:
        ``image``.
    """
    import cv2

    if not len(names):
        return image
    font, scale, row, pad = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 18, 6
    fit = max(1, (image.shape[0] - 2 * pad) // row)
    limit = min(max_rows or fit, fit)
    rows = [(str(n), tuple(int(c) for c in col)) for n, col in zip(names, colours)]
    if len(rows) > limit:
        rows = [*rows[: limit - 1], (f"+{len(rows) - limit + 1} more", (0, 0, 0))]
    tw = max(cv2.getTextSize(n, font, scale, 1)[0][0] for n, _ in rows)
    w = min(tw + 3 * pad + 12, image.shape[1])
    h = len(rows) * row + pad
    x0 = image.shape[1] - w
    panel = image[:h, x0:]
    panel[:] = (panel.astype(np.float32) * 0.35).astype(np.uint8)  # darken behind the text
    for i, (name, col) in enumerate(rows):
        y = pad + i * row
        cv2.rectangle(image, (x0 + pad, y + 2), (x0 + pad + 11, y + 13), col, -1)
        cv2.putText(
            image, name, (x0 + 2 * pad + 12, y + 12), font, scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return image


class Overlay:
    """Draws results for one model (one instance per run, shared by its streams).

    Args:
        class_names: the model's classes in id order (from its spec; may be empty for a
            plugin without one).
        options: what is drawn and how.
        spec_palette: ``spec.extra["palette"]`` of the model, a dataset name used when
            ``options.palette`` is ``"auto"``.

    Raises:
        ConfigError: a palette that is unknown or lacks a colour for some class.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        options: OverlayOptions | None = None,
        *,
        spec_palette: str | None = None,
    ) -> None:
        self.options = options or OverlayOptions()
        self.class_names = list(class_names)
        choice = self.options.palette
        if choice == "auto" and spec_palette:
            choice = spec_palette  # type: ignore[assignment]
        try:
            self.colours = class_palette(self.class_names, dataset=choice)
        except (KeyError, ValueError) as e:
            raise ConfigError(f"--palette {choice}: {e.args[0]}") from None

    @classmethod
    def for_spec(cls, spec: Any, options: OverlayOptions | None = None) -> Overlay:
        """The overlay of a model with a :class:`~edgevision.config.ModelSpec` (or ``None``)."""
        if spec is None:
            return cls([], options)
        extra = getattr(spec, "extra", None) or {}
        named = extra.get("palette")
        return cls(
            spec.class_names, options, spec_palette=named if isinstance(named, str) else None
        )

    def _colours(self, n: int) -> np.ndarray:
        if len(self.colours) >= n:
            return self.colours
        return class_palette(self.class_names, n)  # ids beyond the spec's classes

    def select(self, result: Detections) -> Detections:
        """The objects of ``result`` that are drawn (same type): scoring ``>= draw_conf``,
        then per box at most one class (class-agnostic NMS at ``draw_iou``)."""
        o = self.options
        shown = result[result.scores >= o.draw_conf]
        if len(shown) > 1 and o.draw_iou < 1.0:
            shown = shown[np.sort(nms(shown.boxes, shown.scores, o.draw_iou))]
        return shown

    def __call__(self, image: np.ndarray, result: Any) -> np.ndarray:
        """``result`` drawn on a copy of ``image``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB frame.
            result: :class:`~edgevision.results.Detections`,
                :class:`~edgevision.results.InstanceMasks`,
                :class:`~edgevision.results.SemanticMask`, or a plugin's own result (drawn
                by its ``draw(image)`` if it has one, else not at all).

        Returns:
            ``(H, W, 3)`` uint8 RGB; ``(H, 2W, 3)`` for a depth + segmentation result with
            ``depth_view="side"``.
        """
        o = self.options
        if isinstance(result, SemanticMask):
            ids = result.present_classes()
            colours = self._colours(max(ids, default=-1) + 1)
            if isinstance(result, DepthSegMask) and o.depth_view == "side":
                out = result.draw_side_by_side(image, alpha=o.alpha, colours=colours)
            else:
                out = result.draw(image, alpha=o.alpha, colours=colours)
        elif isinstance(result, Detections):
            shown = self.select(result)
            ids = sorted({int(c) for c in shown.class_ids})
            colours = self._colours(max(ids, default=-1) + 1)
            if isinstance(shown, InstanceMasks):
                out = shown.draw(image, alpha=o.alpha, colours=colours)
            else:
                out = shown.draw(image, colours=colours)
        elif hasattr(result, "draw"):
            return result.draw(image)  # type: ignore[no-any-return]
        else:
            return image
        if o.legend and ids:
            names = [self.class_names[c] if c < len(self.class_names) else str(c) for c in ids]
            draw_legend(out[:, : image.shape[1]], names, colours[ids])  # on the frame's view
        return out
