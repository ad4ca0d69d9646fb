"""YOLOv5-style detector (Ultralytics v5/v6 layout, written from the architecture):
CSP-Darknet backbone with C3 blocks, SPPF, CSP PANet neck, 3-scale anchor head.

``stem="focus"`` uses the v5.0 Focus (space-to-depth) stem, ``"conv6x6"`` the 6×6/stride-2
conv of v6.0, so the cost of Focus can be measured on the same network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.detection.head import YoloHead
from edgevision.models.layers.csp import C3, SPPF, Focus, conv_silu
from edgevision.registry import register_model

__all__ = ["CSPDarknet", "YOLOv5", "yolov5"]

DETECT_INPUT = (320, 320)
"""Default network input of the registered detectors (CamVid-derived boxes, edge targets)."""


def _ch(c: int, width: float) -> int:
    return max(8, int(round(c * width / 8)) * 8)


def _n(n: int, depth: float) -> int:
    return max(round(n * depth), 1)


class CSPDarknet(nn.Module):
    """CSP-Darknet backbone (YOLOv5 v6 layout).

    Args:
        width: channel multiplier (0.25 for n, 0.5 for s).
        depth: block-count multiplier (0.33 for n and s).
        stem: ``"focus"`` or ``"conv6x6"``.

    Input ``(N, 3, H, W)``; output list of the stride-8, -16, -32 features.
    """

    def __init__(
        self,
        *,
        width: float = 0.25,
        depth: float = 0.33,
        stem: Literal["focus", "conv6x6"] = "conv6x6",
    ) -> None:
        super().__init__()
        c = [_ch(x, width) for x in (64, 128, 256, 512, 1024)]
        if stem == "focus":
            self.stem: nn.Module = Focus(3, c[0], 3)
        elif stem == "conv6x6":
            self.stem = conv_silu(3, c[0], 6, 2)
            # ConvBNAct's "same" padding for k=6 is 2, as in YOLOv5 v6 (p=2)
        else:
            raise ValueError(f"stem must be 'focus' or 'conv6x6', got {stem!r}")
        self.dark2 = nn.Sequential(conv_silu(c[0], c[1], 3, 2), C3(c[1], c[1], _n(3, depth)))
        self.dark3 = nn.Sequential(conv_silu(c[1], c[2], 3, 2), C3(c[2], c[2], _n(6, depth)))
        self.dark4 = nn.Sequential(conv_silu(c[2], c[3], 3, 2), C3(c[3], c[3], _n(9, depth)))
        self.dark5 = nn.Sequential(
            conv_silu(c[3], c[4], 3, 2), C3(c[4], c[4], _n(3, depth)), SPPF(c[4], c[4])
        )
        self.out_channels = c[2:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.dark2(self.stem(x))
        p3 = self.dark3(x)
        p4 = self.dark4(p3)
        return [p3, p4, self.dark5(p4)]


class CSPPAN(nn.Module):
    """YOLOv5's neck: top-down then bottom-up path with C3 blocks (no residuals)."""

    def __init__(self, ch: Sequence[int], n: int) -> None:
        super().__init__()
        c3, c4, c5 = ch
        self.lat5 = conv_silu(c5, c4, 1)
        self.td4 = C3(2 * c4, c4, n, shortcut=False)
        self.lat4 = conv_silu(c4, c3, 1)
        self.td3 = C3(2 * c3, c3, n, shortcut=False)
        self.down3 = conv_silu(c3, c3, 3, 2)
        self.bu4 = C3(2 * c3, c4, n, shortcut=False)
        self.down4 = conv_silu(c4, c4, 3, 2)
        self.bu5 = C3(2 * c4, c5, n, shortcut=False)
        self.out_channels = [c3, c4, c5]

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        h5 = self.lat5(p5)
        x = self.td4(torch.cat([F.interpolate(h5, size=p4.shape[-2:], mode="nearest"), p4], 1))
        h4 = self.lat4(x)
        o3 = self.td3(torch.cat([F.interpolate(h4, size=p3.shape[-2:], mode="nearest"), p3], 1))
        o4 = self.bu4(torch.cat([self.down3(o3), h4], 1))
        o5 = self.bu5(torch.cat([self.down4(o4), h5], 1))
        return [o3, o4, o5]


class YOLOv5(nn.Module):
    """Backbone -> neck -> :class:`YoloHead`, built from parts.

    Input ``(N, 3, H, W)`` normalised float, ``H`` and ``W`` multiples of 32. Output: see
    :class:`~edgevision.models.detection.head.YoloHead` (raw maps in training, ``(N, A, 5+C)``
    sigmoid scores in eval).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: YoloHead) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        return self.head(self.neck(self.backbone(x)))


def yolov5(
    *,
    num_classes: int,
    width: float,
    depth: float,
    stem: Literal["focus", "conv6x6"] = "conv6x6",
    anchors: Sequence[Sequence[float]] | None = None,
) -> YOLOv5:
    """Build a YOLOv5-style detector of the given width/depth."""
    bb = CSPDarknet(width=width, depth=depth, stem=stem)
    neck = CSPPAN(bb.out_channels, _n(3, depth))
    return YOLOv5(bb, neck, YoloHead(neck.out_channels, num_classes, anchors=anchors))


_COMMON = dict(
    task="detect",
    input_size=DETECT_INPUT,
    postprocess="yolo",
    resize="letterbox",
    mean=(0.0, 0.0, 0.0),
    std=(255.0, 255.0, 255.0),
    components=("backbone", "neck", "head"),
)


def _register(name: str, width: float, depth: float) -> Callable[..., YOLOv5]:
    doc = f"YOLOv5{name[-1]}-style detector (width {width}, depth {depth}), Focus or 6×6 stem."

    @register_model(name, class_names=("object",), description=doc, **_COMMON)  # type: ignore[arg-type]
    def factory(
        *,
        num_classes: int,
        stem: Literal["focus", "conv6x6"] = "conv6x6",
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> YOLOv5:
        return yolov5(num_classes=num_classes, width=width, depth=depth, stem=stem, anchors=anchors)

    factory.__doc__ = doc
    factory.__name__ = factory.__qualname__ = name  # in error messages, as a def would be
    return factory


yolov5n = _register("yolov5n", 0.25, 0.33)
yolov5s = _register("yolov5s", 0.5, 0.33)
