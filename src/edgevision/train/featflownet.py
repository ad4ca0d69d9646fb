"""Train the FeatFlowNet of a YOLACT video model (YolactEdge's video mode).

:func:`train_featflownet` trains the FeatFlowNet of a ``video=True`` model on the synthetic
videos' frame pairs with exact ground-truth flow, backbone and heads frozen (YolactEdge's
schedule): an end-point-error loss on the stride-8 flow (the FlyingChairs role; ``epe_weight``)
plus the feature loss that matters at run time, ``‖warp(P_key, flow) − P_cur‖²`` on P4/P5
(``feature_weight``). It has its own small loop (a fixed number of steps over random pairs,
no epochs); :func:`edgevision.train.video.after_training` runs it after the instance task's
training when the config sets ``flow_steps``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgevision.config import ModelSpec
from edgevision.data.flow import FlowPairs, augment_flow_sample
from edgevision.errors import ConfigError, DataError
from edgevision.models.flow.warp import resize_flow
from edgevision.train.schedule import WarmupLR
from edgevision.video.pairs import pair_batch
from edgevision.video.session import partial_features

__all__ = ["flow_epe", "flow_losses", "train_featflownet"]


def flow_epe(flow8: torch.Tensor, flow: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (stride-8 pixels) of ``flow8`` ``(N, 2, h, w)`` over the valid
    pixels of ``flow`` / ``valid`` (on the input grid in input pixels, :func:`pair_batch`)."""
    gt8 = resize_flow(flow, flow8.shape[-2:])
    v8 = F.interpolate(valid, size=flow8.shape[-2:], mode="bilinear", align_corners=False)
    return ((flow8 - gt8).norm(dim=1, keepdim=True) * v8).sum() / v8.sum().clamp(min=1)


def flow_losses(
    model: Any,
    key_img: torch.Tensor,
    cur_img: torch.Tensor,
    flow: torch.Tensor,
    valid: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """EPE of the stride-8 flow and warped-feature MSE on P4/P5 for one batch of pairs.

    Args:
        model: YOLACT with ``flownet``.
        key_img, cur_img: ``(N, 3, H, W)`` normalised keyframe / current images.
        flow: ``(N, 2, H, W)`` ground-truth flow current -> keyframe on the network input's
            grid in input pixels (:func:`pair_batch`; resized and rescaled here to every
            level).
        valid: ``(N, 1, H, W)`` 1 where the flow is valid.

    Returns:
        ``{"epe", "feature", "feature_unwarped"}`` scalars (EPE in stride-8 pixels).
    """
    with torch.no_grad():
        ck = model.lower(key_img)
        cc = model.lower(cur_img)
        k4, k5 = model.upper(ck)
        t3, t4, t5 = model.fpn.top_down(ck, k4, k5)
        key = {"t4": t4, "p4": model.fpn.smooth_level(1, t4), "p5": model.fpn.smooth_level(2, t5)}
        c4, c5 = model.upper(cc)
        true = model.fpn(cc, c4, c5)
    flows = model.flownet(ck, cc)
    epe = flow_epe(flows[0], flow, valid)
    pyr = partial_features(model, key, cc, flows)
    feat = sum(F.mse_loss(pyr[i], true[i]) for i in (1, 2))
    with torch.no_grad():
        unwarped = sum(F.mse_loss(key[k], true[i]) for k, i in (("p4", 1), ("p5", 2)))
    return {"epe": epe, "feature": feat, "feature_unwarped": unwarped}  # type: ignore[dict-item]


_FLOW_CACHE_PAIRS = 2048  # ~1.4 MB each at 240x320: a large flow set is re-read instead


def train_featflownet(
    model: nn.Module,
    data: str | Path,
    *,
    split: str = "train",
    steps: int = 200,
    batch_size: int = 4,
    lr: float = 1e-3,
    schedule: str = "constant",
    max_gap: int = 1,
    augment: bool = False,
    epe_weight: float = 1.0,
    feature_weight: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Train ``model.flownet`` on the synthetic frame pairs (everything else frozen).

    Args:
        model: ``yolact_*`` built with ``video=True`` (``.spec`` set).
        data: synthetic dataset folder with ``videos/{split}/*/flow``.
        split: video split.
        steps: optimizer steps.
        batch_size: pairs per step.
        lr: Adam learning rate.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``steps``).
        max_gap: train on frame pairs up to this many frames apart (flows chained), as a
            keyframe ``K - 1`` frames back is in video mode with ``fixed:K``.
        augment: alter each pair at random with an exact flow
            (:func:`~edgevision.data.flow.augment_flow_sample`).
        epe_weight: weight of the supervised stride-8 end-point error (0 = off).
        feature_weight: weight of the warped-feature loss on P4/P5 (0 = off).
        seed: pair order seed.
        progress: print a line every 20 steps.

    Returns:
        One ``{"step", "epe", "feature", "feature_unwarped"}`` row per step.

    Raises:
        ConfigError: the model has no FeatFlowNet.
        DataError: no frame pairs with flow in the split.
    """
    m: Any = model
    if getattr(m, "flownet", None) is None:
        raise ConfigError("model has no FeatFlowNet: build it with video=True")
    pairs = FlowPairs(data, split, max_gap=max_gap)
    if len(pairs) == 0:
        raise DataError(f"{data}: no frame pairs with ground-truth flow in split {split!r}")
    spec: ModelSpec = m.spec
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    for p in m.flownet.parameters():
        p.requires_grad_(True)
    m.flownet.train()
    opt = torch.optim.Adam(m.flownet.parameters(), lr=lr)
    sched = WarmupLR(opt, total_iters=steps, mode=schedule)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    aug_rng = np.random.default_rng([seed, 1])  # own stream: the pair order is the same either way
    cache: dict[int, Any] = {}
    rows = []
    for step in range(steps):
        idx = rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)
        samples = []
        for i in idx:  # read and chain each pair's flow once, up to a memory budget
            x = cache.get(int(i))
            if x is None:
                x = pairs[int(i)]
                if len(cache) < _FLOW_CACHE_PAIRS:
                    cache[int(i)] = x
            samples.append(x)
        if augment:
            samples = [augment_flow_sample(x, aug_rng) for x in samples]
        key, cur, flow, valid = pair_batch(samples, spec)
        parts = flow_losses(m, key, cur, flow, valid)
        loss = epe_weight * parts["epe"] + feature_weight * parts["feature"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        row = {"step": step + 1, **{k: float(v.detach()) for k, v in parts.items()}}
        rows.append(row)
        if progress and (step + 1) % 20 == 0:
            print(
                f"flow step {step + 1}/{steps}: EPE {row['epe']:.3f} feature {row['feature']:.4f} "
                f"(unwarped {row['feature_unwarped']:.4f})",
                file=sys.stderr,
            )
    for p in m.parameters():
        p.requires_grad_(True)
    m.eval()
    return rows
