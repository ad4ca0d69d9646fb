"""DeepLabV3+ (Chen et al. 2018) on a MobileNetV2 backbone, output stride 16.

Encoder: MobileNetV2 (dilated last stage) + ASPP on the stride-16 features. Decoder: the
stride-4 low-level features reduced to 48 channels, concatenated with the upsampled ASPP
output, two separable 3×3 convs, then a 1×1 classifier; logits at 1/4 of the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.layers import ASPP, ConvBNAct, SeparableConvBNAct
from edgevision.models.segmentation import register_camvid_model


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ segmentation network.

    Built from parts (a backbone returning ``{"c2", ..., "c5"}``) with keyword-only options.

    Args:
        backbone: feature extractor with ``out_channels`` for ``low_level`` and ``high_level``.
        num_classes: output classes.
        low_level: key of the stride-4 features for the decoder.
        high_level: key of the stride-16 features for ASPP.
        aspp_channels: width of ASPP and decoder.
        aspp_rates: ASPP dilation rates.

    Input ``(N, 3, H, W)`` normalised float; output logits ``(N, num_classes, H/4, W/4)``
    (the decoder's native resolution; postprocessing upsamples the label map, training the
    logits).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        low_level: str = "c2",
        high_level: str = "c5",
        aspp_channels: int = 256,
        aspp_rates: tuple[int, ...] = (6, 12, 18),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.low_level, self.high_level = low_level, high_level
        ch: dict[str, int] = backbone.out_channels  # type: ignore[assignment]
        self.aspp = ASPP(ch[high_level], aspp_channels, aspp_rates)
        self.decoder = nn.ModuleDict(
            {
                "reduce": ConvBNAct(ch[low_level], 48, 1, act=nn.ReLU),
                "fuse": nn.Sequential(
                    SeparableConvBNAct(aspp_channels + 48, aspp_channels, 3),
                    SeparableConvBNAct(aspp_channels, aspp_channels, 3),
                ),
                "classifier": nn.Conv2d(aspp_channels, num_classes, 1),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        low = self.decoder["reduce"](feats[self.low_level])
        high = self.aspp(feats[self.high_level])
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.decoder["fuse"](torch.cat([high, low], dim=1))
        return self.decoder["classifier"](y)


@register_camvid_model("deeplabv3plus_mobilenetv2", components=("backbone", "aspp", "decoder"))
def deeplabv3plus_mobilenetv2(
    *,
    num_classes: int = 11,
    width_mult: float = 1.0,
    aspp_channels: int = 256,
    output_stride: int = 16,
) -> DeepLabV3Plus:
    """DeepLabV3+ with a MobileNetV2 backbone (output stride 16), ASPP and decoder."""
    rates = (6, 12, 18) if output_stride == 16 else (3, 6, 9)
    backbone = MobileNetV2(width_mult=width_mult, output_stride=output_stride)
    return DeepLabV3Plus(
        backbone, num_classes=num_classes, aspp_channels=aspp_channels, aspp_rates=rates
    )
