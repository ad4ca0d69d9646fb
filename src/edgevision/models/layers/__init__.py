"""Reusable building blocks."""

from edgevision.models.layers.aspp import ASPP
from edgevision.models.layers.conv import (
    ConvBNAct,
    InvertedResidual,
    SeparableConvBNAct,
    make_divisible,
)
from edgevision.models.layers.dappm import DAPPM
from edgevision.models.layers.daspp import DASPP
from edgevision.models.layers.esp import ESPModule

__all__ = [
    "ASPP",
    "DAPPM",
    "DASPP",
    "ConvBNAct",
    "ESPModule",
    "InvertedResidual",
    "SeparableConvBNAct",
    "make_divisible",
]
