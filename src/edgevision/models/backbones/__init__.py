"""Backbones returning multi-scale features ``{"c1": stride 2, ..., "c5": stride 32}``."""

from edgevision.models.backbones.mobilenetv2 import MobileNetV2

__all__ = ["MobileNetV2"]
