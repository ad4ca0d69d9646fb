"""ESPNet **v1** (Mehta et al. 2018, "ESPNet: Efficient Spatial Pyramid of Dilated Convolutions").

The full encoder-decoder ESPNet (not ESPNet-C, not v2). Encoder, with input reinforcement
(the image average-pooled to each level's resolution and concatenated):

- level 1 (1/2): 3×3 s2 conv-BN-PReLU to 16 ch, ``cat(image/2)`` -> 19 ch.
- level 2 (1/4): a strided ESP module to 64 ch, ``p`` ESP modules,
  ``cat(ESP out, downsampled, image/4)`` -> 131 ch.
- level 3 (1/8): a strided ESP module to 128 ch, ``q`` ESP modules,
  ``cat(downsampled, ESP out)`` -> 256 ch -> 1×1 conv to C (the ESPNet-C classifier).

Decoder (light-weight, "reduce-upsample-merge"): 2× transposed conv of the 1/8 logits,
merged with the 1/4 features projected to C by an ESP module (no residual), 2× transposed
conv, concatenated with the 19-ch level-1 features and a 3×3 conv-BN-PReLU, and a final
2× transposed conv to the **input resolution**: eval (and train) output is logits
``(N, C, H, W)``. ``H`` and ``W`` must be multiples of 8 (the three transposed convs double
exactly; 360×480 is).

Defaults ``p = 2``, ``q = 8`` are the paper's ESPNet (0.36 M parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from edgevision.models.layers.esp import BNPReLU, ConvBNPReLU, ESPModule, InputProjection
from edgevision.models.segmentation import register_camvid_model


class ESPNetEncoder(nn.Module):
    """ESPNet-C encoder with input reinforcement.

    Input ``(N, 3, H, W)``; :meth:`forward` returns ``(level1, level2, logits)``:
    ``(N, 19, H/2, W/2)``, ``(N, 131, H/4, W/4)`` and ``(N, C, H/8, W/8)`` (ceil).

    Args:
        num_classes: C, classes of the 1/8 classifier.
        p: ESP modules at level 2 (after the downsampling one).
        q: ESP modules at level 3 (after the downsampling one).
    """

    def __init__(self, *, num_classes: int, p: int = 2, q: int = 8) -> None:
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.image2 = InputProjection(1)
        self.image4 = InputProjection(2)
        self.act1 = BNPReLU(16 + 3)
        self.down2 = ESPModule(16 + 3, 64, stride=2)
        self.level2 = nn.Sequential(*(ESPModule(64, 64) for _ in range(p)))
        self.act2 = BNPReLU(128 + 3)
        self.down3 = ESPModule(128 + 3, 128, stride=2)
        self.level3 = nn.Sequential(*(ESPModule(128, 128) for _ in range(q)))
        self.act3 = BNPReLU(256)
        self.classifier = nn.Conv2d(256, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        l1 = self.act1(torch.cat([self.level1(x), self.image2(x)], dim=1))
        d2 = self.down2(l1)
        l2 = self.act2(torch.cat([self.level2(d2), d2, self.image4(x)], dim=1))
        d3 = self.down3(l2)
        l3 = self.act3(torch.cat([d3, self.level3(d3)], dim=1))
        return l1, l2, self.classifier(l3)


def _up2(ch: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(ch, ch, 2, stride=2, bias=False)


class ESPNet(nn.Module):
    """ESPNet v1 encoder-decoder.

    Args:
        num_classes: C.
        p: ESP modules at level 2.
        q: ESP modules at level 3.

    Input ``(N, 3, H, W)`` normalised float, ``H`` and ``W`` multiples of 8; output logits
    ``(N, C, H, W)`` (full resolution) in train and eval mode.

    Raises:
        ValueError: (in forward) ``H`` or ``W`` is not a multiple of 8.
    """

    def __init__(self, *, num_classes: int, p: int = 2, q: int = 8) -> None:
        super().__init__()
        c = num_classes
        self.encoder = ESPNetEncoder(num_classes=c, p=p, q=q)
        self.decoder = nn.ModuleDict(
            {
                "up3": nn.Sequential(nn.BatchNorm2d(c, eps=1e-3), _up2(c)),
                "project2": nn.Conv2d(128 + 3, c, 1, bias=False),
                # an ESP module with C output channels: K = 5 branches, fewer when C < 5
                "merge2": nn.Sequential(
                    BNPReLU(2 * c), ESPModule(2 * c, c, branches=min(5, c), residual=False)
                ),
                "up2": nn.Sequential(_up2(c), BNPReLU(c)),
                "merge1": ConvBNPReLU(16 + 3 + c, c, 3),
                "up1": _up2(c),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x)
        d = self.decoder
        l1, l2, logits3 = self.encoder(x)
        y = d["up3"](logits3)  # 1/4
        y = d["up2"](d["merge2"](torch.cat([d["project2"](l2), y], dim=1)))  # 1/2
        y = d["merge1"](torch.cat([y, l1], dim=1))
        return d["up1"](y)  # 1/1


@torch.fx.wrap
def _check_size(x: torch.Tensor) -> None:
    """Refuse sizes the three stride-2 stages cannot undo (a leaf for torch.fx, so QAT can
    trace the model)."""
    h, w = x.shape[-2:]
    if h % 8 or w % 8:
        raise ValueError(f"ESPNet needs input height and width divisible by 8, got {h}x{w}")


@register_camvid_model("espnet", components=("encoder", "decoder"))
def espnet(*, num_classes: int = 11, p: int = 2, q: int = 8) -> ESPNet:
    """ESPNet v1 (full encoder-decoder, ESP modules, input reinforcement); logits at full size."""
    return ESPNet(num_classes=num_classes, p=p, q=q)
