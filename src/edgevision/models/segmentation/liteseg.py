"""LiteSeg (Emara et al. 2019, "LiteSeg: A Novel Lightweight ConvNet for Semantic Segmentation").

The MobileNetV2 variant, **output stride 32** as in the paper and its reference code: the
full MobileNetV2 (with its final 1×1 conv to 1280 channels) feeds a DASPP (rates 3, 6, 9
at stride 32) whose output is concatenated with the backbone features and projected to 96
channels; the decoder upsamples that to the stride-4 features, concatenates the raw
24-channel low-level features (no 1×1 reduction, as in the reference code), refines with two
separable 3×3 conv-BN-ReLU and classifies with a 1×1 conv. Logits at 1/4 of the input
(the reference code upsamples them to full size; here the loss / postprocess does).

Parameters: ~3.1 M with MobileNetV2-1.0. The paper's 4.38 M includes the backbone's unused
ImageNet classifier (1280×1000 + 1000 = 1.28 M), which the reference model keeps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.layers.daspp import DASPP, SepConvBNReLU
from edgevision.models.segmentation import register_camvid_model


class LiteSeg(nn.Module):
    """LiteSeg encoder-decoder, built from a backbone returning ``{"c2", ..., "c5"}``.

    Args:
        backbone: feature extractor with ``out_channels`` for ``low_level`` and ``high_level``.
        num_classes: output classes.
        low_level: key of the stride-4 features for the decoder skip.
        high_level: key of the deepest features for DASPP.
        daspp_channels: width of the DASPP branches, its projection and the decoder (96).
        rates: DASPP dilation rates ((3, 6, 9) at output stride 32).

    Input ``(N, 3, H, W)`` normalised float; output logits ``(N, num_classes, ceil(H/4),
    ceil(W/4))`` in both train and eval mode.
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        low_level: str = "c2",
        high_level: str = "c5",
        daspp_channels: int = 96,
        rates: tuple[int, ...] = (3, 6, 9),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.low_level, self.high_level = low_level, high_level
        ch: dict[str, int] = backbone.out_channels  # type: ignore[assignment]
        self.daspp = DASPP(ch[high_level], daspp_channels, daspp_channels, rates)
        self.decoder = nn.Sequential(
            SepConvBNReLU(daspp_channels + ch[low_level], daspp_channels, 3),
            SepConvBNReLU(daspp_channels, daspp_channels, 3),
            nn.Conv2d(daspp_channels, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        low = feats[self.low_level]
        y = self.daspp(feats[self.high_level])
        y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.decoder(torch.cat([y, low], dim=1))


@register_camvid_model("liteseg_mobilenetv2", components=("backbone", "daspp", "decoder"))
def liteseg_mobilenetv2(
    *,
    num_classes: int = 11,
    width_mult: float = 1.0,
    daspp_channels: int = 96,
) -> LiteSeg:
    """LiteSeg with a MobileNetV2 backbone (output stride 32), DASPP and decoder; logits at 1/4."""
    backbone = MobileNetV2(width_mult=width_mult, output_stride=32, last_conv=True)
    return LiteSeg(backbone, num_classes=num_classes, daspp_channels=daspp_channels)
