"""Frame pairs with exact flow as network inputs (FeatFlowNet training and flow scoring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from edgevision.config import ModelSpec
from edgevision.data.flow import flow_to_input
from edgevision.preprocess import preprocess

__all__ = ["pair_batch"]


def pair_batch(
    samples: Sequence[Any], spec: ModelSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Network inputs of frame pairs and their flow on the input grid, in input pixels.

    Returns ``(key, cur, flow, valid)``: ``key``/``cur`` ``(N, 3, H, W)`` normalised
    ``image1``/``image0``; ``flow`` ``(N, 2, H, W)`` current -> keyframe and ``valid``
    ``(N, 1, H, W)`` (:func:`~edgevision.data.flow.flow_to_input`).
    """
    cur, ts = preprocess([s.image0 for s in samples], spec)
    key, _ = preprocess([s.image1 for s in samples], spec)
    moved = [flow_to_input(s.flow, s.valid, t) for s, t in zip(samples, ts)]
    flow = torch.from_numpy(np.stack([f for f, _ in moved])).permute(0, 3, 1, 2).float()
    valid = torch.from_numpy(np.stack([v for _, v in moved])).float()[:, None]
    return torch.from_numpy(key), torch.from_numpy(cur), flow, valid
