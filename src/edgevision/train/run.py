"""The one training loop of every task: :func:`train`.

A task module supplies parts only (:class:`TrainParts`: model, data loader, criterion,
optimizer, schedule settings, evaluation hook), built by the function its
:class:`~edgevision.tasks.TaskDef` names (``parts``). Everything else happens here, once:

- the output-folder guard (an occupied ``OUT`` needs ``--resume``);
- one resume state: ``OUT/last.pt`` holds weights, the trainer state
  (:meth:`~edgevision.train.trainer.Trainer.state_dict`: position, optimizer, scheduler,
  RNG, hook states) and the config; a resumed run equals an uninterrupted one bit for bit;
  ``--resume --epochs N`` stretches the LR schedule from the current step on;
- DDP under ``torchrun`` (only rank 0 writes files);
- the standard hooks (EMA, the task's evaluation, logger, checkpoints), then the caller's;
- the run log (``OUT/runs.jsonl``, quoted by model cards);
- Ctrl-C (SIGINT) and SIGTERM: the current step finishes, ``last.pt`` is written atomically,
  a message names it and the command that resumes it, and ``KeyboardInterrupt`` is raised.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from edgevision.checkpoint import load_checkpoint
from edgevision.config import ModelSpec, from_dict, to_dict, to_yaml
from edgevision.errors import CheckpointError, ConfigError
from edgevision.io import write_text_atomic
from edgevision.registry import get_entry
from edgevision.tasks import TASKS, TaskDef, get_task
from edgevision.train.card import log_run_start
from edgevision.train.hooks import CheckpointHook, EMAHook, LoggerHook
from edgevision.train.schedule import WarmupLR, resume_schedule
from edgevision.train.trainer import HookBase, Trainer, dist_info

__all__ = [
    "RESUME_SCHEDULE_FIELDS",
    "Resumed",
    "TrainParts",
    "TrainResult",
    "build_optimizer",
    "config_differences",
    "load_pretrained",
    "resolve_device",
    "sgd_or_adamw",
    "task_of_config",
    "train",
    "warmup_schedule",
]

RESUME_SCHEDULE_FIELDS: frozenset[str] = frozenset({"epochs"})
"""Fields a ``--resume`` may change on purpose: the run's planned length. The LR schedule
is then recomputed over the new length from the current step on (recorded in runs.jsonl
and the model card)."""


# ------------------------------------------------------------------------------------------
# what a task supplies, what a run returns
# ------------------------------------------------------------------------------------------
@dataclass
class Resumed:
    """What ``OUT/last.pt`` holds for ``--resume``.

    Attributes:
        path: the checkpoint.
        spec: its model spec (class names, anchors ... of the run).
        state: the saved (eval, e.g. EMA) weights.
        extra: its extra entries (``trainer``, ``train_config``, ``raw_state_dict`` ...).
        planned_epochs: the epochs the run was planned with.
    """

    path: Path
    spec: ModelSpec
    state: dict[str, Any]
    extra: dict[str, Any]
    planned_epochs: int

    @property
    def weights(self) -> dict[str, Any]:
        """The trained (not averaged) weights to continue from."""
        return self.extra.get("raw_state_dict", self.state)  # type: ignore[no-any-return]


@dataclass
class TrainParts:
    """A task's parts for :func:`train`.

    A task's ``build_parts(cfg, *, known_spec, rank, world_size, progress, quiet)`` returns
    them; ``known_spec`` (a resumed run's, or a checkpoint's for QAT) fixes what the data
    cannot: settings of the architecture chosen at training time, such as a detector's
    anchors.

    Attributes:
        model: the unwrapped model on CPU with its final ``spec`` set.
        loader: training loader (``len()`` = steps per epoch; ``set_epoch`` on its sampler
            or dataset makes resume exact).
        criterion: ``(outputs, targets) -> scalar``.
        make_optimizer: builds the optimizer over the model once it is on its device.
        schedule: :class:`~edgevision.train.schedule.WarmupLR` keyword arguments other
            than ``total_iters`` (``warmup_iters``, ``warmup_factor``, ``mode``, ``power``).
        eval_hook: the task's validation hook (``None``: no validation). It keeps ``best``,
            ``best_epoch`` and may keep ``history`` (a list of per-evaluation dicts).
        hooks: other task hooks (run after EMA, before the evaluation).
        ema_decay: keep an EMA of the weights with this decay (``None``: off).
        grad_clip: clip the global gradient norm (``None``: off).
        amp: float16 autocast (CUDA).
        log_every: ``metrics.csv`` step rows every N steps (0: epoch rows only).
        extra: task-specific values for :attr:`TrainResult.extra` (e.g. anchors).
    """

    model: nn.Module
    loader: Any
    criterion: nn.Module
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    schedule: dict[str, Any]
    eval_hook: HookBase | None = None
    hooks: list[HookBase] = field(default_factory=list)
    ema_decay: float | None = None
    grad_clip: float | None = None
    amp: bool = False
    log_every: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What :func:`train` produced (one type for every task).

    Attributes:
        task: the task name.
        out_dir: the output folder.
        last: path of ``last.pt``.
        best: path of ``best.pt`` (``None`` when never evaluated).
        metric: the headline metric's ``trainer.storage`` key (``miou``, ``ap50``,
            ``mask_ap``).
        best_metric: its best validation value (0–1) or ``None``.
        best_epoch: 1-based epoch of ``best_metric`` or ``None``.
        epochs: epochs done.
        steps: optimizer steps done.
        metrics: the last validation values the evaluation hook stored.
        history: per-evaluation rows of the evaluation hook (when it keeps them).
        extra: task-specific outputs (``anchors``; ``video``, ``flow_history``,
            ``video_ft``, ``video_history`` for YOLACT's video stages).
    """

    task: str
    out_dir: Path
    last: Path
    best: Path | None
    metric: str
    best_metric: float | None
    best_epoch: int | None
    epochs: int
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def _best(self, metric: str) -> float | None:
        return self.best_metric if self.metric == metric else None

    @property
    def best_miou(self) -> float | None:
        """Best validation mIoU of a semantic run."""
        return self._best("miou")

    @property
    def best_ap50(self) -> float | None:
        """Best validation AP50 of a detection run."""
        return self._best("ap50")

    @property
    def best_mask_ap(self) -> float | None:
        """Best validation mask AP of an instance run."""
        return self._best("mask_ap")

    # task-specific outputs (see ``extra``): detectors' anchors, YOLACT's video stages
    anchors = property(lambda self: self.extra.get("anchors"))
    video = property(lambda self: self.extra.get("video"))
    flow_history = property(lambda self: list(self.extra.get("flow_history", [])))
    video_ft = property(lambda self: self.extra.get("video_ft"))
    video_history = property(lambda self: list(self.extra.get("video_history", [])))


# ------------------------------------------------------------------------------------------
# shared helpers
# ------------------------------------------------------------------------------------------
def resolve_device(name: str, amp: bool = False) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; under DDP ``cuda:LOCAL_RANK``.

    Raises:
        ConfigError: CUDA asked for but unavailable, or ``amp`` without CUDA.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available")
    if amp and name != "cuda":
        raise ConfigError("amp: mixed precision needs device 'cuda'")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def build_optimizer(
    model: nn.Module,
    *,
    optimizer: str = "sgd",
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """SGD (momentum) or AdamW; no weight decay on 1-D parameters (norms, biases)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ConfigError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")


def sgd_or_adamw(cfg: Any) -> Callable[[nn.Module], torch.optim.Optimizer]:
    """``TrainParts.make_optimizer`` for a config with ``optimizer``, ``lr``, ``momentum``
    and ``weight_decay`` fields (:func:`build_optimizer`)."""

    def make(model: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(
            model,
            optimizer=cfg.optimizer,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )

    return make


def warmup_schedule(cfg: Any, iters_per_epoch: int, *, power: float) -> dict[str, Any]:
    """``TrainParts.schedule`` for a config with ``warmup_iters``, ``warmup_epochs``,
    ``warmup_factor`` and ``schedule`` fields: warmup over ``warmup_iters`` + whole warmup
    epochs, then poly (``power``) or cosine."""
    return {
        "warmup_iters": cfg.warmup_iters + cfg.warmup_epochs * iters_per_epoch,
        "warmup_factor": cfg.warmup_factor,
        "mode": cfg.schedule,
        "power": power,
    }


def config_differences(old: Any, new: Any, *, allow: frozenset[str] = frozenset()) -> list[str]:
    """Fields of two configs of one class that differ, as ``"f: a -> b"``, except the
    class's ``RESUME_SAFE`` fields (which do not change the result) and ``allow``."""
    a, b = to_dict(old), to_dict(new)
    skip = frozenset(getattr(type(new), "RESUME_SAFE", frozenset())) | allow
    return [f"{k}: {a[k]!r} -> {b.get(k)!r}" for k in a if k not in skip and a[k] != b.get(k)]


def task_of_config(cfg: Any) -> TaskDef:
    """The task of ``cfg.model``, checked against the config's class.

    Raises:
        ConfigError: the model belongs to a task whose config is another class.
    """
    task = get_task(get_entry(cfg.model).task)
    want = task.load("config")
    if not isinstance(cfg, want):
        asked = next((t for t in TASKS.values() if isinstance(cfg, t.load("config"))), None)
        if asked is None:
            what = f"not for a {type(cfg).__name__}"
        else:
            what = f"not {'an' if asked.name[0] in 'aeiou' else 'a'} {asked.name} model"
        raise ConfigError(
            f"model {cfg.model!r} is a {task.name!r} model ({task.title}), {what}: train it "
            f"with a {want.__name__}"
        )
    task.training_parts()  # a task without training parts is refused before any work
    return task


def _init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun describes (env ``WORLD_SIZE`` > 1); True if we did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def _load_resume(cfg: Any, path: Path) -> Resumed:
    if not path.is_file():
        hint = "" if path.parent.is_dir() else f" (folder {path.parent} does not exist)"
        raise CheckpointError(f"--resume: no checkpoint to resume from: {path}{hint}")
    spec, state, extra = load_checkpoint(path)
    if "trainer" not in extra or "train_config" not in extra:
        raise CheckpointError(f"--resume: {path} is not a resumable training checkpoint")
    try:
        old = from_dict(type(cfg), extra["train_config"])
    except ConfigError as e:
        raise CheckpointError(f"--resume: {path} holds an invalid train config: {e}") from None
    diffs = config_differences(old, cfg, allow=RESUME_SCHEDULE_FIELDS)
    if diffs:
        raise ConfigError(
            f"--resume: the config differs from the run in {path} in "
            f"{', '.join(d.split(':')[0] for d in diffs)} ({'; '.join(diffs)}); "
            "resume with the same settings or train into a new --out"
        )
    return Resumed(path, spec, state, dict(extra), int(old.epochs))


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


# ------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------
def load_pretrained(model: nn.Module, path: str | Path, *, announce: bool = False) -> None:
    """Start ``model`` from the pretrained checkpoint ``path`` (``cfg.pretrained``).

    ``path`` is a public checkpoint of a source that :mod:`edgevision.models.pretrained`
    knows (recognised by its tensor names) or an edgevision checkpoint of the same model
    (``edgevision convert``'s output, or another run's ``best.pt``). The import's report goes
    into ``model.spec.extra["pretrained"]`` (so into the run's checkpoints and card) and, with
    ``announce``, to stdout.

    Raises:
        CheckpointError: unreadable file, or one that fills under 95 % of the backbone.
    """
    from edgevision.models.pretrained import import_weights

    report = import_weights(model, path)
    spec = getattr(model, "spec", None)
    if isinstance(spec, ModelSpec):
        spec.extra = {**(spec.extra or {}), "pretrained": {**report.to_dict(), "file": str(path)}}
    if announce:
        print("pretrained: " + "\n".join(report.lines()), flush=True)


def train(
    cfg: Any,
    *,
    resume: bool = False,
    hooks: Sequence[HookBase] = (),
    loss_fn: nn.Module | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
) -> TrainResult:
    """Train ``cfg.model`` as ``cfg`` (its task's config class) says.

    Seeds python/numpy/torch with ``cfg.seed`` and turns on
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` (process-wide).

    Args:
        cfg: the run: a :class:`~edgevision.train.config.TrainConfig`,
            :class:`~edgevision.train.detection.DetTrainConfig` or
            :class:`~edgevision.train.instance.InstanceTrainConfig` (the model's task says
            which: :data:`edgevision.tasks.TASKS`).
        resume: continue from ``cfg.out/last.pt`` exactly (same step, LR, RNG, optimizer);
            the stored config must equal ``cfg`` except for the config class's
            ``RESUME_SAFE`` fields and ``epochs``.
        hooks: extra hooks, run after the standard ones.
        loss_fn: use this loss instead of the task's criterion.
        progress: progress bars; ``None`` = when stderr is a terminal.
        quiet: no per-epoch console lines.
        command: the command line that started this run; recorded with the time, machine
            and versions in ``OUT/runs.jsonl`` (one line per start or resume).

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: bad dataset, before any training step.
        ConfigError: invalid settings, a model of another task, an occupied ``out`` without
            ``resume``; on resume, a config that differs (naming the fields).
        CheckpointError: on resume, no/corrupt ``last.pt`` or one for other classes; a
            ``pretrained`` file that is missing, unreadable or fills under 95 % of the
            backbone.
        KeyboardInterrupt: Ctrl-C or SIGTERM, after ``last.pt`` was saved.
    """
    task = task_of_config(cfg)
    if not cfg.data:
        raise ConfigError("data: no dataset folder given")
    device = resolve_device(cfg.device, bool(getattr(cfg, "amp", False)))
    out = Path(cfg.out)
    last = out / "last.pt"
    if not resume and last.is_file():
        raise ConfigError(
            f"out: {out} already holds a run ({last}); pass --resume to continue it or "
            "choose another --out"
        )
    resumed = _load_resume(cfg, last) if resume else None
    pretrained: str = getattr(cfg, "pretrained", "") or ""
    if resumed is None and pretrained and not Path(pretrained).is_file():
        raise CheckpointError(f"pretrained weights not found: {pretrained}")

    started_dist = _init_distributed(device)
    ok = False
    try:
        rank, world = dist_info()
        _seed(cfg.seed)
        build = task.training_parts()
        parts: TrainParts = build(
            cfg,
            known_spec=resumed.spec if resumed is not None else None,
            rank=rank,
            world_size=world,
            progress=bool(progress) and rank == 0,
            quiet=quiet,
        )
        model = parts.model
        spec: ModelSpec = model.spec  # type: ignore[assignment]
        if resumed is None and pretrained:  # a resumed run's weights come from last.pt
            load_pretrained(model, pretrained, announce=rank == 0 and not quiet)
        if resumed is not None:
            if list(resumed.spec.class_names) != list(spec.class_names):
                raise CheckpointError(
                    f"--resume: {last} was trained for {resumed.spec.num_classes} classes "
                    f"{list(resumed.spec.class_names)}, but {cfg.data} has "
                    f"{len(spec.class_names)}: {list(spec.class_names)}"
                )
            model.load_state_dict(resumed.weights)
        model.to(device)
        train_model: nn.Module = model
        if world > 1:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        criterion = (loss_fn if loss_fn is not None else parts.criterion).to(device)
        optimizer = parts.make_optimizer(model)
        ipe = len(parts.loader)
        scheduler = WarmupLR(optimizer, total_iters=cfg.epochs * ipe, **parts.schedule)

        std: list[HookBase] = []
        if parts.ema_decay is not None:
            std.append(EMAHook(model, parts.ema_decay))
        std.extend(parts.hooks)
        if parts.eval_hook is not None:
            std.append(parts.eval_hook)
        std.append(
            LoggerHook(
                out,
                log_every=parts.log_every,
                progress=progress,
                tensorboard=None,
                quiet=quiet,
                metrics=getattr(parts.eval_hook, "columns", ()),
            )
        )
        ckpt = CheckpointHook(
            out,
            spec,
            train_config=to_dict(cfg),
            metric=task.metric,
            data_dir=str(Path(cfg.data).resolve()) if cfg.data else None,
        )
        std.append(ckpt)
        trainer = Trainer(
            train_model,
            optimizer,
            parts.loader,
            criterion,
            scheduler=scheduler,
            hooks=[*std, *hooks],
            device=device,
            max_epochs=cfg.epochs,
            grad_clip=parts.grad_clip,
            amp=parts.amp,
            channels_last=cfg.channels_last,
        )
        if resumed is not None:
            try:
                trainer.load_state_dict(resumed.extra["trainer"])
            except (ValueError, KeyError) as e:
                raise CheckpointError(f"--resume: cannot restore {last}: {e}") from None
            resume_schedule(
                scheduler,
                planned_epochs=resumed.planned_epochs,
                epochs=cfg.epochs,
                done_epochs=trainer.epoch,
                iters_per_epoch=ipe,
                out=out,
                announce=rank == 0 and not quiet,
            )
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "config.yaml", to_yaml(cfg))
            log_run_start(
                out,
                command=command,
                device=str(device),
                start_iter=trainer.iter,
                start_epoch=trainer.epoch,
                epochs=cfg.epochs,
            )
        if not trainer.finished:
            try:
                trainer.train()
            except KeyboardInterrupt:
                if rank == 0 and ckpt.saved_on_interrupt:
                    print(
                        f"stopped at step {trainer.iter} (epoch {trainer.epoch + 1}): saved "
                        f"{last}; continue with: edgevision train --resume --out "
                        f"{shlex.quote(str(out))}",
                        file=sys.stderr,
                    )
                raise

        ev = parts.eval_hook
        best = getattr(ev, "best", None)
        if best is None or not np.isfinite(best):
            best = None
        s = trainer.storage
        result = TrainResult(
            task=task.name,
            out_dir=out,
            last=last,
            best=(out / "best.pt") if (out / "best.pt").is_file() else None,
            metric=task.metric,
            best_metric=best,
            best_epoch=(int(ev.best_epoch) + 1) if best is not None else None,  # type: ignore[union-attr]
            epochs=trainer.epoch,
            steps=trainer.iter,
            metrics={k: s[k] for k in _metric_keys(s) if k in s},
            history=list(getattr(ev, "history", [])),
            extra=dict(parts.extra),
        )
        ok = True
    finally:
        if started_dist:
            # every process reaches here before any tears gloo down; a peer that leaves while
            # rank 0 still saves can abort ("terminate called without an active exception")
            if ok:
                dist.barrier()
            dist.destroy_process_group()
    # the task's stages after the loop (YOLACT's FeatFlowNet) run in rank 0 alone, outside
    # the process group (the other ranks are done and must not wait at a barrier)
    after = task.load("after_training")
    if after is not None and rank == 0:
        result.extra.update(after(cfg, result, device=device, quiet=quiet))
    return result


def _metric_keys(storage: dict[str, Any]) -> list[str]:
    """Validation values an evaluation hook left in ``storage`` (not loss, lr, position)."""
    skip = {"loss", "lr", "eval_epoch", "best_epoch"}
    return [k for k in storage if k not in skip and not k.startswith("loss_")]


def replace_config(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that reports unknown fields as :class:`ConfigError`."""
    try:
        return dataclasses.replace(cfg, **changes)
    except TypeError as e:
        raise ConfigError(str(e)) from None
