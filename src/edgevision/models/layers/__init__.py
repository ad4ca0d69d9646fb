"""Reusable building blocks."""

from edgevision.models.layers.aspp import ASPP
from edgevision.models.layers.conv import (
    ConvBNAct,
    InvertedResidual,
    SeparableConvBNAct,
    make_divisible,
)

__all__ = ["ASPP", "ConvBNAct", "InvertedResidual", "SeparableConvBNAct", "make_divisible"]
