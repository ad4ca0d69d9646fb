"""Per-pixel losses for semantic segmentation: cross-entropy, OHEM cross-entropy, focal.

Every loss takes ``(logits, target)``:

- ``logits``: ``(N, C, h, w)`` float, raw scores at the model's native resolution;
  bilinearly upsampled (``align_corners=False``) to the label size when ``(h, w) != (H, W)``.
- ``target``: ``(N, H, W)`` int64 class ids in ``[0, C)`` or ``ignore_index``.

and returns a scalar: the mean over non-ignored pixels, or, with class weights ``w``, the
weighted mean ``Σ w[y_i]·ℓ_i / Σ w[y_i]`` (what ``torch.nn.functional.cross_entropy`` does
with ``weight=``). A batch whose pixels are all ignored gives a loss of exactly 0 that still
backpropagates (zero gradients), never NaN.

Models with auxiliary heads return ``{"out": logits, "aux": aux_logits}`` in training mode;
:class:`SegLoss` sums ``loss(out) + aux_weight · loss(aux)``. :func:`build_loss` builds the
wrapped loss by name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevision.errors import ConfigError

__all__ = [
    "LOSSES",
    "CrossEntropy",
    "FocalLoss",
    "OhemCrossEntropy",
    "SegLoss",
    "build_loss",
]


def _as_weight(weight: Tensor | Sequence[float] | np.ndarray | None) -> Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(np.asarray(weight) if not isinstance(weight, Tensor) else weight)
    w = w.detach().to(torch.float32)
    if w.ndim != 1 or w.numel() == 0:
        raise ConfigError(
            f"class weights must be a 1-D sequence of C numbers, got {tuple(w.shape)}"
        )
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ConfigError(f"class weights must be finite and >= 0, got {w.tolist()}")
    return w


class _PixelLoss(nn.Module):
    """Shared input checks, upsampling, class weighting and the weighted mean."""

    weight: Tensor | None

    def __init__(
        self, ignore_index: int, weight: Tensor | Sequence[float] | np.ndarray | None = None
    ) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.register_buffer("weight", _as_weight(weight), persistent=False)

    def extra_repr(self) -> str:
        w = "" if self.weight is None else f", weight={[round(v, 4) for v in self.weight.tolist()]}"
        return f"ignore_index={self.ignore_index}{w}"

    def _prepare(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Upsampled logits, target with ignored pixels set to 0, valid mask, pixel weights."""
        if logits.ndim != 4:
            raise ValueError(f"logits must be (N, C, h, w), got shape {tuple(logits.shape)}")
        if target.ndim != 3 or target.shape[0] != logits.shape[0]:
            raise ValueError(
                f"target must be (N, H, W) with N={logits.shape[0]}, got shape {tuple(target.shape)}"
            )
        if target.dtype.is_floating_point or target.dtype == torch.bool:
            raise TypeError(f"target must hold integer class ids, got {target.dtype}")
        c = logits.shape[1]
        if self.weight is not None and self.weight.numel() != c:
            raise ValueError(f"{self.weight.numel()} class weights for {c} classes")
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(
                logits, size=tuple(target.shape[-2:]), mode="bilinear", align_corners=False
            )
        target = target.long()
        valid = target != self.ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        if self.weight is not None:
            pw = self.weight.to(device=logits.device, dtype=logits.dtype)[safe] * valid
        else:
            pw = valid.to(logits.dtype)
        return logits, safe, valid, pw

    @staticmethod
    def _weighted_mean(losses: Tensor, pw: Tensor) -> Tensor:
        """``Σ pw·ℓ / Σ pw``; 0 (with grad) when ``Σ pw = 0``."""
        num = (losses * pw).sum()
        den = pw.sum()
        return num / torch.where(den > 0, den, torch.ones_like(den))


class CrossEntropy(_PixelLoss):
    """Softmax cross-entropy over pixels (equals ``F.cross_entropy(..., ignore_index, weight)``
    on same-size inputs, but 0 instead of NaN when every pixel is ignored).

    Args:
        ignore_index: label value that contributes nothing.
        weight: optional ``(C,)`` non-negative class weights.

    Shapes: ``logits (N, C, h, w)`` float, ``target (N, H, W)`` int64 -> scalar.
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, safe, _, pw = self._prepare(logits, target)
        ce = F.cross_entropy(logits, safe, reduction="none")
        return self._weighted_mean(ce, pw)


class OhemCrossEntropy(_PixelLoss):
    """Cross-entropy over the hardest pixels only (online hard example mining), as in
    HRNet/DDRNet's ``OhemCrossEntropy``.

    A valid pixel is kept when the softmax probability of its true class is below ``thresh``;
    if that keeps fewer than ``k`` pixels, the ``k`` pixels with the lowest true-class
    probability are kept instead (ties broken by sort order, so exactly ``k``). ``k`` is
    ``min(min_kept, ceil(min_kept_cap · n_valid))``: HRNet's 100 000 is ~1/16 of its
    3×512×1024-pixel per-GPU batch, so for small inputs (crops, tests, a 2×64×64 batch) ``k``
    scales down to the same share instead of keeping every pixel (plain CE). The loss is the
    (class-weighted) mean CE of the kept pixels. Selection is not differentiated.

    Args:
        ignore_index: label value never kept.
        thresh: probability threshold in ``(0, 1]``.
        min_kept: keep at least this many pixels per batch (capped, see above).
        weight: optional ``(C,)`` class weights.
        min_kept_cap: the cap on ``min_kept`` as a fraction of the valid pixels, in
            ``(0, 1]``; 1 disables the scaling.

    Shapes: ``logits (N, C, h, w)`` float, ``target (N, H, W)`` int64 -> scalar.
    """

    def __init__(
        self,
        ignore_index: int,
        thresh: float = 0.7,
        min_kept: int = 100_000,
        weight: Tensor | Sequence[float] | np.ndarray | None = None,
        *,
        min_kept_cap: float = 1 / 16,
    ) -> None:
        super().__init__(ignore_index, weight)
        if not 0.0 < thresh <= 1.0:
            raise ConfigError(f"OHEM thresh must be in (0, 1], got {thresh}")
        if min_kept < 1:
            raise ConfigError(f"OHEM min_kept must be >= 1, got {min_kept}")
        if not 0.0 < min_kept_cap <= 1.0:
            raise ConfigError(f"OHEM min_kept_cap must be in (0, 1], got {min_kept_cap}")
        self.thresh = float(thresh)
        self.min_kept = int(min_kept)
        self.min_kept_cap = float(min_kept_cap)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, thresh={self.thresh}, min_kept={self.min_kept}, "
            f"min_kept_cap={self.min_kept_cap:.4g}"
        )

    def _kept(self, logits: Tensor, safe: Tensor, valid: Tensor) -> Tensor:
        with torch.no_grad():
            prob = logits.detach().float().softmax(1).gather(1, safe.unsqueeze(1)).squeeze(1)
            prob = torch.where(valid, prob, torch.full_like(prob, math.inf)).flatten()
            n_valid = valid.sum()
            k = torch.minimum(
                torch.ceil(n_valid.float() * self.min_kept_cap).long(),
                torch.full_like(n_valid, self.min_kept),
            )
            order = prob.argsort()
            rank = torch.empty_like(order)
            rank[order] = torch.arange(order.numel(), device=order.device)
            kept = (prob < self.thresh) | (rank < k)
            return kept.view_as(valid) & valid

    def kept_mask(self, logits: Tensor, target: Tensor) -> Tensor:
        """The pixels the loss would keep: ``(N, H, W)`` bool at the label size."""
        logits, safe, valid, _ = self._prepare(logits, target)
        return self._kept(logits, safe, valid)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, safe, valid, pw = self._prepare(logits, target)
        kept = self._kept(logits, safe, valid)
        ce = F.cross_entropy(logits, safe, reduction="none")
        return self._weighted_mean(ce, pw * kept)


class FocalLoss(_PixelLoss):
    """Softmax focal loss ``−α_t (1 − p_t)^γ log p_t`` (Lin et al. 2017) over pixels.

    ``α_t`` is the class weight of the pixel's true class (``weight``; none = 1). The mean is
    the same weighted mean as :class:`CrossEntropy`, so ``gamma=0`` equals cross-entropy with
    the same weights exactly. (RetinaNet normalises by the number of anchors instead; for
    dense per-pixel labels the weighted mean keeps the loss scale independent of ``α``.)

    Args:
        ignore_index: label value that contributes nothing.
        gamma: focusing parameter ``>= 0``.
        weight: optional ``(C,)`` per-class ``α``.

    Shapes: ``logits (N, C, h, w)`` float, ``target (N, H, W)`` int64 -> scalar.
    """

    def __init__(
        self,
        ignore_index: int,
        gamma: float = 2.0,
        weight: Tensor | Sequence[float] | np.ndarray | None = None,
    ) -> None:
        super().__init__(ignore_index, weight)
        if not gamma >= 0:
            raise ConfigError(f"focal gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma}"

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, safe, _, pw = self._prepare(logits, target)
        logp = F.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -logp
        if self.gamma != 0.0:
            # 1 − p_t = −expm1(log p_t), clamped so that (·)^γ has a finite gradient at p_t = 1
            one_minus = (-torch.expm1(logp)).clamp_min(torch.finfo(logp.dtype).tiny)
            loss = one_minus.pow(self.gamma) * loss
        return self._weighted_mean(loss, pw)


class SegLoss(nn.Module):
    """Apply a per-pixel loss to a model's output: a logits tensor, or the training-mode dict
    ``{"out": logits, "aux": aux_logits}`` as ``base(out) + aux_weight · base(aux)``.

    Args:
        base: a loss ``(logits (N,C,h,w), target (N,H,W)) -> scalar``.
        aux_weight: weight of the auxiliary head's loss (DDRNet/PSPNet use 0.4).

    Raises:
        ValueError: a dict without ``"out"`` or with keys other than ``"out"``/``"aux"``.
    """

    def __init__(self, base: nn.Module, aux_weight: float = 0.4) -> None:
        super().__init__()
        if not aux_weight >= 0:
            raise ConfigError(f"aux_weight must be >= 0, got {aux_weight}")
        self.base = base
        self.aux_weight = float(aux_weight)

    def extra_repr(self) -> str:
        return f"aux_weight={self.aux_weight}"

    def forward(self, outputs: Tensor | Mapping[str, Tensor], target: Tensor) -> Tensor:
        if isinstance(outputs, Tensor):
            return self.base(outputs, target)
        if not isinstance(outputs, Mapping):
            raise TypeError(
                f"model output must be a tensor or a dict, got {type(outputs).__name__}"
            )
        extra = set(outputs) - {"out", "aux"}
        if "out" not in outputs or extra:
            raise ValueError(
                f"model output dict must have 'out' and optionally 'aux', got {sorted(outputs)}"
            )
        loss = self.base(outputs["out"], target)
        if "aux" in outputs and self.aux_weight > 0:
            loss = loss + self.aux_weight * self.base(outputs["aux"], target)
        return loss


LOSSES: dict[str, type[_PixelLoss]] = {
    "ce": CrossEntropy,
    "ohem": OhemCrossEntropy,
    "focal": FocalLoss,
}
"""Loss names accepted by :func:`build_loss`."""


def build_loss(
    name: str,
    *,
    ignore_index: int,
    class_weights: Tensor | Sequence[float] | np.ndarray | None = None,
    aux_weight: float = 0.4,
    **kw: Any,
) -> SegLoss:
    """Build a segmentation loss by name, wrapped in :class:`SegLoss`.

    Args:
        name: ``"ce"``, ``"ohem"`` or ``"focal"``.
        ignore_index: label value ignored by the loss.
        class_weights: optional ``(C,)`` class weights (e.g. from
            :func:`edgevision.losses.class_balanced.class_balanced_weights`).
        aux_weight: weight of an auxiliary head's loss (used when the model returns a dict).
        **kw: the loss's own options (``thresh``, ``min_kept``, ``min_kept_cap`` for OHEM;
            ``gamma`` for focal).

    Returns:
        A :class:`SegLoss` taking ``(model output, target (N, H, W) int64)``.

    Raises:
        ConfigError: unknown name or option, or invalid value.
    """
    cls = LOSSES.get(name)
    if cls is None:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "ignore_index", "weight")]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for loss {name!r}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    base = cls(ignore_index=ignore_index, weight=class_weights, **kw)
    return SegLoss(base, aux_weight=aux_weight)
