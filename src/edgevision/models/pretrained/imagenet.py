"""ImageNet classification checkpoints: torchvision MobileNetV2, torchvision / timm ResNets.

Their backbones go into every model built on our
:class:`~edgevision.models.backbones.mobilenetv2.MobileNetV2` (DeepLabV3+, LiteSeg,
YOLO-ReT, YOLACT-MobileNetV2) or :class:`~edgevision.models.backbones.resnet.ResNet`
(YOLACT-R50/R101); the classifier is not used.

torchvision's MobileNetV2 (``torchvision/models/mobilenetv2.py``) names its layers
``features.0`` (stem ConvBNReLU: ``.0`` conv, ``.1`` BN), ``features.1`` … ``features.17``
(inverted residuals: ``conv.<i>.0/1`` for each ConvBNReLU, then the projection as a bare
conv and BN, ``conv.1``/``conv.2`` in the expansion-free first block, ``conv.2``/``conv.3``
in the others), ``features.18`` (the 1×1 conv to 1280) and ``classifier.1``. torchvision's and
timm's ResNets share the names ``conv1``, ``bn1``, ``layer1`` … ``layer4``
(``<block>.conv1``/``bn1`` … ``conv3``/``bn3``, ``downsample.0/1``) and ``fc``.
"""

from __future__ import annotations

import re

from edgevision.models.backbones.mobilenetv2 import MobileNetV2, block_positions
from edgevision.models.backbones.resnet import ResNet
from edgevision.models.pretrained.core import BACKBONE, Rule, Source, register_source, staged_site

__all__ = ["MOBILENETV2_RULES", "RESNET_RULES", "mobilenetv2_block", "resnet_block"]

_POSITIONS = block_positions()
_C5_BLOCKS = sum(stage == "c5" for stage, _ in _POSITIONS)


def mobilenetv2_block(k: int, rest: str) -> str | None:
    """Backbone-local name of ``features.<k>.conv.<rest>`` of torchvision's MobileNetV2.

    Args:
        k: block number 1 … 17 (``features.k``).
        rest: the name after ``conv.``: ``"<i>.<j>.<param>"`` inside a ConvBNReLU, or
            ``"<i>.<param>"`` for the projection conv / BN.
    """
    if not 1 <= k <= len(_POSITIONS):
        return None
    stage, idx = _POSITIONS[k - 1]
    convs = 1 if k == 1 else 2  # ConvBNReLUs before the projection (no expansion in block 1)
    m = re.fullmatch(r"(\d)\.([01])\.(.+)", rest)
    if m is not None:  # inside a ConvBNReLU: same place in ours
        i, j, param = m.groups()
    else:
        m = re.fullmatch(r"(\d)\.(.+)", rest)
        if m is None:
            return None
        p, param = int(m.group(1)), m.group(2)
        if p not in (convs, convs + 1):
            return None
        i, j = str(convs), str(p - convs)  # bare conv, BN -> our ConvBNAct(act=None) .0, .1
    return f"{BACKBONE}stages.{stage}.{idx}.conv.{i}.{j}.{param}"


def mobilenetv2_last(part: str, param: str) -> str:
    """Backbone-local name of the final 1×1 conv-BN (torchvision ``features.18``)."""
    return f"{BACKBONE}stages.c5.{_C5_BLOCKS}.{part}.{param}"


MOBILENETV2_RULES: tuple[Rule, ...] = (
    Rule(r"features\.0\.([01])\.(.+)", BACKBONE + r"stem.\1.\2"),
    Rule(r"features\.(\d+)\.conv\.(.+)", lambda m: mobilenetv2_block(int(m[1]), m[2])),
    Rule(r"features\.18\.([01])\.(.+)", lambda m: mobilenetv2_last(m[1], m[2])),
    Rule(r"classifier\..+", None),  # the ImageNet classifier
)
"""torchvision ``mobilenet_v2`` -> our MobileNetV2 (``features.18`` only where the model
has ``last_conv``; truncated models leave the last blocks unused)."""


def resnet_block(layer: int, block: str, kind: str, rest: str) -> str:
    """Backbone-local name of ``layer<layer>.<block>.<kind>.<rest>`` of a torchvision ResNet.

    Args:
        layer: 1 … 4 (our stages ``c2`` … ``c5``).
        block: block index in the layer.
        kind: ``conv1`` … ``conv3``, ``bn1`` … ``bn3`` or ``downsample``.
        rest: the parameter name (after ``downsample.``: ``"<0|1>.<param>"``).
    """
    stage = f"{BACKBONE}stages.c{layer + 1}.{block}"
    if kind == "downsample":
        return f"{stage}.short.{rest}"
    part = "0" if kind.startswith("conv") else "1"
    return f"{stage}.body.{int(kind[-1]) - 1}.{part}.{rest}"


RESNET_RULES: tuple[Rule, ...] = (
    Rule(r"conv1\.weight", BACKBONE + "stem.0.0.weight"),
    Rule(r"bn1\.(.+)", BACKBONE + r"stem.0.1.\1"),
    Rule(
        r"layer([1-4])\.(\d+)\.(conv[1-3]|bn[1-3]|downsample)\.(.+)",
        lambda m: resnet_block(int(m[1]), m[2], m[3], m[4]),
    ),
    Rule(r"fc\..+", None),  # the ImageNet classifier
)
"""torchvision / timm ``resnet{18,34,50,101}`` -> our ResNet."""

register_source(
    Source(
        name="torchvision-mobilenetv2",
        title="torchvision ImageNet MobileNetV2",
        where=(
            "torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1' or 'IMAGENET1K_V2'); "
            "the file is https://download.pytorch.org/models/mobilenet_v2-b0353104.pth "
            "(V1) or mobilenet_v2-7ebf99e0.pth (V2), a plain state dict"
        ),
        backbone="MobileNetV2 backbone",
        signature=("features.0.0.weight", "features.1.conv.0.0.weight", "features.18.0.weight"),
        rules=MOBILENETV2_RULES,
        site=staged_site(MobileNetV2),
    )
)

register_source(
    Source(
        name="resnet",
        title="torchvision / timm ImageNet ResNet-18/34/50/101",
        where=(
            "torchvision.models.resnet50/resnet101(weights='IMAGENET1K_V1' or 'IMAGENET1K_V2') "
            "(https://download.pytorch.org/models/resnet50-0676ba61.pth, "
            "resnet101-63fe2227.pth, ...), or timm's resnet50.a1_in1k / resnet101.a1h_in1k "
            "(https://huggingface.co/timm/resnet50.a1_in1k, model.safetensors); same names"
        ),
        backbone="ResNet backbone",
        signature=("conv1.weight", "layer1.0.conv1.weight", "layer4.0.downsample.0.weight"),
        rules=RESNET_RULES,
        site=staged_site(ResNet),
    )
)
