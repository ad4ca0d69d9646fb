"""Per-step learning-rate schedules: linear warmup, then poly or cosine decay.

:class:`WarmupLR` is a :class:`torch.optim.lr_scheduler.LRScheduler` whose LR is a closed
form of the step count (:func:`lr_factor`), so restoring its ``state_dict`` (plain ints and
floats) resumes it exactly.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

__all__ = ["WarmupLR", "lr_factor"]


def lr_factor(
    it: int,
    *,
    total_iters: int,
    warmup_iters: int = 0,
    warmup_factor: float = 0.001,
    mode: Literal["poly", "cosine", "constant"] = "poly",
    power: float = 0.9,
) -> float:
    """LR multiplier at step ``it`` (0-based), in 0–1.

    ``warmup(it) * decay(it / total_iters)`` with ``warmup`` rising linearly from
    ``warmup_factor`` at step 0 to 1 at ``warmup_iters`` and ``decay`` being
    ``(1 - t) ** power`` (poly), ``(1 + cos(pi t)) / 2`` (cosine) or 1 (constant).
    """
    t = min(max(it / max(total_iters, 1), 0.0), 1.0)
    if mode == "poly":
        decay = (1.0 - t) ** power
    elif mode == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * t))
    elif mode == "constant":
        decay = 1.0
    else:
        raise ValueError(f"unknown schedule {mode!r}")
    if it < warmup_iters:
        alpha = it / warmup_iters
        decay *= warmup_factor * (1.0 - alpha) + alpha
    return decay


class WarmupLR(torch.optim.lr_scheduler.LRScheduler):
    """Warmup + poly/cosine schedule stepped once per iteration.

    Args:
        optimizer: the optimizer; each param group's initial ``lr`` is its peak LR.
        total_iters: steps of the whole run (the decay reaches 0 there).
        warmup_iters: linear warmup steps.
        warmup_factor: LR factor at step 0.
        mode: ``"poly"``, ``"cosine"`` or ``"constant"``.
        power: poly power.
        last_epoch: the last completed step (-1 = fresh start), as in torch schedulers.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        total_iters: int,
        warmup_iters: int = 0,
        warmup_factor: float = 0.001,
        mode: Literal["poly", "cosine", "constant"] = "poly",
        power: float = 0.9,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = int(total_iters)
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = float(warmup_factor)
        self.mode = mode
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def factor(self, it: int) -> float:
        """LR multiplier at step ``it``."""
        return lr_factor(
            it,
            total_iters=self.total_iters,
            warmup_iters=self.warmup_iters,
            warmup_factor=self.warmup_factor,
            mode=self.mode,
            power=self.power,
        )

    def get_lr(self) -> list[float]:  # type: ignore[override]
        f = self.factor(self.last_epoch)
        return [float(base) * f for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()

    def set_total_iters(self, total_iters: int) -> None:
        """Change the schedule's length from the current step on (a resumed run made longer
        or shorter) and set the optimizer's LRs to the new schedule's value now."""
        self.total_iters = int(total_iters)
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)  # type: ignore[arg-type]

    def load_state_dict(self, state_dict: dict) -> None:  # type: ignore[override]
        """Restore the step count and set the optimizer's LRs to that step's values (so the
        schedule is exact even when the optimizer state is not restored with it)."""
        super().load_state_dict(state_dict)
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)  # type: ignore[arg-type]


def resume_schedule(
    scheduler: WarmupLR,
    *,
    planned_epochs: int,
    epochs: int,
    done_epochs: int,
    iters_per_epoch: int,
    out: object,
    announce: bool = True,
) -> None:
    """Apply ``--resume --epochs N`` to a restored schedule: nothing when ``N`` is the planned
    length, else stretch/shorten the schedule from the current step (and say so).

    Raises:
        ConfigError: ``N`` is not more than the epochs already done.
    """
    from edgevision.errors import ConfigError

    if planned_epochs == epochs:
        return
    if epochs <= done_epochs:
        raise ConfigError(
            f"--epochs {epochs}: the run in {out} has already done {done_epochs} epochs; "
            "give more than that"
        )
    scheduler.set_total_iters(epochs * iters_per_epoch)
    if announce:
        print(
            f"--resume: schedule changed from {planned_epochs} to {epochs} epochs at epoch "
            f"{done_epochs} (LR now {scheduler.optimizer.param_groups[0]['lr']:.2e}, "
            f"{scheduler.mode} over the new length)",
            flush=True,
        )
