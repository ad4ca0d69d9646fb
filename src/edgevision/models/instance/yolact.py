"""YOLACT (Bolya et al., ICCV 2019) in plain PyTorch, split the way YolactEdge needs it.

Parts (each a top-level submodule, so per-component precision can address it by prefix):

* ``backbone_lower``: stem … C3 (stride 8) — computed on every frame in video mode;
* ``backbone_upper``: C4, C5 (strides 16, 32) — keyframes only in video mode;
* ``fpn``: P3–P7 (:class:`~edgevision.models.layers.fpn.FPN`);
* ``protonet``: k prototypes at 1/4 resolution from P3 (3×conv3×3, ×2 upsample, conv3×3,
  conv1×1, ReLU);
* ``head``: one head shared over P3–P7: a 3×3 conv, then class (C + 1), box (4) and mask
  coefficient (k, tanh) 3×3 convs for each of the anchors (aspect ratios {1, 1/2, 2});
* ``semantic``: auxiliary semantic-segmentation 1×1 conv on P3 (training loss only);
* ``flownet`` (``video=True``): YolactEdge's FeatFlowNet
  (:class:`~edgevision.models.flow.featflownet.FeatFlowNet`), see :mod:`edgevision.video`.

``forward`` returns a dict ``{"loc" (N, P, 4) deltas, "conf" (N, P, C + 1) logits, "coef"
(N, P, k), "proto" (N, H/4, W/4, k), "seg" (N, C, H/8, W/8) logits}``;
:meth:`Yolact.export_adapter` gives the deploy graph (softmax scores, no semantic head) whose
outputs :func:`edgevision.postprocess.yolact.yolact_postprocess` turns into
:class:`~edgevision.results.InstanceMasks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.models.backbones.mobilenetv2 import MobileNetV2
from edgevision.models.backbones.resnet import ResNet
from edgevision.models.flow.featflownet import FeatFlowNet
from edgevision.models.layers.fpn import FPN
from edgevision.postprocess.yolact import DEFAULT_ASPECT_RATIOS, DEFAULT_SCALES
from edgevision.registry import register_model

__all__ = ["PredictionHead", "ProtoNet", "Yolact", "YolactExport", "build_yolact"]

COMPONENTS = ("backbone_lower", "backbone_upper", "fpn", "protonet", "head", "flownet")


class ProtoNet(nn.Module):
    """Prototype branch: ``(N, C, h, w)`` P3 -> ``(N, 2h, 2w, k)`` non-negative prototypes."""

    def __init__(self, in_ch: int, num_protos: int = 32, width: int = 256) -> None:
        super().__init__()
        self.pre = nn.Sequential(
            *[
                m
                for i in range(3)
                for m in (nn.Conv2d(in_ch if i == 0 else width, width, 3, padding=1), nn.ReLU(True))
            ]
        )
        self.post = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(width, num_protos, 1),
            nn.ReLU(True),
        )

    def forward(self, p3: torch.Tensor) -> torch.Tensor:
        x = self.pre(p3)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.post(x).permute(0, 2, 3, 1).contiguous()


class PredictionHead(nn.Module):
    """Shared head: per level ``(N, C, h, w)`` -> ``(N, h·w·A, 4 | C+1 | k)``."""

    def __init__(self, in_ch: int, num_classes: int, num_protos: int, num_anchors: int) -> None:
        super().__init__()
        self.num_classes, self.num_protos, self.num_anchors = num_classes, num_protos, num_anchors
        self.upfeature = nn.Sequential(nn.Conv2d(in_ch, in_ch, 3, padding=1), nn.ReLU(True))
        self.bbox = nn.Conv2d(in_ch, num_anchors * 4, 3, padding=1)
        self.conf = nn.Conv2d(in_ch, num_anchors * (num_classes + 1), 3, padding=1)
        self.coef = nn.Conv2d(in_ch, num_anchors * num_protos, 3, padding=1)
        # background prior (focal-loss style) so early training is not swamped by positives
        bias = self.conf.bias
        assert bias is not None
        with torch.no_grad():
            bias.zero_()
            bias.view(num_anchors, num_classes + 1)[:, 0] = 4.0

    @staticmethod
    def _flat(x: torch.Tensor, d: int) -> torch.Tensor:
        n = x.shape[0]
        return x.permute(0, 2, 3, 1).reshape(n, -1, d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.upfeature(x)
        return (
            self._flat(self.bbox(x), 4),
            self._flat(self.conf(x), self.num_classes + 1),
            torch.tanh(self._flat(self.coef(x), self.num_protos)),
        )


def _split_backbone(
    bb: nn.Module,
) -> tuple[nn.Sequential, nn.ModuleList, tuple[int, int, int], dict[str, str]]:
    """Split a stage backbone (``stem`` + ordered ``stages`` c*) at C3.

    Returns ``(lower, upper, (C3, C4, C5) channels, layout)``; ``layout`` maps the backbone's
    own parameter-name prefixes to this model's (``"stages.c4."`` -> ``"backbone_upper.0."``).
    """
    b: Any = bb
    names = list(b.stages.keys())
    if "c3" not in names or names[-1] != "c5":
        raise ValueError(f"backbone must have stages up to c5, got {names}")
    k = names.index("c3")
    lower = nn.Sequential(b.stem, *[b.stages[n] for n in names[: k + 1]])
    upper = nn.ModuleList([b.stages[n] for n in names[k + 1 :]])
    layout = {"stem.": "backbone_lower.0."}
    layout.update(
        {f"stages.{n}.": f"backbone_lower.{i + 1}." for i, n in enumerate(names[: k + 1])}
    )
    layout.update({f"stages.{n}.": f"backbone_upper.{i}." for i, n in enumerate(names[k + 1 :])})
    ch = b.out_channels
    return lower, upper, (int(ch["c3"]), int(ch["c4"]), int(ch["c5"])), layout


class Yolact(nn.Module):
    """YOLACT from its parts (see the module docstring).

    Args:
        backbone: a stage backbone (``stem``, ``stages`` c… in order up to ``c5``,
            ``out_channels``), e.g. :class:`MobileNetV2` or :class:`ResNet`.
        num_classes: object classes (background excluded).
        fpn_channels: channels of every pyramid level.
        num_protos: prototypes ``k``.
        proto_width: channels inside ProtoNet.
        anchor_scales: anchor size per level P3–P7 in input pixels (YOLACT: 24 … 384).
        aspect_ratios: anchor aspect ratios ``w / h``.
        flownet: optional FeatFlowNet (video mode).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        fpn_channels: int = 256,
        num_protos: int = 32,
        proto_width: int = 256,
        anchor_scales: Sequence[float] = DEFAULT_SCALES,
        aspect_ratios: Sequence[float] = DEFAULT_ASPECT_RATIOS,
        flownet: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.backbone_lower, self.backbone_upper, chans, layout = _split_backbone(backbone)
        # which backbone the parts came from, and where its parameters now live (pretrained
        # backbone weights are named for the backbone: edgevision.models.pretrained)
        self.backbone_type: type[nn.Module] = type(backbone)
        self.backbone_layout: dict[str, str] = layout
        self.c3_channels = chans[0]
        self.fpn = FPN(chans, fpn_channels)
        self.protonet = ProtoNet(fpn_channels, num_protos, proto_width)
        self.head = PredictionHead(fpn_channels, num_classes, num_protos, len(aspect_ratios))
        self.semantic = nn.Conv2d(fpn_channels, num_classes, 1)
        self.flownet = flownet
        self.num_classes = num_classes
        self.num_protos = num_protos
        self.anchor_scales = tuple(float(s) for s in anchor_scales)
        self.aspect_ratios = tuple(float(a) for a in aspect_ratios)

    # -- pieces used by the per-frame forward and by video mode ------------------------------
    def lower(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised image -> C3 ``(N, C3, H/8, W/8)``."""
        return self.backbone_lower(x)  # type: ignore[no-any-return]

    def upper(self, c3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """C3 -> ``(C4, C5)``."""
        feats, x = [], c3
        for stage in self.backbone_upper:
            x = stage(x)
            feats.append(x)
        return feats[0], feats[-1]

    def predict(self, pyramid: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Head over all levels, ProtoNet and semantic logits from ``[P3 … P7]``."""
        locs, confs, coefs = zip(*(self.head(p) for p in pyramid))
        return {
            "loc": torch.cat(locs, 1),
            "conf": torch.cat(confs, 1),
            "coef": torch.cat(coefs, 1),
            "proto": self.protonet(pyramid[0]),
            "seg": self.semantic(pyramid[0]),
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c3 = self.lower(x)
        c4, c5 = self.upper(c3)
        return self.predict(self.fpn(c3, c4, c5))

    def export_adapter(self, *, detect_only: bool = False) -> YolactExport:
        """The deploy graph: ``boxes, scores (softmax), coeffs, protos`` (see postprocess)."""
        return YolactExport(self, detect_only=detect_only)


class YolactExport(nn.Module):
    """Deploy wrapper of :class:`Yolact` for ONNX / the torch engine.

    ``detect_only=True`` drops ProtoNet and the coefficients: outputs ``boxes, scores``.
    """

    def __init__(self, model: Yolact, *, detect_only: bool = False) -> None:
        super().__init__()
        self.model = model
        self.detect_only = detect_only
        self.spec = getattr(model, "spec", None)
        self.output_names = ["boxes", "scores"] + ([] if detect_only else ["coeffs", "protos"])
        self.training = model.training  # an exporter restoring "train" must not flip BN

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = self.model
        c3 = m.lower(x)
        c4, c5 = m.upper(c3)
        pyr = m.fpn(c3, c4, c5)
        locs, confs, coefs = zip(*(m.head(p) for p in pyr))
        loc, conf = torch.cat(locs, 1), torch.cat(confs, 1).softmax(-1)
        if self.detect_only:
            return loc, conf
        return loc, conf, torch.cat(coefs, 1), m.protonet(pyr[0])


# ------------------------------------------------------------------------------------------
# registered variants
# ------------------------------------------------------------------------------------------
def build_yolact(
    *,
    num_classes: int,
    backbone: str = "mobilenetv2",
    width_mult: float = 1.0,
    fpn_channels: int = 256,
    num_protos: int = 32,
    proto_width: int = 256,
    anchor_scales: Sequence[float] = DEFAULT_SCALES,
    aspect_ratios: Sequence[float] = DEFAULT_ASPECT_RATIOS,
    video: bool = False,
    flow_width: int = 64,
) -> Yolact:
    """YOLACT with a ``"mobilenetv2"`` or ``"resnet{18,34,50,101}"`` backbone.

    ``video=True`` adds a FeatFlowNet on C3 (YolactEdge video mode).
    """
    bb: nn.Module
    if backbone == "mobilenetv2":
        bb = MobileNetV2(width_mult=width_mult)
    elif backbone.startswith("resnet") and backbone[6:].isdigit():
        bb = ResNet(depth=int(backbone[6:]), width_mult=width_mult)
    else:
        raise ValueError(f"backbone must be 'mobilenetv2' or 'resnet<depth>', got {backbone!r}")
    model = Yolact(
        bb,
        num_classes=num_classes,
        fpn_channels=fpn_channels,
        num_protos=num_protos,
        proto_width=proto_width,
        anchor_scales=anchor_scales,
        aspect_ratios=aspect_ratios,
    )
    if video:
        model.flownet = FeatFlowNet(model.c3_channels, width=flow_width)
    return model


_COMMON = dict(
    task="instance",
    class_names=("object",),
    postprocess="yolact",
    resize="stretch",
    components=("backbone_lower", "backbone_upper", "fpn", "protonet", "head"),
)


@register_model("yolact_r50", input_size=(550, 550), **_COMMON)  # type: ignore[arg-type]
def yolact_r50(
    *,
    num_classes: int,
    fpn_channels: int = 256,
    num_protos: int = 32,
    video: bool = False,
    anchor_scales: Sequence[float] = DEFAULT_SCALES,
) -> Yolact:
    """YOLACT with a ResNet-50 backbone, 550×550 (YOLACT / YolactEdge R50 layout)."""
    return build_yolact(
        num_classes=num_classes,
        backbone="resnet50",
        fpn_channels=fpn_channels,
        num_protos=num_protos,
        video=video,
        anchor_scales=anchor_scales,
    )


@register_model("yolact_r101", input_size=(550, 550), **_COMMON)  # type: ignore[arg-type]
def yolact_r101(
    *,
    num_classes: int,
    fpn_channels: int = 256,
    num_protos: int = 32,
    video: bool = False,
    anchor_scales: Sequence[float] = DEFAULT_SCALES,
) -> Yolact:
    """YOLACT with a ResNet-101 backbone, 550×550 (the paper's main model)."""
    return build_yolact(
        num_classes=num_classes,
        backbone="resnet101",
        fpn_channels=fpn_channels,
        num_protos=num_protos,
        video=video,
        anchor_scales=anchor_scales,
    )


@register_model("yolact_mobilenetv2", input_size=(550, 550), **_COMMON)  # type: ignore[arg-type]
def yolact_mobilenetv2(
    *,
    num_classes: int,
    width_mult: float = 1.0,
    fpn_channels: int = 256,
    num_protos: int = 32,
    proto_width: int = 256,
    video: bool = False,
    flow_width: int = 64,
    anchor_scales: Sequence[float] = DEFAULT_SCALES,
) -> Yolact:
    """YOLACT with a MobileNetV2 backbone, 550×550 (YolactEdge's MobileNetV2 model)."""
    return build_yolact(
        num_classes=num_classes,
        backbone="mobilenetv2",
        width_mult=width_mult,
        fpn_channels=fpn_channels,
        num_protos=num_protos,
        proto_width=proto_width,
        video=video,
        flow_width=flow_width,
        anchor_scales=anchor_scales,
    )


@register_model("yolact_mobilenetv2_320", input_size=(320, 320), **_COMMON)  # type: ignore[arg-type]
def yolact_mobilenetv2_320(
    *,
    num_classes: int,
    width_mult: float = 0.75,
    fpn_channels: int = 96,
    num_protos: int = 16,
    proto_width: int = 96,
    video: bool = False,
    flow_width: int = 32,
    anchor_scales: Sequence[float] = DEFAULT_SCALES,
) -> Yolact:
    """Small CPU YOLACT: MobileNetV2×0.75, 96-channel FPN/ProtoNet, 16 prototypes, 320×320."""
    return build_yolact(
        num_classes=num_classes,
        backbone="mobilenetv2",
        width_mult=width_mult,
        fpn_channels=fpn_channels,
        num_protos=num_protos,
        proto_width=proto_width,
        video=video,
        flow_width=flow_width,
        anchor_scales=anchor_scales,
    )
