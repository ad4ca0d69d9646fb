"""A light EfficientPS (Mohan & Valada 2021, "EfficientPS: Efficient Panoptic Segmentation").

Kept from EfficientPS: a mobile backbone, its **two-way FPN** (top-down and bottom-up
pathways, summed per level, separable convolutions) feeding a **semantic head** and an
**instance head**, and a **panoptic fusion** step. Changed for the edge: the backbone is
MobileNetV2 (width 0.75 by default) instead of EfficientNet-B5, and the instance head is a
bottom-up centre + offset head (as Panoptic-DeepLab) instead of Mask R-CNN, so the whole
network is one ONNX graph without ROI ops or NMS; the fusion
(:func:`edgevision.postprocess.panoptic.panoptic_fusion`) groups thing pixels by their
predicted centres in numpy.

Outputs, all at 1/4 of the input: ``logits (N, C, H/4, W/4)``, ``center (N, 1, H/4, W/4)``
(sigmoid, 0–1) and ``offset (N, 2, H/4, W/4)`` (``dy, dx`` in output pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.classnames import CAMVID_CLASSES
from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.layers.conv import SeparableConvBNAct, init_conv_bn_
from edgevision.models.layers.fpn import TwoWayFPN
from edgevision.registry import register_model

__all__ = ["EfficientPSLite", "efficientps_mobilenetv2"]

CAMVID_THINGS: tuple[str, ...] = ("Car", "Pedestrian", "Bicyclist")
"""Default thing classes (objects counted one by one) among the CamVid classes."""


class EfficientPSLite(nn.Module):
    """Backbone -> two-way FPN -> semantic head and centre/offset instance head.

    Args:
        backbone: feature extractor returning ``{"c2", "c3", "c4", "c5"}`` with
            ``out_channels``.
        num_classes: semantic classes (stuff and things).
        fpn_channels: channels of every FPN level.
        head_channels: channels inside the heads.
        thing_classes: names of the thing classes (recorded in the spec; the fusion reads
            them from there).

    Input ``(N, 3, H, W)`` normalised float; output ``(logits, center, offset)`` at 1/4 of
    the input (see the module docstring), in train and eval mode.
    """

    levels = ("c2", "c3", "c4", "c5")

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        fpn_channels: int = 64,
        head_channels: int = 64,
        thing_classes: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.thing_classes = tuple(thing_classes)
        ch: dict[str, int] = backbone.out_channels  # type: ignore[assignment]
        self.fpn = TwoWayFPN(tuple(ch[k] for k in self.levels), fpn_channels)
        self.semantic_head = _Head(fpn_channels, head_channels, len(self.levels), num_classes)
        self.instance_head = _Head(fpn_channels, head_channels, len(self.levels), 3)
        init_conv_bn_(self.fpn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        ps = self.fpn([feats[k] for k in self.levels])
        logits = self.semantic_head(ps)
        inst = self.instance_head(ps)
        return logits, torch.sigmoid(inst[:, :1]), inst[:, 1:]


class _Head(nn.Module):
    """Per level a separable 3×3 conv, upsampled to the finest level and summed, then a
    separable 3×3 conv and a 1×1 classifier: ``(N, out_ch, H/4, W/4)``."""

    def __init__(self, in_ch: int, mid: int, levels: int, out_ch: int) -> None:
        super().__init__()
        self.per_level = nn.ModuleList(SeparableConvBNAct(in_ch, mid, 3) for _ in range(levels))
        self.fuse = SeparableConvBNAct(mid, mid, 3)
        self.classifier = nn.Conv2d(mid, out_ch, 1)

    def forward(self, ps: list[torch.Tensor]) -> torch.Tensor:
        size = ps[0].shape[-2:]
        y = self.per_level[0](ps[0])
        for conv, p in zip(self.per_level[1:], ps[1:]):
            y = y + F.interpolate(conv(p), size=size, mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(y))  # type: ignore[no-any-return]


@register_model(
    "efficientps_mobilenetv2",
    task="panoptic",
    input_size=(360, 480),
    class_names=CAMVID_CLASSES,
    postprocess="panoptic_fusion",
    components=("backbone", "fpn", "semantic_head", "instance_head"),
)
def efficientps_mobilenetv2(
    *,
    num_classes: int = 11,
    width_mult: float = 0.75,
    fpn_channels: int = 64,
    head_channels: int = 64,
    thing_classes: tuple[str, ...] = CAMVID_THINGS,
) -> EfficientPSLite:
    """Light EfficientPS: MobileNetV2 backbone, two-way FPN, semantic + centre/offset heads."""
    backbone = MobileNetV2(width_mult=width_mult, output_stride=32)
    return EfficientPSLite(
        backbone,
        num_classes=num_classes,
        fpn_channels=fpn_channels,
        head_channels=head_channels,
        thing_classes=tuple(thing_classes),
    )
