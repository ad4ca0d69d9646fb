"""MobileNetV2 backbone (Sandler et al. 2018) with width multiplier, truncation and output stride.

Written in plain PyTorch (no torchvision). Returns a dict of feature maps by stage:
``c1`` (stride 2), ``c2`` (4), ``c3`` (8), ``c4`` (16), ``c5`` (32, or 16 with
``output_stride=16``). Truncation (YOLO-ReT) drops the last inverted-residual blocks.
"""

from __future__ import annotations

from torch import nn

from edgevision.models.backbones.staged import StagedBackbone
from edgevision.models.layers.conv import (
    ConvBNAct,
    InvertedResidual,
    init_conv_bn_,
    make_divisible,
)

# expansion t, channels c, repeats n, stride s, stage the blocks belong to
_SETTINGS: tuple[tuple[int, int, int, int, str], ...] = (
    (1, 16, 1, 1, "c1"),
    (6, 24, 2, 2, "c2"),
    (6, 32, 3, 2, "c3"),
    (6, 64, 4, 2, "c4"),
    (6, 96, 3, 1, "c4"),
    (6, 160, 3, 2, "c5"),
    (6, 320, 1, 1, "c5"),
)
NUM_BLOCKS = sum(s[2] for s in _SETTINGS)  # 17 inverted residual blocks


def block_positions() -> list[tuple[str, int]]:
    """Where each of the 17 inverted-residual blocks sits: ``(stage, index in the stage)`` in
    network order (the order of torchvision's ``features.1`` … ``features.17``).

    Truncation removes blocks from the end of this list; the final 1×1 conv
    (``last_conv``) follows the last block of ``c5``.
    """
    out: list[tuple[str, int]] = []
    count: dict[str, int] = {}
    for _, _, n, _, stage in _SETTINGS:
        for _ in range(n):
            out.append((stage, count.get(stage, 0)))
            count[stage] = count.get(stage, 0) + 1
    return out


class MobileNetV2(StagedBackbone):
    """MobileNetV2 feature extractor.

    Args:
        width_mult: channel multiplier (0.35 … 1.4).
        output_stride: 32 (classification layout) or 16 (last stage dilated, for DeepLab).
        truncate: number of inverted-residual blocks removed from the end (0 … 16).
        last_conv: append the final 1×1 conv (1280·width channels) to ``c5``.

    Input ``(N, 3, H, W)`` float; output ``dict[str, Tensor]`` of the stages that remain.
    ``out_channels`` maps the same keys to channel counts, ``strides`` to strides.
    """

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        output_stride: int = 32,
        truncate: int = 0,
        last_conv: bool = False,
    ) -> None:
        super().__init__()
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
        if not 0 <= truncate < NUM_BLOCKS:
            raise ValueError(f"truncate must be in [0, {NUM_BLOCKS - 1}], got {truncate}")
        stem_ch = make_divisible(32 * width_mult)
        self.stem = ConvBNAct(3, stem_ch, 3, 2)
        stages: dict[str, list[nn.Module]] = {}
        in_ch, stride, dilation, kept = stem_ch, 2, 1, NUM_BLOCKS - truncate
        self.out_channels: dict[str, int] = {}
        self.strides: dict[str, int] = {}
        idx = 0
        for t, c, n, s, stage in _SETTINGS:
            out_ch = make_divisible(c * width_mult)
            for i in range(n):
                if idx >= kept:
                    break
                st = s if i == 0 else 1
                dil = dilation
                if st == 2 and stride * 2 > output_stride:
                    st, dilation = 1, dilation * 2  # keep resolution, dilate instead
                    dil = dilation // 2 if i == 0 else dilation  # first block keeps old rate
                stride *= st
                stages.setdefault(stage, []).append(
                    InvertedResidual(in_ch, out_ch, st, t, dilation=dil)
                )
                in_ch = out_ch
                self.out_channels[stage] = out_ch
                self.strides[stage] = stride
                idx += 1
        if last_conv and truncate == 0:
            last = make_divisible(1280 * max(1.0, width_mult))
            stages["c5"].append(ConvBNAct(in_ch, last, 1))
            self.out_channels["c5"] = last
        self.stages = nn.ModuleDict({k: nn.Sequential(*v) for k, v in stages.items()})
        init_conv_bn_(self)
