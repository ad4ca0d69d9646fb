"""Ultralytics YOLOv5 (v6.0 and later) weights in state-dict form -> ``yolov5n`` / ``yolov5s``.

Ultralytics builds the network from ``yolov5{n,s}.yaml`` as one ``nn.Sequential`` named
``model``: ``model.0`` the 6×6 stem ``Conv``, ``model.1`` … ``model.9`` the backbone (Conv,
C3, …, SPPF), ``model.10`` … ``model.23`` the PANet neck (Upsample and Concat layers have no
weights) and ``model.24`` the ``Detect`` head (``m.0`` … ``m.2`` 1×1 convs, ``anchors``).
A ``Conv`` holds ``conv`` and ``bn``; ``C3`` holds ``cv1`` … ``cv3`` and ``m.<i>`` bottlenecks
(``cv1``, ``cv2``); ``SPPF`` holds ``cv1`` and ``cv2``. Ours keeps the same sub-names with
``ConvBNAct``'s ``.0`` (conv) and ``.1`` (BN).

The Detect convs fill our head only where the class count matches (80 for COCO); the anchors
are not taken (ours come from the training config, in pixels; Ultralytics stores them in
stride units). The backbone of the 95 % rule is ``backbone``.
"""

from __future__ import annotations

from torch import nn

from edgevision.models.detection.yolov5 import CSPDarknet, YOLOv5
from edgevision.models.pretrained.core import Rule, Site, Source, register_source

__all__ = ["YOLOV5_LAYERS", "YOLOV5_RULES"]

YOLOV5_LAYERS: dict[int, str] = {
    0: "backbone.stem",
    1: "backbone.dark2.0",
    2: "backbone.dark2.1",
    3: "backbone.dark3.0",
    4: "backbone.dark3.1",
    5: "backbone.dark4.0",
    6: "backbone.dark4.1",
    7: "backbone.dark5.0",
    8: "backbone.dark5.1",
    9: "backbone.dark5.2",
    10: "neck.lat5",
    13: "neck.td4",
    14: "neck.lat4",
    17: "neck.td3",
    18: "neck.down3",
    20: "neck.bu4",
    21: "neck.down4",
    23: "neck.bu5",
}
"""Ultralytics layer index -> our module (v6.0 ``yolov5n.yaml`` / ``yolov5s.yaml``)."""


def _layer(index: str, inner: str, part: str, param: str) -> str | None:
    base = YOLOV5_LAYERS.get(int(index))
    return None if base is None else f"{base}.{inner}{part}.{param}"


YOLOV5_RULES: tuple[Rule, ...] = (
    Rule(r"model\.(\d+)\.((?:[\w.]*\.)?)conv\.(weight)", lambda m: _layer(m[1], m[2], "0", m[3])),
    Rule(r"model\.(\d+)\.((?:[\w.]*\.)?)bn\.(.+)", lambda m: _layer(m[1], m[2], "1", m[3])),
    Rule(r"model\.24\.m\.([0-2])\.(weight|bias)", r"head.m.\1.\2"),
    Rule(r"model\.24\.(anchors|anchor_grid|stride)", None),  # ours come from the config
)
"""Ultralytics YOLOv5 v6 names -> our YOLOv5."""


def _site(model: nn.Module) -> Site | None:
    ok = isinstance(model, YOLOv5) and isinstance(model.backbone, CSPDarknet)
    return Site({"": "backbone."}) if ok else None


register_source(
    Source(
        name="yolov5",
        title="Ultralytics YOLOv5 v6+ (state dict)",
        where=(
            "yolov5n.pt / yolov5s.pt from https://github.com/ultralytics/yolov5/releases "
            "(v6.0 or later). Those files pickle the whole model, which edgevision does not "
            "load; for a file you trust (unpickling runs code), in a checkout of "
            'ultralytics/yolov5 run: python -c "import torch; '
            "m = torch.load('yolov5n.pt', weights_only=False)['model']; "
            "torch.save(m.float().state_dict(), 'yolov5n_state.pt')\""
        ),
        backbone="YOLOv5 CSP-Darknet backbone",
        signature=("model.0.conv.weight", "model.9.cv2.conv.weight", "model.24.m.0.weight"),
        rules=YOLOV5_RULES,
        site=_site,
    )
)
