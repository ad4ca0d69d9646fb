"""YOLO-ReT (Ganesh et al., WACV 2022): a truncated MobileNetV2 backbone, RFCR, optional
FPN/PANet aggregation, and a YOLOv3-style 3-scale anchor head.

* **Truncation** drops the last inverted-residual blocks of the backbone (the paper drops
  the last two of MobileNetV2: they hold a large share of the parameters but carry
  ImageNet-specific features that transfer poorly to detection).
* **RFCR** (:class:`~edgevision.models.layers.rfcr.RFCR`) collects the stride-4, 8, 16 and 32
  backbone features, fuses them at stride 16 and redistributes the result to the three
  detection scales.
* Aggregation ``none | fpn | panet`` (:class:`~edgevision.models.layers.panet.FeatureAggregation`).
* Head: per scale a 3×3 depthwise-separable conv, then the shared anchor prediction.

All activations are ReLU6 (quantize well to INT8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.detection.head import YoloHead
from edgevision.models.detection.yolov5 import _COMMON
from edgevision.models.layers.conv import ConvBNAct
from edgevision.models.layers.panet import FeatureAggregation
from edgevision.models.layers.rfcr import RFCR
from edgevision.registry import register_model

__all__ = ["YOLORet", "yolo_ret"]

_LEVELS = ("c2", "c3", "c4", "c5")


class YOLORet(nn.Module):
    """MobileNetV2 -> [RFCR] -> aggregation -> head.

    Args:
        backbone: a :class:`MobileNetV2` returning ``c2 .. c5``.
        num_classes: ``C``.
        rfcr: use RFCR.
        shortcut: RFCR's residual around the fusion block.
        rfcr_channels: RFCR fusion width.
        neck: ``"none"``, ``"fpn"`` or ``"panet"``.
        neck_channels: width of the aggregated features and the head.
        anchors: per level ``(w, h)`` pairs in input pixels.

    Input ``(N, 3, H, W)`` normalised float, ``H``, ``W`` multiples of 32.
    """

    def __init__(
        self,
        backbone: MobileNetV2,
        *,
        num_classes: int,
        rfcr: bool = True,
        shortcut: bool = True,
        rfcr_channels: int = 64,
        neck: Literal["none", "fpn", "panet"] = "fpn",
        neck_channels: int = 96,
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        missing = [k for k in _LEVELS if k not in backbone.out_channels]
        if missing or backbone.strides.get("c5") != 32:
            raise ValueError(
                "YOLO-ReT needs backbone stages c2..c5 with c5 at stride 32; truncate less "
                f"(missing: {missing or ['stride-32 c5']})"
            )
        self.backbone = backbone
        chans = [backbone.out_channels[k] for k in _LEVELS]
        self.rfcr: RFCR | None = None
        if rfcr:
            self.rfcr = RFCR(
                chans,
                [backbone.strides[k] for k in _LEVELS],
                channels=rfcr_channels,
                fuse_stride=16,
                out_indices=(1, 2, 3),
                shortcut=shortcut,
            )
            det_ch = self.rfcr.out_channels
        else:
            det_ch = chans[1:]
        self.neck = FeatureAggregation(det_ch, neck_channels, mode=neck)
        self.head_convs = nn.ModuleList(
            nn.Sequential(
                ConvBNAct(neck_channels, neck_channels, 3, groups=neck_channels),
                ConvBNAct(neck_channels, neck_channels, 1),
            )
            for _ in range(3)
        )
        self.head = YoloHead([neck_channels] * 3, num_classes, anchors=anchors)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        f = self.backbone(x)
        feats = [f[k] for k in _LEVELS]
        det = self.rfcr(feats) if self.rfcr is not None else feats[1:]
        agg = self.neck(det)
        return self.head([m(a) for m, a in zip(self.head_convs, agg)])


def yolo_ret(
    *,
    num_classes: int,
    width_mult: float,
    truncate: int = 2,
    rfcr: bool = True,
    shortcut: bool = True,
    rfcr_channels: int = 64,
    neck: Literal["none", "fpn", "panet"] = "fpn",
    neck_channels: int = 96,
    anchors: Sequence[Sequence[float]] | None = None,
) -> YOLORet:
    """Build YOLO-ReT on MobileNetV2 ×``width_mult`` with the last ``truncate`` blocks dropped."""
    if not 0 <= truncate <= 3:
        raise ValueError(f"truncate must be in [0, 3] (c5 needs one block), got {truncate}")
    bb = MobileNetV2(width_mult=width_mult, truncate=truncate)
    return YOLORet(
        bb,
        num_classes=num_classes,
        rfcr=rfcr,
        shortcut=shortcut,
        rfcr_channels=rfcr_channels,
        neck=neck,
        neck_channels=neck_channels,
        anchors=anchors,
    )


def _register(name: str, width: float) -> None:
    doc = f"YOLO-ReT on MobileNetV2 x{width} (truncated, RFCR, FPN, YOLOv3 head)."

    @register_model(name, class_names=("object",), description=doc, **_COMMON)  # type: ignore[arg-type]
    def factory(
        *,
        num_classes: int,
        truncate: int = 2,
        rfcr: bool = True,
        shortcut: bool = True,
        rfcr_channels: int = 64,
        neck: Literal["none", "fpn", "panet"] = "fpn",
        neck_channels: int = 96,
        anchors: Sequence[Sequence[float]] | None = None,
    ) -> YOLORet:
        return yolo_ret(
            num_classes=num_classes,
            width_mult=width,
            truncate=truncate,
            rfcr=rfcr,
            shortcut=shortcut,
            rfcr_channels=rfcr_channels,
            neck=neck,
            neck_channels=neck_channels,
            anchors=anchors,
        )

    factory.__doc__ = doc


_register("yolo_ret_m075", 0.75)
_register("yolo_ret_m100", 1.0)
_register("yolo_ret_m140", 1.4)
