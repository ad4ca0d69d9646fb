"""Standard trainer hooks: EMA, evaluation (mIoU), logging (CSV, progress bar), checkpoints.

Put them in this order (evaluation before logging and checkpoints, so an epoch's row and
``best.pt`` see its metric): ``EMAHook, EvalHook, LoggerHook, CheckpointHook``
(:func:`edgevision.train.run.train` does).
Under DDP every process runs every hook (metrics are all-reduced); only rank 0 writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from edgevision.config import ModelSpec
from edgevision.evaluate.miou import ConfusionMatrix
from edgevision.progress import ProgressLines
from edgevision.train.ema import ModelEMA
from edgevision.train.trainer import HookBase, _all_reduce_sum

__all__ = [
    "METRIC_COLUMNS",
    "CheckpointHook",
    "EMAHook",
    "EvalHook",
    "LoggerHook",
    "PeriodicEvalHook",
    "evaluate_confusion",
    "metric_columns",
]

METRIC_COLUMNS = ("kind", "epoch", "iter", "lr", "loss", "miou", "pixel_acc", "elapsed_s")
"""Columns of a semantic model's ``metrics.csv``: ``kind`` is ``step`` (every ``log_every``
steps, loss averaged over them) or ``epoch`` (loss averaged over the epoch, validation
metrics when evaluated); ``epoch`` is 1-based, ``iter`` the number of steps done. The
validation columns are those of the task's evaluation hook (:attr:`PeriodicEvalHook.columns`:
``miou, pixel_acc``; ``ap, ap50`` for detectors; none without validation); see
:func:`metric_columns`. No wall-clock columns, so a resumed run writes the same file as an
uninterrupted one."""


def metric_columns(metrics: Sequence[str]) -> tuple[str, ...]:
    """The ``metrics.csv`` columns with validation columns ``metrics`` (see
    :data:`METRIC_COLUMNS`)."""
    return ("kind", "epoch", "iter", "lr", "loss", *metrics, "elapsed_s")


# ------------------------------------------------------------------------------------------
# EMA
# ------------------------------------------------------------------------------------------
class EMAHook(HookBase):
    """Keep a :class:`~edgevision.train.ema.ModelEMA` of ``model``, updated after every step.

    The trainer then evaluates and saves the EMA weights (``Trainer.eval_model``).

    Args:
        model: the unwrapped model, already on its device.
        decay: EMA decay per step.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.ema = ModelEMA(model, decay)

    def after_step(self) -> None:
        self.ema.update(self.trainer.unwrapped)

    def state_dict(self) -> dict[str, Any]:
        return self.ema.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ema.load_state_dict(dict(state))


# ------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_confusion(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    num_classes: int,
    ignore_index: int,
    device: str | torch.device = "cpu",
) -> ConfusionMatrix:
    """Confusion matrix of ``model`` over ``loader``, as the runtime scores it.

    Per batch: logits at the model's native resolution, argmax there, then nearest-neighbour
    upsampling of the *label map* to the label size (like
    :func:`edgevision.postprocess.segmentation.semantic_argmax`). Counts are accumulated in
    torch and summed over DDP processes.

    Args:
        model: returns ``(N, C, h, w)`` logits (or a dict with ``"out"``, or a tuple whose
            first item they are) in eval mode.
        loader: yields ``(images (N, 3, H, W) float, labels (N, H, W) int64)``.
        num_classes: C.
        ignore_index: label value not scored.
        device: where to run.

    Returns:
        A :class:`~edgevision.evaluate.miou.ConfusionMatrix` with the counts.
    """
    dev = torch.device(device)
    was_training = model.training
    model.eval()
    c = int(num_classes)
    cm = torch.zeros(c * c, dtype=torch.int64, device=dev)
    try:
        for images, labels in loader:
            out = model(images.to(dev))
            if isinstance(out, Mapping):
                out = out["out"]
            elif isinstance(out, (tuple, list)):  # several heads: class logits come first
                out = out[0]
            pred = out.argmax(1)
            labels = labels.to(dev)
            if pred.shape[-2:] != labels.shape[-2:]:
                pred = F.interpolate(
                    pred[:, None].to(torch.float32), size=labels.shape[-2:], mode="nearest"
                )[:, 0].to(torch.int64)
            valid = labels != ignore_index
            t, p = labels[valid], pred[valid]
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= c):
                raise ValueError(f"label ids outside 0..{c - 1} (ignore_index={ignore_index})")
            cm += torch.bincount(t * c + p, minlength=c * c)
    finally:
        model.train(was_training)
    cm = _all_reduce_sum(cm.cpu())
    result = ConfusionMatrix(c, ignore_index)
    result.matrix[:] = cm.view(c, c).numpy()
    return result


class PeriodicEvalHook(HookBase):
    """Base of the tasks' validation hooks: evaluate the trainer's eval model (EMA when kept)
    every ``every`` epochs and after the last one, and keep the best headline value.

    Subclasses implement :meth:`evaluate` (the values to put into ``trainer.storage``) and
    may override :meth:`history_row` and :meth:`report`. ``metric`` names the value whose
    best is kept (``best``, ``best_epoch``, 0-based), which selects ``best.pt``.

    Args:
        metric: the ``storage`` key of the headline value.
        every: evaluation period in epochs.
        quiet: no console line per evaluation.

    Attributes:
        columns: the ``storage`` keys (floats) that ``metrics.csv`` has a column for.
    """

    columns: tuple[str, ...] = ()

    def __init__(self, metric: str, *, every: int = 1, quiet: bool = False) -> None:
        self.metric = metric
        self.every = max(1, int(every))
        self.quiet = quiet
        self.best = -math.inf
        self.best_epoch = -1
        self.history: list[dict[str, Any]] = []

    def evaluate(self) -> dict[str, Any]:
        """Score the trainer's eval model now: ``{storage key: value}``."""
        raise NotImplementedError

    def history_row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The row :attr:`history` keeps for one evaluation."""
        row = {k: v for k, v in values.items() if isinstance(v, float)}
        return {"epoch": self.trainer.epoch + 1, **row}

    def report(self, values: Mapping[str, Any], row: Mapping[str, Any]) -> None:
        """Show / write one evaluation (rank 0 only)."""

    def after_epoch(self) -> None:
        t = self.trainer
        if (t.epoch + 1) % self.every and t.epoch + 1 != t.max_epochs:
            return
        values = self.evaluate()
        t.storage.update(values, eval_epoch=t.epoch)
        row = self.history_row(values)
        self.history.append(row)
        if values[self.metric] > self.best:
            self.best, self.best_epoch = float(values[self.metric]), t.epoch
            t.storage["best_epoch"] = t.epoch
        if t.rank == 0:
            self.report(values, row)

    def state_dict(self) -> dict[str, Any]:
        return {"best": float(self.best), "best_epoch": int(self.best_epoch)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])


class EvalHook(PeriodicEvalHook):
    """Validation mIoU every ``every`` epochs and after the last one.

    Puts ``miou``, ``pixel_acc``, ``per_class_iou`` (dict) and ``eval_epoch`` into
    ``trainer.storage`` and keeps the best mIoU so far (``best``, ``best_epoch``).

    Args:
        loader: validation loader (see :func:`evaluate_confusion`).
        num_classes: C.
        ignore_index: label value not scored.
        class_names: names for ``per_class_iou``.
        every: evaluation period in epochs.
    """

    columns = ("miou", "pixel_acc")

    def __init__(
        self,
        loader: Iterable[Any],
        *,
        num_classes: int,
        ignore_index: int,
        class_names: Sequence[str] | None = None,
        every: int = 1,
    ) -> None:
        super().__init__("miou", every=every)
        self.loader = loader
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names else None

    def evaluate(self) -> dict[str, Any]:
        t = self.trainer
        cm = evaluate_confusion(
            t.eval_model(),
            self.loader,
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            device=t.device,
        )
        m = cm.to_dict(self.class_names)
        return {
            "miou": m["miou"] if m["miou"] is not None else math.nan,
            "pixel_acc": m["pixel_acc"] if m["pixel_acc"] is not None else math.nan,
            "per_class_iou": m["per_class_iou"],
        }


# ------------------------------------------------------------------------------------------
# logging
# ------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class LoggerHook(HookBase):
    """``metrics.csv`` rows, a rich progress bar with ETA, and optional TensorBoard.

    On resume, rows after the restored step are dropped before appending (a run killed
    after its last checkpoint may have logged a few steps more), so the file always equals
    that of an uninterrupted run.

    Args:
        out_dir: where ``metrics.csv`` (and ``tb/`` for TensorBoard) go; rank 0 only.
        log_every: a ``step`` row every N steps (0 = only ``epoch`` rows).
        progress: show a progress bar; ``None`` = when stderr is a terminal.
        tensorboard: write TensorBoard scalars; ``None`` = when ``tensorboard`` is installed.
        quiet: no console lines at epoch ends.
        metrics: the validation columns of ``metrics.csv`` (``trainer.storage`` keys; the
            evaluation hook's :attr:`PeriodicEvalHook.columns`).
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        log_every: int = 10,
        progress: bool | None = None,
        tensorboard: bool | None = False,
        quiet: bool = False,
        metrics: Sequence[str] = ("miou", "pixel_acc"),
    ) -> None:
        self.out_dir = Path(out_dir)
        self.csv_path = self.out_dir / "metrics.csv"
        self.metrics = tuple(metrics)
        self.columns = metric_columns(self.metrics)
        self.log_every = int(log_every)
        self.progress = sys.stderr.isatty() if progress is None else progress
        # not a terminal (a log, nohup, CI): plain step lines unless asked for silence
        self._lines_wanted = progress is None and not quiet and not sys.stderr.isatty()
        self._lines: ProgressLines | None = None
        self.tensorboard = (
            importlib.util.find_spec("tensorboard") is not None
            if tensorboard is None
            else tensorboard
        )
        self.quiet = quiet
        self._epoch_sum = 0.0
        self._epoch_n = 0
        self._win_sum = 0.0
        self._win_n = 0
        self._bar: Any = None
        self._task: Any = None
        self._tb: Any = None
        self._console: Any = None

    @property
    def _main(self) -> bool:
        return self.trainer.rank == 0

    # -- files -------------------------------------------------------------------------------
    def _prepare_csv(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str]] = []
        if self.csv_path.is_file() and self.trainer.iter > 0:
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iter"]) <= self.trainer.iter]
        with open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def _write_row(self, **row: Any) -> None:
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(
                {k: _fmt(row.get(k)) for k in self.columns}
            )
        if self._tb is not None:
            for k in ("lr", "loss", *self.metrics):
                v = row.get(k)
                if isinstance(v, float) and not math.isnan(v):
                    self._tb.add_scalar(f"{row['kind']}/{k}", v, row["iter"])

    # -- hooks -------------------------------------------------------------------------------
    def before_train(self) -> None:
        if not self._main:
            return
        self._console = Console(stderr=True, highlight=False)
        self._prepare_csv()
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out_dir / "tb"), purge_step=self.trainer.iter)
        if self._lines_wanted:
            t = self.trainer
            self._lines = ProgressLines("train", t.max_iter, every=max(1, t.max_iter // 100))
            self._lines.start_at(t.iter)
        if self.progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self._describe(), total=self.trainer.max_iter, completed=self.trainer.iter
            )
            self._console = self._bar.console

    def _describe(self) -> str:
        t = self.trainer
        s = t.storage
        text = f"epoch {t.epoch + 1}/{t.max_epochs}"
        if "loss" in s:
            text += f" loss {s['loss']:.4f} lr {s['lr']:.2e}"
        if "miou" in s:
            text += f" mIoU {s['miou']:.4f}"
        return text

    def before_epoch(self) -> None:
        self._epoch_sum, self._epoch_n = 0.0, 0

    def after_step(self) -> None:
        t = self.trainer
        loss = float(t.storage["loss"])
        self._epoch_sum += loss
        self._epoch_n += 1
        self._win_sum += loss
        self._win_n += 1
        if self.log_every and t.iter % self.log_every == 0:
            if self._main:
                self._write_row(
                    kind="step",
                    epoch=t.epoch + 1,
                    iter=t.iter,
                    lr=t.storage["lr"],
                    loss=self._win_sum / self._win_n,
                    elapsed_s=t.elapsed,
                )
            self._win_sum, self._win_n = 0.0, 0
        if self._bar is not None:
            self._bar.update(self._task, completed=t.iter, description=self._describe())
        if self._lines is not None and self._main:
            self._lines.update(t.iter, self._describe())

    def after_epoch(self) -> None:
        t = self.trainer
        s = t.storage
        evaluated = s.get("eval_epoch") == t.epoch
        mean = self._epoch_sum / self._epoch_n if self._epoch_n else math.nan
        if not self._main:
            return
        self._write_row(
            kind="epoch",
            epoch=t.epoch + 1,
            iter=t.iter,
            lr=s.get("lr"),
            loss=mean,
            elapsed_s=t.elapsed,
            **{k: s.get(k) if evaluated else None for k in self.metrics},
        )
        if not self.quiet and self._console is not None:
            line = f"epoch {t.epoch + 1}/{t.max_epochs}  step {t.iter}  loss {mean:.4f}"
            line += f"  lr {s.get('lr', math.nan):.2e}"
            if evaluated and "miou" in s:
                line += f"  val mIoU {s['miou']:.4f}  pixel acc {s['pixel_acc']:.4f}"
            self._console.print(line)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def after_train(self) -> None:
        self._close()

    def on_exception(self, exc: BaseException) -> None:
        self._close()

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch_sum": self._epoch_sum,
            "epoch_n": self._epoch_n,
            "win_sum": self._win_sum,
            "win_n": self._win_n,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._epoch_sum = float(state["epoch_sum"])
        self._epoch_n = int(state["epoch_n"])
        self._win_sum = float(state["win_sum"])
        self._win_n = int(state["win_n"])


# ------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------
class CheckpointHook(HookBase):
    """Atomic ``last.pt`` after every epoch and on interrupt; ``best.pt`` when mIoU improves.

    Both are :func:`edgevision.checkpoint.save_checkpoint` files whose weights are the
    trainer's eval model (EMA when enabled), loadable by :func:`edgevision.load_model` and
    ``edgevision eval``. ``last.pt`` adds ``trainer`` (:meth:`Trainer.state_dict`),
    ``raw_state_dict`` (the trained weights when they differ from the saved ones, i.e. with
    EMA), ``train_config`` and ``data_dir``; ``best.pt`` adds ``epoch`` and the metric (e.g.
    ``miou``).
    The spec's ``extra["train"]`` names the metric too (``best_miou``, ``best_ap50`` ...).

    Args:
        out_dir: output folder (rank 0 writes).
        spec: the model spec to embed (``extra["train"]`` is filled in per save).
        train_config: plain dict stored in both files (the run's config).
        metric: ``trainer.storage`` key to maximise for ``best.pt``.
        data_dir: the dataset folder (or a detector's dataset YAML) resolved when training
            ran (stored as ``data_dir`` in both files): ``train_config["data"]`` keeps the
            path as typed, relative to wherever training was started, which ``ship`` may not
            be.
    """

    def __init__(
        self,
        out_dir: str | Path,
        spec: ModelSpec,
        *,
        train_config: Mapping[str, Any] | None = None,
        metric: str = "miou",
        data_dir: str | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.spec = spec
        self.train_config = dict(train_config or {})
        self.data_dir = data_dir
        self.metric = metric
        self.best = -math.inf
        self.saved_on_interrupt = False

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    def _spec(self, **info: Any) -> ModelSpec:
        extra = dict(self.spec.extra)
        extra["train"] = {k: v for k, v in info.items() if v is not None}
        return dataclasses.replace(self.spec, extra=extra)

    def _save_last(self, *, after_epoch: bool) -> None:
        from edgevision.checkpoint import save_checkpoint

        t = self.trainer
        state = t.state_dict(position_after_epoch=after_epoch)  # every rank: gathers RNG
        if t.rank != 0:
            return
        model = t.eval_model()
        extra: dict[str, Any] = {"trainer": state, "train_config": self.train_config}
        if self.data_dir:
            extra["data_dir"] = self.data_dir
        if model is not t.unwrapped:
            extra["raw_state_dict"] = {
                k: v.detach().cpu().clone() for k, v in t.unwrapped.state_dict().items()
            }
        best = self.best if math.isfinite(self.best) else None
        spec = self._spec(
            epochs_done=state["epoch"], steps_done=state["iter"], **{f"best_{self.metric}": best}
        )
        save_checkpoint(self.last_path, model, spec, **extra)

    def after_epoch(self) -> None:
        t = self.trainer
        value = t.storage.get(self.metric)
        fresh = t.storage.get("eval_epoch") == t.epoch
        if fresh and value is not None and not math.isnan(value) and value > self.best:
            self.best = float(value)
            if t.rank == 0:
                from edgevision.checkpoint import save_checkpoint

                info = {self.metric: self.best}
                spec = self._spec(epoch=t.epoch + 1, steps_done=t.iter, **info)
                save_checkpoint(
                    self.best_path,
                    t.eval_model(),
                    spec,
                    epoch=t.epoch + 1,
                    train_config=self.train_config,
                    **({"data_dir": self.data_dir} if self.data_dir else {}),
                    **info,
                )
        self._save_last(after_epoch=True)

    def on_exception(self, exc: BaseException) -> None:
        if self.trainer.clean and not self.trainer.finished:
            self._save_last(after_epoch=False)
            self.saved_on_interrupt = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": float(self.best)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
