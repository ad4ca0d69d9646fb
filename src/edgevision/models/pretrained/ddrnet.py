"""The official DDRNet-23-slim checkpoints (github.com/ydhongHIT/DDRNet) -> ``ddrnet23_slim``.

Names of the official ``DualResNet`` (``classification/DDRNet_23_slim.py``, the ImageNet file
``DDRNet23s_imagenet.pth``; the segmentation code uses the same names):

- ``conv1.0`` conv (with a bias), ``conv1.1`` BN, ``conv1.3`` conv (with a bias), ``conv1.4``
  BN: our ``stem``; the two conv biases are folded into the BNs' running means;
- ``layer1``, ``layer2`` (shared trunk), ``layer3``, ``layer4``, ``layer5`` (low-resolution
  branch) and ``layer3_``, ``layer4_``, ``layer5_`` (high-resolution branch): blocks with
  ``conv1``/``bn1``, ``conv2``/``bn2`` (``conv3``/``bn3`` in the Bottleneck), ``downsample.0/1``;
- ``compression3/4`` (``.0`` conv, ``.1`` BN), ``down3`` (``.0``, ``.1``), ``down4`` (``.0``,
  ``.1``, ReLU, ``.3``, ``.4``): our ``fuse``;
- ImageNet only: ``down5``, ``last_layer``, ``linear`` (the classifier; unused);
- segmentation checkpoints only: ``spp`` (DAPPM: ``scale0`` … ``scale4``, ``process1`` …
  ``process4``, ``compression``, ``shortcut``), ``final_layer`` and ``seghead_extra``
  (``bn1``, ``conv1``, ``bn2``, ``conv2``): our ``dappm``, ``head`` and ``aux_head``.

The backbone of the 95 % rule is ``stem``, ``trunk``, ``low``, ``high`` and ``fuse``.
(The ImageNet ``layer5`` has stride 1 where the segmentation network's has stride 2; the
weights are the same shape and the official segmentation code loads them likewise.)
"""

from __future__ import annotations

import re

from torch import nn

from edgevision.models.pretrained.core import Rule, Site, Source, register_source
from edgevision.models.segmentation.ddrnet import DDRNet

__all__ = ["DDRNET_RULES"]

_BRANCH = {"1": "trunk", "2": "trunk", "3": "low", "4": "low", "5": "low"}
_HEAD = {"bn1": "0", "conv1": "2", "bn2": "3", "conv2": "5"}


def _block(m: re.Match[str]) -> str:
    layer, high, block, kind, rest = m.groups()
    branch = "high" if high else _BRANCH[layer]
    if kind == "downsample":
        return f"{branch}.layer{layer}.{block}.downsample.{rest}"
    part = "0" if kind.startswith("conv") else "1"
    return f"{branch}.layer{layer}.{block}.conv{kind[-1]}.{part}.{rest}"


DDRNET_RULES: tuple[Rule, ...] = (
    Rule(r"conv1\.([01])\.(.+)", r"stem.0.\1.\2"),
    Rule(r"conv1\.([34])\.(.+)", lambda m: f"stem.1.{int(m[1]) - 3}.{m[2]}"),
    Rule(r"layer([1-5])(_?)\.(\d+)\.(conv[1-3]|bn[1-3]|downsample)\.(.+)", _block),
    Rule(r"compression([34])\.([01])\.(.+)", r"fuse.compress\1.\2.\3"),
    Rule(r"down3\.([01])\.(.+)", r"fuse.down3.\1.\2"),
    Rule(r"down4\.([01])\.(.+)", r"fuse.down4.0.\1.\2"),
    Rule(r"down4\.([34])\.(.+)", lambda m: f"fuse.down4.1.{int(m[1]) - 3}.{m[2]}"),
    Rule(r"spp\.scale0\.(.+)", r"dappm.scale0.\1"),
    Rule(r"spp\.scale([1-4])\.(.+)", lambda m: f"dappm.scales.{int(m[1]) - 1}.{m[2]}"),
    Rule(r"spp\.process([1-4])\.(.+)", lambda m: f"dappm.process.{int(m[1]) - 1}.{m[2]}"),
    Rule(r"spp\.(compression|shortcut)\.(.+)", r"dappm.\1.\2"),
    Rule(
        r"(final_layer|seghead_extra)\.(bn1|conv1|bn2|conv2)\.(.+)",
        lambda m: f"{'head' if m[1] == 'final_layer' else 'aux_head'}.{_HEAD[m[2]]}.{m[3]}",
    ),
    Rule(r"(down5|last_layer|linear)\..+", None),  # the ImageNet classifier
)
"""Official DDRNet-23-slim names -> ``ddrnet23_slim``."""

_BACKBONE_PARTS = ("stem.", "trunk.", "low.", "high.", "fuse.")


def _site(model: nn.Module) -> Site | None:
    return Site({p: p for p in _BACKBONE_PARTS}) if isinstance(model, DDRNet) else None


register_source(
    Source(
        name="ddrnet23-slim",
        title="official DDRNet-23-slim (ydhongHIT/DDRNet)",
        where=(
            "DDRNet23s_imagenet.pth, linked from the 'Pretrained models' section of "
            "https://github.com/ydhongHIT/DDRNet (ImageNet; the Cityscapes "
            "segmentation checkpoints linked there use the same names)"
        ),
        backbone="DDRNet dual-resolution network",
        signature=("layer3_.0.conv1.weight", "compression3.0.weight", "down4.3.weight"),
        rules=DDRNET_RULES,
        site=_site,
        bias_folds=(("conv1.0.bias", "stem.0.1"), ("conv1.3.bias", "stem.1.1")),
    )
)
