"""FastDepthSeg: FastDepth (Wofk et al. 2019, "FastDepth: Fast Monocular Depth Estimation
on Embedded Systems") with a second, segmentation head.

A MobileNetV2 encoder (width 0.5 by default) and the **NNConv5** decoder of FastDepth: five
layers, each a depthwise 5×5 conv and a pointwise 1×1 conv (BN, ReLU) followed by nearest
×2 upsampling, with **additive skip connections** from the encoder stage of the same
resolution. The fifth layer refines at 1/2 of the input instead of upsampling to full size
(the postprocess upsamples), which saves the decoder's most expensive step. Two heads read
the decoder: depth (``max_depth · sigmoid``, metres) and class logits.

Outputs at 1/2 of the input: ``logits (N, C, H/2, W/2)`` and ``depth (N, 1, H/2, W/2)``.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.classnames import CAMVID_CLASSES
from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.layers.conv import ConvBNAct, SeparableConvBNAct, init_conv_bn_
from edgevision.registry import register_model

__all__ = ["FastDepthSeg", "NNConv", "fastdepthseg_mobilenetv2"]


class NNConv(nn.Sequential):
    """FastDepth's decoder layer: depthwise 5×5 conv-BN-ReLU, pointwise 1×1 conv-BN-ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(SeparableConvBNAct(in_ch, out_ch, 5))
        self.out_channels = out_ch


class FastDepthSeg(nn.Module):
    """MobileNet encoder -> NNConv5 decoder with additive skips -> depth and class heads.

    Args:
        backbone: encoder returning ``{"c1", …, "c5"}`` with ``out_channels``.
        num_classes: semantic classes.
        head_channels: channels of the heads' 3×3 conv.
        max_depth: the depth head's output range ``(0, max_depth)`` metres.

    Input ``(N, 3, H, W)`` normalised float; output ``(logits, depth)`` at 1/2 of the
    input (sizes rounded up), in train and eval mode.
    """

    skips = ("c4", "c3", "c2", "c1")

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        head_channels: int = 32,
        max_depth: float = 80.0,
    ) -> None:
        super().__init__()
        if max_depth <= 0:
            raise ValueError(f"max_depth must be > 0, got {max_depth}")
        self.backbone = backbone
        self.max_depth = float(max_depth)
        ch: dict[str, int] = backbone.out_channels  # type: ignore[assignment]
        widths = [ch["c5"], *(ch[k] for k in self.skips)]
        self.decoder = nn.ModuleList(NNConv(a, b) for a, b in itertools.pairwise(widths))
        self.refine = NNConv(widths[-1], head_channels)
        self.depth_head = nn.Sequential(
            ConvBNAct(head_channels, head_channels, 3, act=nn.ReLU), nn.Conv2d(head_channels, 1, 1)
        )
        self.seg_head = nn.Sequential(
            ConvBNAct(head_channels, head_channels, 3, act=nn.ReLU),
            nn.Conv2d(head_channels, num_classes, 1),
        )
        init_conv_bn_(self.decoder)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        y = feats["c5"]
        for layer, key in zip(self.decoder, self.skips):
            skip = feats[key]
            y = F.interpolate(layer(y), size=skip.shape[-2:], mode="nearest") + skip
        y = self.refine(y)
        depth = self.max_depth * torch.sigmoid(self.depth_head(y))
        return self.seg_head(y), depth


@register_model(
    "fastdepthseg_mobilenetv2",
    task="depthseg",
    input_size=(360, 480),
    class_names=CAMVID_CLASSES,
    postprocess="depthseg",
    components=("backbone", "decoder", "refine", "depth_head", "seg_head"),
)
def fastdepthseg_mobilenetv2(
    *,
    num_classes: int = 11,
    width_mult: float = 0.5,
    head_channels: int = 32,
    max_depth: float = 80.0,
) -> FastDepthSeg:
    """FastDepthSeg: MobileNetV2 encoder, NNConv5 decoder with skips, depth + seg heads."""
    backbone = MobileNetV2(width_mult=width_mult, output_stride=32)
    return FastDepthSeg(
        backbone, num_classes=num_classes, head_channels=head_channels, max_depth=max_depth
    )
