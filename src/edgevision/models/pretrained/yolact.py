"""Official YOLACT (github.com/dbolya/yolact) and YolactEdge
(github.com/WisconsinAIVision/yolact_edge) checkpoints -> the ``yolact_*`` models.

Names in those files:

- ``backbone``: YOLACT's ResNet (``conv1``, ``bn1``, ``layers.0`` … ``layers.3`` = torchvision's
  ``layer1`` … ``layer4``), or YolactEdge's MobileNetV2 (``layers.0`` the stem ConvBNReLU,
  ``layers.1`` … ``layers.7`` one ``nn.Sequential`` per row of the MobileNetV2 table holding
  torchvision-style inverted residuals, ``layers.8`` the 1×1 conv to 1280);
- ``fpn`` (YOLACT) or ``fpn_phase_1`` / ``fpn_phase_2`` (YolactEdge): ``lat_layers.<i>``,
  ``pred_layers.<i>`` — stored **in reverse**, index 0 is the C5/P5 level — and
  ``downsample_layers.0/1`` (P6, P7);
- ``proto_net``: ``nn.Sequential`` from YOLACT's ``make_net``: convs at 0, 2, 4, (bilinear
  ×2 at 6), 8 and 10, ReLUs between;
- ``prediction_layers.0``: the head shared by all levels: ``upfeature.0``, ``bbox_layer``,
  ``conf_layer`` (classes + background, background first), ``mask_layer``;
- ``semantic_seg_conv``: the auxiliary semantic head.

YolactEdge's flow network and other video parts are not used (our FeatFlowNet differs).
The class-dependent convs fill ours only where the class count matches (80 for COCO); with
YolactEdge's MobileNetV2 the FPN taps C4/C5 after the 64- and 160-channel rows where ours
taps 96 and 320 channels, so two lateral convs do not fit. The backbone of the 95 % rule is
``backbone_lower`` + ``backbone_upper``.
"""

from __future__ import annotations

from torch import nn

from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.backbones.resnet import ResNet
from edgevision.models.instance.yolact import Yolact
from edgevision.models.pretrained.core import (
    BACKBONE,
    Rule,
    Site,
    Source,
    register_source,
    staged_site,
)
from edgevision.models.pretrained.imagenet import mobilenetv2_block, mobilenetv2_last, resnet_block

__all__ = ["YOLACT_RULES"]

_ROW_STARTS = (1, 2, 4, 7, 11, 14, 17)
"""First torchvision block number (``features.k``) of YolactEdge's ``layers.1`` … ``layers.7``."""

_PARAM = r"(weight|bias|running_mean|running_var)"

YOLACT_RULES: tuple[Rule, ...] = (
    # ResNet backbone (YOLACT, YolactEdge R50/R101)
    Rule(r"backbone\.conv1\.weight", BACKBONE + "stem.0.0.weight"),
    Rule(r"backbone\.bn1\.(.+)", BACKBONE + r"stem.0.1.\1"),
    Rule(
        r"backbone\.layers\.([0-3])\.(\d+)\.(conv[1-3]|bn[1-3]|downsample)\.(.+)",
        lambda m: resnet_block(int(m[1]) + 1, m[2], m[3], m[4]),
    ),
    # MobileNetV2 backbone (YolactEdge)
    Rule(r"backbone\.layers\.0\.([01])\." + _PARAM, BACKBONE + r"stem.\1.\2"),
    Rule(
        r"backbone\.layers\.([1-7])\.(\d+)\.conv\.(.+)",
        lambda m: mobilenetv2_block(_ROW_STARTS[int(m[1]) - 1] + int(m[2]), m[3]),
    ),
    Rule(r"backbone\.layers\.8\.([01])\." + _PARAM, lambda m: mobilenetv2_last(m[1], m[2])),
    # FPN (stored in reverse level order)
    Rule(
        r"(?:fpn|fpn_phase_1)\.lat_layers\.([0-2])\.(weight|bias)",
        lambda m: f"fpn.lateral.{2 - int(m[1])}.{m[2]}",
    ),
    Rule(
        r"(?:fpn|fpn_phase_2)\.pred_layers\.([0-2])\.(weight|bias)",
        lambda m: f"fpn.smooth.{2 - int(m[1])}.{m[2]}",
    ),
    Rule(r"(?:fpn|fpn_phase_2)\.downsample_layers\.([01])\.(weight|bias)", r"fpn.downsample.\1.\2"),
    # ProtoNet, head, semantic head
    Rule(r"proto_net\.([024])\.(weight|bias)", r"protonet.pre.\1.\2"),
    Rule(r"proto_net\.8\.(weight|bias)", r"protonet.post.0.\1"),
    Rule(r"proto_net\.10\.(weight|bias)", r"protonet.post.2.\1"),
    Rule(r"prediction_layers\.0\.upfeature\.0\.(weight|bias)", r"head.upfeature.0.\1"),
    Rule(r"prediction_layers\.0\.bbox_layer\.(weight|bias)", r"head.bbox.\1"),
    Rule(r"prediction_layers\.0\.conf_layer\.(weight|bias)", r"head.conf.\1"),
    Rule(r"prediction_layers\.0\.mask_layer\.(weight|bias)", r"head.coef.\1"),
    Rule(r"semantic_seg_conv\.(weight|bias)", r"semantic.\1"),
)
"""YOLACT / YolactEdge names -> our Yolact (either backbone)."""

_RESNET_SITE = staged_site(ResNet)
_MOBILENET_SITE = staged_site(MobileNetV2)


def _site(model: nn.Module) -> Site | None:
    if not isinstance(model, Yolact):
        return None
    return _RESNET_SITE(model) or _MOBILENET_SITE(model)


register_source(
    Source(
        name="yolact",
        title="official YOLACT / YolactEdge checkpoint",
        where=(
            "YOLACT: yolact_resnet50_54_800000.pth, yolact_base_54_800000.pth (R101), linked "
            "from https://github.com/dbolya/yolact#evaluation; YolactEdge: "
            "yolact_edge_resnet50_54_800000.pth, yolact_edge_mobilenetv2_54_800000.pth, "
            "linked from https://github.com/WisconsinAIVision/yolact_edge#model-zoo (plain state "
            "dicts)"
        ),
        backbone="YOLACT model",
        signature=("proto_net.0.weight", "prediction_layers.0.conf_layer.weight"),
        rules=YOLACT_RULES,
        site=_site,
    )
)
