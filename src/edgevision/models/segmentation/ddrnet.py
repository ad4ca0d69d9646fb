"""DDRNet (Hong et al. 2021, "Deep Dual-resolution Networks"), the 23-slim variant.

Layout (``planes = 32``; strides relative to the input):

- ``stem``: two 3×3 stride-2 conv-BN-ReLU -> 1/4, 32 ch.
- ``trunk``: BasicBlock stages ``layer1`` (1/4, 32 ch) and ``layer2`` (1/8, 64 ch).
- two branches from there on, ``low`` (1/16 -> 1/32 -> 1/64; 128 / 256 / 512 ch) and
  ``high`` (1/8 throughout; 64 / 64 / 128 ch), each with ``layer3``, ``layer4`` (2 BasicBlocks)
  and ``layer5`` (1 Bottleneck, expansion 2).
- ``fuse``: *bilateral fusion* after layer3 and layer4: low -> high is a 1×1 conv + BN
  (``compress3/4``), bilinearly upsampled and added; high -> low is one (layer3) or two
  (layer4) strided 3×3 conv + BN (``down3/4``) added.
- ``dappm``: DAPPM on the 1/64 low branch; upsampled to 1/8 and added to the high branch.
- ``head``: BN-ReLU-3×3 conv-BN-ReLU-1×1 conv at 1/8 -> logits.
- ``aux_head``: the same head on the high branch right after the first bilateral fusion
  (the end of the paper's "conv4" stage, ``layer3`` here); used in training only (the
  paper weights its loss 0.4).

As in the reference code, every residual stage ends *without* its ReLU; consumers apply
it, so the fusion adds pre-activation features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.layers import ConvBNAct
from edgevision.models.layers.conv import init_conv_bn_
from edgevision.models.layers.dappm import DAPPM
from edgevision.models.segmentation import register_camvid_model


class BasicBlock(nn.Module):
    """ResNet basic block: 3×3 conv-BN-ReLU -> 3×3 conv-BN, + shortcut, optional final ReLU.

    Input ``(N, in_ch, H, W)``; output ``(N, out_ch, H/stride, W/stride)``.
    """

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1, *, relu: bool = True) -> None:
        super().__init__()
        out_ch = ch * self.expansion
        self.conv1 = ConvBNAct(in_ch, ch, 3, stride, act=nn.ReLU)
        self.conv2 = ConvBNAct(ch, out_ch, 3, act=None)
        self.downsample = _shortcut(in_ch, out_ch, stride)
        self.relu = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.downsample(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 2): 1×1 -> 3×3 (stride) -> 1×1 to ``2·ch``, + shortcut.

    Input ``(N, in_ch, H, W)``; output ``(N, 2·ch, H/stride, W/stride)``.
    """

    expansion = 2

    def __init__(self, in_ch: int, ch: int, stride: int = 1, *, relu: bool = False) -> None:
        super().__init__()
        out_ch = ch * self.expansion
        self.conv1 = ConvBNAct(in_ch, ch, 1, act=nn.ReLU)
        self.conv2 = ConvBNAct(ch, ch, 3, stride, act=nn.ReLU)
        self.conv3 = ConvBNAct(ch, out_ch, 1, act=None)
        self.downsample = _shortcut(in_ch, out_ch, stride)
        self.relu = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.downsample(x))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return ConvBNAct(in_ch, out_ch, 1, stride, act=None)


def _stage(
    block: type[BasicBlock] | type[Bottleneck], in_ch: int, ch: int, n: int, stride: int = 1
) -> nn.Sequential:
    """``n`` blocks; the last one without its final ReLU (the consumer applies it)."""
    blocks = [
        block(
            in_ch if i == 0 else ch * block.expansion, ch, stride if i == 0 else 1, relu=i < n - 1
        )
        for i in range(n)
    ]
    return nn.Sequential(*blocks)


class SegHead(nn.Sequential):
    """DDRNet head: BN-ReLU -> 3×3 conv -> BN-ReLU -> 1×1 conv (bias) to class logits.

    Input ``(N, in_ch, H, W)``; output ``(N, num_classes, H, W)``.
    """

    def __init__(self, in_ch: int, mid_ch: int, num_classes: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(),
            nn.Conv2d(in_ch, mid_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(),
            nn.Conv2d(mid_ch, num_classes, 1),
        )


class DDRNet(nn.Module):
    """Deep Dual-resolution Network (DDRNet-23 layout; ``planes=32`` gives 23-slim).

    Args:
        num_classes: output classes.
        planes: base width (32: 23-slim, 64: 23).
        spp_planes: DAPPM branch width.
        head_planes: width of the segmentation heads' 3×3 conv.
        blocks: BasicBlocks per stage for layer1..layer4 (layer3/4 also on the high branch).
        aux_head: build the auxiliary head (its output appears in training mode only).

    Input ``(N, 3, H, W)`` normalised float. Eval mode returns logits
    ``(N, num_classes, ceil(H/8), ceil(W/8))``; training mode returns
    ``{"out": logits, "aux": aux_logits}`` (both at 1/8) when ``aux_head`` is set.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        planes: int = 32,
        spp_planes: int = 128,
        head_planes: int = 64,
        blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        aux_head: bool = True,
    ) -> None:
        super().__init__()
        hi = planes * 2
        self.stem = nn.Sequential(
            ConvBNAct(3, planes, 3, 2, act=nn.ReLU), ConvBNAct(planes, planes, 3, 2, act=nn.ReLU)
        )
        self.trunk = nn.ModuleDict(
            {
                "layer1": _stage(BasicBlock, planes, planes, blocks[0]),
                "layer2": _stage(BasicBlock, planes, planes * 2, blocks[1], stride=2),
            }
        )
        self.low = nn.ModuleDict(
            {
                "layer3": _stage(BasicBlock, planes * 2, planes * 4, blocks[2], stride=2),
                "layer4": _stage(BasicBlock, planes * 4, planes * 8, blocks[3], stride=2),
                "layer5": _stage(Bottleneck, planes * 8, planes * 8, 1, stride=2),
            }
        )
        self.high = nn.ModuleDict(
            {
                "layer3": _stage(BasicBlock, planes * 2, hi, 2),
                "layer4": _stage(BasicBlock, hi, hi, 2),
                "layer5": _stage(Bottleneck, hi, hi, 1),
            }
        )
        self.fuse = nn.ModuleDict(
            {
                "compress3": ConvBNAct(planes * 4, hi, 1, act=None),
                "compress4": ConvBNAct(planes * 8, hi, 1, act=None),
                "down3": ConvBNAct(hi, planes * 4, 3, 2, act=None),
                "down4": nn.Sequential(
                    ConvBNAct(hi, planes * 4, 3, 2, act=nn.ReLU),
                    ConvBNAct(planes * 4, planes * 8, 3, 2, act=None),
                ),
            }
        )
        self.dappm = DAPPM(planes * 16, spp_planes, planes * 4)
        self.head = SegHead(planes * 4, head_planes, num_classes)
        self.aux_head = SegHead(hi, head_planes, num_classes) if aux_head else None
        init_conv_bn_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        x = self.trunk["layer1"](self.stem(x))
        x = F.relu(self.trunk["layer2"](F.relu(x)))  # 1/8, shared by both branches
        lo = self.low["layer3"](x)  # 1/16
        hi = self.high["layer3"](x)  # 1/8
        size = hi.shape[-2:]
        # bilateral fusion 1 (both directions read the pre-fusion features)
        lo, hi = (
            lo + self.fuse["down3"](F.relu(hi)),
            hi + _up(self.fuse["compress3"](F.relu(lo)), size),
        )
        aux_in = hi
        lo = self.low["layer4"](F.relu(lo))  # 1/32
        hi = self.high["layer4"](F.relu(hi))
        # bilateral fusion 2
        lo, hi = (
            lo + self.fuse["down4"](F.relu(hi)),
            hi + _up(self.fuse["compress4"](F.relu(lo)), size),
        )
        hi = self.high["layer5"](F.relu(hi))
        lo = self.dappm(self.low["layer5"](F.relu(lo)))  # 1/64
        out = self.head(hi + _up(lo, size))
        if self.training and self.aux_head is not None:
            return {"out": out, "aux": self.aux_head(aux_in)}
        return out


def _up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@register_camvid_model(
    "ddrnet23_slim",
    components=("stem", "trunk", "low", "high", "fuse", "dappm", "head", "aux_head"),
)
def ddrnet23_slim(
    *,
    num_classes: int = 11,
    planes: int = 32,
    spp_planes: int = 128,
    head_planes: int = 64,
    aux_head: bool = True,
) -> DDRNet:
    """DDRNet-23-slim: dual-resolution BasicBlock network with DAPPM, logits at 1/8."""
    return DDRNet(
        num_classes=num_classes,
        planes=planes,
        spp_planes=spp_planes,
        head_planes=head_planes,
        aux_head=aux_head,
    )
