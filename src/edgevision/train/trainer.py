"""A minimal, resumable training loop: :meth:`Trainer.run_step` plus hooks.

Modelled on detectron2's ``SimpleTrainer``/``HookBase``: the loop is fixed (epochs of
iterations), everything else (evaluation, logging, checkpoints, EMA) is a :class:`HookBase`
with ``before_train / before_epoch / before_step / after_step / after_epoch / after_train``.

**Exact resume.** :meth:`Trainer.state_dict` holds everything the result depends on: the
position (epoch, iteration inside the epoch, global step), optimizer, scheduler, AMP scaler,
the RNG states of python ``random``, numpy and torch (CPU and CUDA; per process under DDP)
and each hook's own state (EMA weights, logger accumulators, best metric). All values are
tensors or plain Python, so checkpoints load with ``torch.load(weights_only=True)``.
Data order and augmentation are functions of (seed, epoch, sample), see
:mod:`edgevision.train.seg_data`, so a run resumed at step ``k`` of epoch ``e`` continues
with exactly the batches an uninterrupted run would have seen.

**Interrupts.** Ctrl-C (SIGINT) or SIGTERM (how ``timeout``, ``kill`` and service managers
stop a process) while :meth:`Trainer.train` runs in the main thread is deferred to the end
of the current step (a second signal stops at once): the state is then
consistent, hooks get :meth:`HookBase.on_exception` (the checkpoint hook saves ``last.pt``
there, so the run resumes *mid-epoch exactly*) and ``KeyboardInterrupt`` is re-raised. An
exception raised by a ``before_step`` hook behaves the same. Any other failure inside a step
leaves the state inconsistent (``Trainer.clean`` is false): no mid-epoch checkpoint is
written, and resuming restarts from the last epoch-end ``last.pt`` - deterministically, since
the epoch's data order is reproduced. A killed process (SIGKILL) resumes the same way.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "HookBase",
    "Trainer",
    "dist_info",
    "get_rng_state",
    "set_rng_state",
]


# ------------------------------------------------------------------------------------------
# distributed helpers
# ------------------------------------------------------------------------------------------
def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside ``torch.distributed``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _to_device(targets: Any, device: torch.device) -> Any:
    """Targets on ``device``: a tensor, or a tuple/list of them (e.g. labels + a teacher's
    logits for distillation)."""
    if isinstance(targets, (tuple, list)):
        return type(targets)(_to_device(t, device) for t in targets)
    return targets.to(device, non_blocking=True)


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist_info()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


# ------------------------------------------------------------------------------------------
# RNG state as plain tensors / Python values (loadable with weights_only=True)
# ------------------------------------------------------------------------------------------
def get_rng_state(cuda: bool | None = None) -> dict[str, Any]:
    """RNG states of python ``random``, numpy's global generator and torch (CPU, CUDA).

    Args:
        cuda: include CUDA states; ``None`` = when CUDA is initialised.

    Returns:
        ``{"python": [version, int64 tensor (625,), gauss], "numpy": {...}, "torch": uint8
        tensor, "cuda": [uint8 tensor per device]}``.
    """
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    if cuda is None:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "python": [int(version), torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if cuda else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(x) for x in internal.tolist()), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------
# hooks
# ------------------------------------------------------------------------------------------
class HookBase:
    """Base class of trainer hooks; override what you need.

    ``self.trainer`` is set when the hook is registered. Hooks run in registration order.
    Hooks that keep state across steps implement :meth:`state_dict` /
    :meth:`load_state_dict` with tensors / plain Python values, and change it only in
    ``after_step`` / ``after_epoch`` (so an interrupt before a step finds it consistent).
    """

    trainer: Trainer

    def before_train(self) -> None:
        """Once, before the first step (also on resume)."""

    def after_train(self) -> None:
        """Once, after the last epoch (not called when training stops by an exception)."""

    def before_epoch(self) -> None:
        """Before the first step of an epoch (not when resuming in the middle of one)."""

    def after_epoch(self) -> None:
        """After the last step of an epoch; ``trainer.epoch`` is still that epoch."""

    def before_step(self) -> None:
        """Before each :meth:`Trainer.run_step`."""

    def after_step(self) -> None:
        """After each step; ``trainer.iter`` already counts it."""

    def on_exception(self, exc: BaseException) -> None:
        """Training stops with ``exc`` (``KeyboardInterrupt`` on Ctrl-C); it is re-raised."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors / plain Python)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


_LEGACY_HOOK_KEYS = {"_DetCheckpointHook": "CheckpointHook"}
"""Hook state keys of checkpoints written before the one training loop -> today's hooks
(detection runs saved their checkpoint hook's best AP50 under its own class name)."""


class _DeferredSigint:
    """Turn the first SIGINT or SIGTERM into a flag checked between steps; a second one
    raises at once. ``signum`` records which signal asked to stop."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum

    def __enter__(self) -> _DeferredSigint:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


# ------------------------------------------------------------------------------------------
# trainer
# ------------------------------------------------------------------------------------------
class Trainer:
    """Epoch/iteration loop with hooks; one :meth:`run_step` per optimizer step.

    Args:
        model: the model (or its ``DistributedDataParallel`` wrapper); called on an
            ``(N, 3, H, W)`` float batch, returning logits or ``{"out", "aux"}``.
        optimizer: its optimizer.
        data_loader: yields ``(images, targets)``; ``len()`` = steps per epoch. If its
            sampler (or dataset) has ``set_epoch(epoch[, skip])`` it is called before every
            epoch (``skip`` = samples already consumed when resuming mid-epoch).
        loss_fn: ``(outputs, targets) -> scalar tensor``.
        scheduler: stepped once per iteration (after the optimizer).
        hooks: :class:`HookBase` instances.
        device: device of the batches.
        max_epochs: epochs to train.
        grad_clip: clip the global gradient norm to this value.
        amp: float16 autocast + gradient scaling (CUDA only).
        channels_last: move the model to NHWC memory format and feed NHWC batches.

    Attributes:
        epoch: current epoch (0-based).
        epoch_iter: steps done in the current epoch.
        iter: steps done in total.
        storage: latest values for hooks: ``loss`` (mean over processes), ``lr`` (of the
            step just taken) and whatever hooks put there (``miou`` ...).
        clean: whether the state is consistent (between steps), i.e. may be checkpointed.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        data_loader: Iterable[Any],
        loss_fn: Any,
        *,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        hooks: Sequence[HookBase] = (),
        device: str | torch.device = "cpu",
        max_epochs: int,
        grad_clip: float | None = None,
        amp: bool = False,
        channels_last: bool = False,
    ) -> None:
        self.model = model
        self.channels_last = bool(channels_last)
        if self.channels_last:
            # NHWC: MKL-DNN's depthwise/BN/activation kernels run ~1.7x faster on CPU for
            # MobileNet-style models (measured on YOLO-ReT training steps); in place, so the
            # optimizer keeps its parameters
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = optimizer
        self.data_loader = data_loader
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.device = torch.device(device)
        self.max_epochs = int(max_epochs)
        self.grad_clip = grad_clip
        self.amp = bool(amp)
        if self.amp and self.device.type != "cuda":
            raise ValueError("amp needs a CUDA device")
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.iters_per_epoch = len(data_loader)  # type: ignore[arg-type]
        if self.iters_per_epoch < 1:
            raise ValueError("the data loader yields no batch")
        self.max_iter = self.max_epochs * self.iters_per_epoch
        self.epoch = 0
        self.epoch_iter = 0
        self.iter = 0
        self.storage: dict[str, Any] = {}
        self.clean = True
        self.rank, self.world_size = dist_info()
        self._elapsed_before = 0.0  # seconds spent in train() by earlier (resumed) runs
        self._train_start: float | None = None
        self._hooks: list[HookBase] = []
        self._data_iter: Iterator[Any] | None = None
        self._sigint: _DeferredSigint | None = None
        self.register_hooks(hooks)

    # -- hooks -------------------------------------------------------------------------------
    def register_hooks(self, hooks: Iterable[HookBase]) -> None:
        """Append hooks (they run in order)."""
        for h in hooks:
            h.trainer = self
            self._hooks.append(h)

    @property
    def hooks(self) -> list[HookBase]:
        return list(self._hooks)

    def _hook_keys(self) -> list[str]:
        keys, seen = [], {}  # type: ignore[var-annotated]
        for h in self._hooks:
            name = type(h).__name__
            seen[name] = seen.get(name, 0) + 1
            keys.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
        return keys

    def _call(self, stage: str) -> None:
        for h in self._hooks:
            getattr(h, stage)()

    # -- models ------------------------------------------------------------------------------
    @property
    def unwrapped(self) -> nn.Module:
        """The model without a ``DistributedDataParallel`` wrapper."""
        return self.model.module if hasattr(self.model, "module") else self.model  # type: ignore[return-value]

    def eval_model(self) -> nn.Module:
        """The weights to evaluate and deploy: the EMA model when a hook keeps one."""
        for h in self._hooks:
            ema = getattr(h, "ema", None)
            if ema is not None:
                return ema.module  # type: ignore[no-any-return]
        return self.unwrapped

    @property
    def lr(self) -> float:
        """Current learning rate of the first param group."""
        return float(self.optimizer.param_groups[0]["lr"])

    # -- the loop ----------------------------------------------------------------------------
    def _start_epoch_data(self) -> None:
        skip_batches = self.epoch_iter
        loader = self.data_loader
        sampler = getattr(loader, "sampler", None)
        batch_size = getattr(loader, "batch_size", None)
        skipped = False
        for obj in (getattr(loader, "dataset", None), sampler):
            fn = getattr(obj, "set_epoch", None)
            if fn is None:
                continue
            if obj is sampler and skip_batches and batch_size:
                fn(self.epoch, skip=skip_batches * batch_size)
                skipped = True
            else:
                fn(self.epoch)
        self._data_iter = iter(loader)
        if skip_batches and not skipped:  # generic loaders: consume the batches already done
            for _ in range(skip_batches):
                next(self._data_iter)

    def run_step(self) -> None:
        """One iteration: next batch, forward, loss, backward, optimizer and scheduler step."""
        assert self._data_iter is not None, "run_step() outside train()"
        images, targets = next(self._data_iter)
        images = images.to(self.device, non_blocking=True)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = _to_device(targets, self.device)
        self.model.train()
        lr = self.lr
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            outputs = self.model(images)
            loss = self.loss_fn(outputs, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at step {self.iter} (epoch {self.epoch + 1}); "
                "lower the learning rate or check the data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        # one all-reduce: mean loss for logging + whether any process got Ctrl-C
        stop = float(self._sigint.requested) if self._sigint is not None else 0.0
        red = _all_reduce_sum(torch.tensor([loss.detach().float().item(), stop]))
        self.storage["loss"] = float(red[0]) / self.world_size
        self.storage["lr"] = lr
        self._stop = bool(red[1] > 0)

    def train(self) -> None:
        """Train from the current position to ``max_epochs``.

        Raises:
            KeyboardInterrupt: on Ctrl-C, after hooks saved the state.
        """
        self._stop = False
        self._train_start = time.monotonic()
        with _DeferredSigint() as sigint:
            self._sigint = sigint
            try:
                self.clean = True
                self._call("before_train")
                while self.epoch < self.max_epochs:
                    if self.epoch_iter == 0:
                        self._call("before_epoch")
                    self._start_epoch_data()
                    while self.epoch_iter < self.iters_per_epoch:
                        self._call("before_step")
                        self.clean = False
                        self.run_step()
                        self.iter += 1
                        self.epoch_iter += 1
                        self._call("after_step")
                        self.clean = True
                        if self._stop:
                            raise KeyboardInterrupt
                    self.clean = False
                    self._call("after_epoch")
                    self.epoch += 1
                    self.epoch_iter = 0
                    self.clean = True
                    if self._stop or sigint.requested:
                        raise KeyboardInterrupt
                self._data_iter = None
                self._call("after_train")
            except BaseException as e:
                self._data_iter = None
                for h in self._hooks:
                    try:
                        h.on_exception(e)
                    except Exception as he:  # report, but the original error matters more
                        warnings.warn(f"{type(h).__name__}.on_exception failed: {he}", stacklevel=2)
                raise
            finally:
                self._sigint = None

    # -- state -------------------------------------------------------------------------------
    def state_dict(self, *, position_after_epoch: bool = False) -> dict[str, Any]:
        """Everything needed to resume (besides the model weights), loadable with
        ``weights_only=True``. Under DDP every process must call it (RNG states are gathered).

        Args:
            position_after_epoch: record the position as the start of the next epoch (used
                by hooks saving inside ``after_epoch``).
        """
        epoch, epoch_iter = self.epoch, self.epoch_iter
        if position_after_epoch:
            epoch, epoch_iter = epoch + 1, 0
        rng = get_rng_state(cuda=self.device.type == "cuda")
        if self.world_size > 1:
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, rng)
            rngs = gathered
        else:
            rngs = [rng]
        keys = self._hook_keys()
        return {
            "epoch": epoch,
            "epoch_iter": epoch_iter,
            "iter": self.iter,
            "max_epochs": self.max_epochs,
            "iters_per_epoch": self.iters_per_epoch,
            "world_size": self.world_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rngs,
            "elapsed_s": self.elapsed,
            "hooks": {k: h.state_dict() for k, h in zip(keys, self._hooks)},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (model weights are loaded separately).

        Raises:
            ValueError: the state was saved with a different number of steps per epoch or
                processes (the data order would differ).
        """
        if int(state["iters_per_epoch"]) != self.iters_per_epoch:
            raise ValueError(
                f"checkpoint has {state['iters_per_epoch']} steps per epoch, this run "
                f"{self.iters_per_epoch} (dataset, batch size or process count changed)"
            )
        if int(state.get("world_size", 1)) != self.world_size:
            raise ValueError(
                f"checkpoint was saved by {state.get('world_size', 1)} processes, "
                f"this run has {self.world_size}"
            )
        self.epoch = int(state["epoch"])
        self.epoch_iter = int(state["epoch_iter"])
        self.iter = int(state["iter"])
        self._elapsed_before = float(state.get("elapsed_s", 0.0))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        hook_states = {_LEGACY_HOOK_KEYS.get(k, k): v for k, v in state.get("hooks", {}).items()}
        keys = self._hook_keys()
        for k, h in zip(keys, self._hooks):
            if k in hook_states:
                h.load_state_dict(hook_states[k])
        unmatched = sorted(set(hook_states) - set(keys))
        if unmatched:  # e.g. a hook passed to the first run only: its state is not restored
            warnings.warn(
                f"resume: the checkpoint holds the state of hooks this run does not have "
                f"({', '.join(unmatched)}); it is not restored",
                stacklevel=2,
            )
        rngs = state["rng"]
        set_rng_state(rngs[self.rank] if self.rank < len(rngs) else rngs[0])

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds spent in :meth:`train` so far, summed over resumed runs."""
        now = 0.0 if self._train_start is None else time.monotonic() - self._train_start
        return self._elapsed_before + now

    @property
    def finished(self) -> bool:
        return self.epoch >= self.max_epochs

    def progress(self) -> float:
        """Fraction of all steps done, 0–1."""
        return self.iter / self.max_iter if self.max_iter else math.nan
