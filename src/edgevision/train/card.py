"""Shipping trained weights with a model card.

A training run folder (``edgevision train ... --out RUN``) holds ``config.yaml``,
``last.pt``, ``best.pt``, ``metrics.csv`` and ``runs.jsonl`` (one line per start or resume:
time, command line, machine, device, versions). :func:`ship` turns it into
``weights/NAME/``:

- ``NAME.safetensors``: the selected checkpoint's weights and :class:`ModelSpec` (no
  optimizer state), loadable by ``edgevision eval`` / :func:`edgevision.load_model`;
- ``train_config.yaml``: the exact run configuration (``edgevision train --config`` of it
  reproduces the run);
- ``card.json`` and ``README.md``: the model card — data, command, epochs, wall time,
  hardware, and the validation metrics measured *at ship time* by the same
  :func:`edgevision.evaluate.evaluate` call that ``edgevision eval`` makes, so the card and a
  later ``edgevision eval`` of the shipped file agree.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edgevision.config import ModelSpec
from edgevision.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    require_dir,
    require_writable_output,
)
from edgevision.host import machine_info, versions
from edgevision.io import file_sha256, write_json_atomic, write_text_atomic
from edgevision.tasks import get_task
from edgevision.weights import write_index

__all__ = [
    "ShipResult",
    "card_sequences",
    "log_run_start",
    "metric_headline",
    "read_runs",
    "render_card",
    "ship",
    "validation_label",
    "weak_record",
]

RUNS_LOG = "runs.jsonl"


def log_run_start(
    out_dir: str | os.PathLike[str],
    *,
    command: str | None,
    device: str,
    start_iter: int,
    gpu: str | None = None,
    start_epoch: int | None = None,
    epochs: int | None = None,
) -> None:
    """Append one JSON line about a training start/resume to ``OUT/runs.jsonl``.

    Args:
        out_dir: the run folder.
        command: the command line (``None`` when started from Python).
        device: torch device string (``"cpu"``, ``"cuda:0"``).
        start_iter: the step the run starts from (0 = fresh, > 0 = resumed).
        gpu: GPU name when training on CUDA.
        start_epoch: the epoch the run starts from.
        epochs: the planned length of the run from this start on.
    """
    if gpu is None and device.startswith("cuda"):
        try:
            import torch

            gpu = torch.cuda.get_device_name(torch.device(device))
        except Exception:
            gpu = None
    rec = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "device": device,
        "gpu": gpu,
        "start_iter": int(start_iter),
        "start_epoch": start_epoch,
        "epochs": epochs,
        "machine": machine_info(),
        "versions": versions(("torch",)),
        "threads": _torch_threads(),
    }
    p = Path(out_dir) / RUNS_LOG
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as f:
        f.write(json.dumps(rec) + "\n")


def _torch_threads() -> int | None:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return None


def read_runs(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN/runs.jsonl`` (empty if the run predates it)."""
    p = Path(run_dir) / RUNS_LOG
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def _epoch_rows(run_dir: Path) -> list[dict[str, str]]:
    p = run_dir / "metrics.csv"
    if not p.is_file():
        return []
    with open(p, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("kind") == "epoch"]


@dataclass
class ShipResult:
    """What :func:`ship` wrote.

    Attributes:
        dir: ``weights/NAME``.
        weights: the ``.safetensors`` file.
        card: the card as a dict (also ``card.json``).
    """

    dir: Path
    weights: Path
    card: dict[str, Any]


def weak_record(run: Path) -> dict[str, Any] | None:
    """For a round of ``edgevision train --weak`` (``RUN = OUT/roundR/model``): the weak
    run's command, settings and this round's label counts, from ``OUT/weak.json``."""
    f = run.parent.parent / "weak.json"
    if run.name != "model" or not run.parent.name.startswith("round") or not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text())
        r = int(run.parent.name[len("round") :])
    except (OSError, ValueError):
        return None
    rounds = {int(e["round"]): e for e in rec.get("rounds", []) if "round" in e}
    weak = rec.get("weak", {})
    train_s = []  # each round's training clock up to this one (pseudo-labelling not counted)
    for i in range(r + 1):
        rows = _epoch_rows(run.parent.parent / f"round{i}" / "model")
        train_s.append(float(rows[-1]["elapsed_s"]) if rows and rows[-1].get("elapsed_s") else None)
    return {
        "record": str(f),
        "command": rec.get("command"),
        "data": rec.get("data"),
        "classes": list(weak.get("classes", [])),
        "round": r,
        "rounds_planned": weak.get("rounds"),
        "label_stats": (rounds.get(r) or {}).get("label_stats"),
        "best_mask_ap_on_pseudo_val": (rounds.get(r) or {}).get("best_mask_ap_on_pseudo_val"),
        "rounds_train_s": None if None in train_s else round(sum(train_s), 1),  # type: ignore[arg-type]
    }


def check_ship_name(name: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` is one plain path component (no ``/``,
    ``\\``, ``..``, leading ``.``, nothing empty), so a shipped model stays inside its
    weights folder."""
    if not name or name != name.strip() or "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError(
            f"--name {name!r}: must be one folder name (no '/', '\\', leading '.' or "
            "surrounding spaces), e.g. ddrnet23_slim_camvid"
        )


def ship(
    run_dir: str | os.PathLike[str],
    name: str,
    *,
    data: str | os.PathLike[str],
    split: str = "val",
    weights_dir: str | os.PathLike[str] = "weights",
    which: str = "best",
    data_label: str | None = None,
    notes: str = "",
    threads: int = 2,
    progress: bool = False,
    held_out: str | None = None,
    video_data: str | os.PathLike[str] | None = None,
    video_label: str | None = None,
) -> ShipResult:
    """Copy a run's checkpoint to ``weights_dir/name`` and write its model card.

    Args:
        run_dir: the training run folder.
        name: folder and file stem under ``weights_dir``, e.g. ``"ddrnet23_slim_camvid"``.
        data: dataset folder to measure the card's metrics on (the run's validation data).
        split: split measured.
        weights_dir: where shipped weights live.
        which: ``"best"`` (best validation mIoU) or ``"last"``.
        data_label: how the card names the data (default: ``data`` as given).
        notes: free text added to the card (e.g. "trained from scratch").
        threads: inference threads for the measurement.
        progress: progress bar while evaluating.
        held_out: a split of ``data`` made of whole sequences the run neither trained on nor
            selected its checkpoint on (e.g. ``train:0006R0`` for a run trained on
            ``train-0006R0``): the card's headline. Refused when it shares a sequence with
            the training split, or with the selection split for a ``best``/``video``
            checkpoint (ship ``--which last`` of a fixed schedule instead).
        video_data: for a detection or instance model, a folder of YouTube-VIS videos (e.g.
            ``edgevision data synth`` of a seed the run never saw): per-frame AP over its
            ``val`` videos becomes the card's headline (what the model gives on a stream).
        video_label: how the card names ``video_data`` (default: the folder as given).

    Returns:
        A :class:`ShipResult`.

    Raises:
        CheckpointError: the run has no such checkpoint.
        ConfigError: bad ``which``, a ``name`` that is not one plain path component, a
            ``held_out`` split that is not held out, or ``video_data`` for a model that
            returns no boxes.
        DataError: ``video_data`` without ``val`` videos, or whose categories do not name
            the model's classes.
        OutputError: ``weights_dir/name`` cannot be written.
    """
    from edgevision.checkpoint import load_checkpoint, load_model

    if which not in ("best", "last", "video", "video_ft"):
        raise ConfigError(f"which must be 'best', 'last', 'video' or 'video_ft', got {which!r}")
    check_ship_name(name)
    run = Path(run_dir)
    require_dir(run, "run folder")
    require_dir(data, "dataset folder")
    if video_data is not None:
        from edgevision.evaluate.video import require_videos

        require_videos(video_data, "val")  # fail before any work
    require_writable_output(Path(weights_dir) / name, "weights folder", folder=True)
    src = run / f"{which}.pt"
    if not src.is_file():
        raise CheckpointError(f"{src}: no {which} checkpoint in this run folder")
    _, _, extra = load_checkpoint(src)
    if which in ("video", "video_ft"):
        # video.pt = the best image model + FeatFlowNet trained after it (video_ft.pt: that,
        # fine-tuned end to end on warped features); the training record lives in the image
        # checkpoints
        base = run / "best.pt" if (run / "best.pt").is_file() else run / "last.pt"
        if base.is_file():
            extra = {**load_checkpoint(base)[2], **extra}
    last_extra: Mapping[str, Any] = {}
    if (run / "last.pt").is_file():
        last_extra = load_checkpoint(run / "last.pt")[2]
    model = load_model(src)
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    if video_data is not None:
        check_video_data(spec, video_data)
    dest = Path(weights_dir) / name
    # everything is written to a staging folder first and moved into weights/NAME only once
    # the card's evaluation succeeded: a failed ship leaves no weights without a card
    stage = dest.parent / f".{name}.partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        result = _ship_into(stage, dest, run, name, which, extra, last_extra, model, spec, data,
                            split, data_label, notes, threads, progress, held_out,
                            video_data, video_label)  # fmt: skip
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted(stage.iterdir()):
            os.replace(f, dest / f.name)
        write_index(weights_dir)  # the name now works everywhere a model is taken
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


def _ship_into(
    stage: Path,
    dest: Path,
    run: Path,
    name: str,
    which: str,
    extra: Mapping[str, Any],
    last_extra: Mapping[str, Any],
    model: Any,
    spec: ModelSpec,
    data: str | os.PathLike[str],
    split: str,
    data_label: str | None,
    notes: str,
    threads: int,
    progress: bool,
    held_out: str | None = None,
    video_data: str | os.PathLike[str] | None = None,
    video_label: str | None = None,
) -> ShipResult:
    """:func:`ship`'s files, written into ``stage``; paths in the card name ``dest``."""
    from edgevision.checkpoint import save_checkpoint
    from edgevision.evaluate import evaluate
    from edgevision.runtime import Predictor, load_fast_engine

    weights = stage / f"{name}.safetensors"
    save_checkpoint(weights, model, spec)
    train_config = dict(extra.get("train_config") or last_extra.get("train_config") or {})
    if train_config:
        from edgevision.config import from_dict, to_yaml

        write_text_atomic(
            stage / "train_config.yaml",
            to_yaml(from_dict(get_task(spec.task).load("config"), train_config)),
        )
    elif (run / "config.yaml").is_file():
        shutil.copyfile(run / "config.yaml", stage / "train_config.yaml")

    # where training read its data: the first folder here among the path resolved when it
    # ran (newer runs) and the path as typed (last.pt's first: --resume may change it)
    candidates = [
        last_extra.get("data_dir"),
        extra.get("data_dir"),
        (last_extra.get("train_config") or {}).get("data"),
        train_config.get("data"),
    ]
    train_data = next((c for c in candidates if c and Path(c).is_dir()), None)
    if held_out:
        check_held_out(data, held_out, train_config, which, train_data=train_data)
    # measured as 'edgevision eval' measures by default (ONNX Runtime, through the cached
    # export), so that the card's eval_command gives its numbers
    engine = load_fast_engine(weights, threads=threads)
    report = evaluate(Predictor(engine), data, split, progress=progress)
    held: dict[str, Any] | None = None
    if held_out:
        rep = evaluate(Predictor(engine), data, held_out, progress=progress)
        held = {
            "split": held_out,
            "images": rep.num_images,
            "sequences": dict(rep.sequences),
            "metrics": rep.to_dict()["metrics"],
            "eval_command": (
                f"edgevision eval {(dest / weights.name).as_posix()} --data "
                f"{Path(data).as_posix()} --split {held_out}"
            ),
        }
    video: dict[str, Any] | None = None
    if video_data is not None:
        from edgevision.evaluate.video import evaluate_video_frames

        rep = evaluate_video_frames(Predictor(engine), video_data, "val", progress=progress)
        video = {
            "folder": video_label or str(video_data),
            "split": "val",
            "frames": rep.num_images,
            "videos": len(rep.sequences),
            "metrics": rep.to_dict()["metrics"],
            "eval_command": (
                f"edgevision eval {(dest / weights.name).as_posix()} --data "
                f"{Path(video_data).as_posix()} --videos"
            ),
        }

    trainer = dict(last_extra.get("trainer") or {})
    rows = _epoch_rows(run)
    elapsed = trainer.get("elapsed_s")
    if elapsed is None and rows and rows[-1].get("elapsed_s"):
        elapsed = float(rows[-1]["elapsed_s"])
    elapsed_source = "trainer clock"
    runs = read_runs(run)
    if elapsed is None and len(runs) == 1 and (run / "last.pt").is_file():
        # runs that predate the trainer clock: one uninterrupted run, start to last save
        start = datetime.strptime(runs[0]["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        elapsed = (run / "last.pt").stat().st_mtime - start
        elapsed_source = "runs.jsonl start to last.pt write"
    total_epochs = int(train_config.get("epochs", 0)) or None
    epochs_done = int(trainer.get("epoch", 0)) or (int(rows[-1]["epoch"]) if rows else None)
    card: dict[str, Any] = {
        "name": name,
        "model": spec.name,
        "task": str(spec.task),
        "file": weights.name,
        "sha256": file_sha256(weights),
        "size_mb": round(weights.stat().st_size / 2**20, 2),
        "params": int(
            sum(int(v.numel()) for v in model.state_dict().values() if v.is_floating_point())
        ),
        "input_size": list(spec.input_size),
        "class_names": list(spec.class_names),
        "data": {
            "folder": data_label or str(data),
            "train_split": train_config.get("train_split", "train"),
            "selection_split": (train_config.get("val_split") or None) if train_config else split,
            "measured_split": split,
            "measured_images": report.num_images,
            **card_sequences(
                data,
                train_config.get("train_split", "train"),
                report.sequences,
                train_data=train_data or None,
            ),
        },
        "held_out": held,
        "video": video,
        "pretrained": (spec.extra or {}).get("pretrained") or False,
        "training": {
            "checkpoint": which,
            "selected_epoch": (
                extra["epoch"]
                if extra.get("epoch") is not None
                else (epochs_done if which == "last" else None)
            ),
            "epochs_done": epochs_done,
            "epochs_planned": total_epochs,
            "steps": trainer.get("iter"),
            "wall_time_s": None if elapsed is None else round(float(elapsed), 1),
            "wall_time_source": None if elapsed is None else elapsed_source,
            "runs": runs,
            "config": train_config,
            "flow": (spec.extra or {}).get("flow") if which.startswith("video") else None,
            "video_finetune": (spec.extra or {}).get("video_finetune"),
            "weak": weak_record(run),
        },
        "metrics": report.to_dict()["metrics"],
        "eval_command": (
            f"edgevision eval {(dest / weights.name).as_posix()} --data "
            f"{Path(data).as_posix()} --split {split}"
        ),
        "notes": notes,
        "shipped": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(stage / "card.json", card)
    write_text_atomic(stage / "README.md", render_card(card))
    return ShipResult(dir=dest, weights=dest / weights.name, card=card)


def check_video_data(spec: ModelSpec, video_data: str | os.PathLike[str]) -> None:
    """Refuse ``--video-data`` that cannot be scored, before anything is written: a model
    that returns no boxes, a folder without ``val`` videos, model classes the videos do not
    name.

    Raises:
        ConfigError: a semantic (or other unscored) model.
        DataError: no videos, or a class the videos do not name.
    """
    from edgevision.evaluate.api import category_ids_by_name
    from edgevision.evaluate.video import require_videos

    if not get_task(spec.task).scored:
        raise ConfigError(
            f"--video-data needs a detection or instance model; this one is {spec.task}"
        )
    ann, _, gt = require_videos(video_data, "val")
    category_ids_by_name(list(spec.class_names), gt.get("categories") or [], str(ann))


def check_held_out(
    data: str | os.PathLike[str],
    held_out: str,
    train_config: Mapping[str, Any],
    which: str,
    *,
    train_data: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse a ``--held-out`` split that the run trained on, or selected its checkpoint on.

    The run's own folder (``train_data``, default ``train_config["data"]``) is read where it
    is on this machine, else ``data``.

    Raises:
        ConfigError: a shared sequence (named), or an empty held-out split.
        DataError: the split cannot be read.
    """
    from edgevision.data.sequences import split_sequences

    own = train_data or train_config.get("data")
    folders = [f for f in (own, data) if f and Path(f).is_dir()]

    def sequences(split: str) -> set[str]:
        """The split's sequences in the run's own training folder where it is on this
        machine, else in ``data`` (a split neither has: nothing shared)."""
        for folder in folders:
            try:
                return set(split_sequences(folder, split))
            except DataError:
                continue
        return set()

    held = set(split_sequences(data, held_out))
    if not held:
        raise ConfigError(f"--held-out {held_out}: no images")
    train_split = str(train_config.get("train_split", "train"))
    trained = sequences(train_split)
    if held & trained:
        raise ConfigError(
            f"--held-out {held_out} is not held out: the run trained on "
            f"{', '.join(sorted(held & trained))} (train split {train_split})"
        )
    val_split = str(train_config.get("val_split") or "")
    if which != "last" and val_split:
        selected = sequences(val_split)
        if held & selected:
            raise ConfigError(
                f"the {which} checkpoint was selected on {', '.join(sorted(held & selected))} "
                f"(val split {val_split}), which --held-out scores: ship --which last (a "
                "fixed schedule), or hold out a sequence the run did not select on"
            )


def card_sequences(
    data: str | os.PathLike[str],
    train_split: str,
    measured: Mapping[str, int],
    train_data: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, int] | None]:
    """The card's ``data.train_sequences`` and ``data.measured_sequences``: images per
    sequence (NAME prefix, :mod:`edgevision.data.sequences`) of the training split, read from
    the run's own training folder ``train_data`` where it is on this machine, else from the
    measured folder ``data`` (``None`` when neither has that split), and of the measured
    images (:attr:`EvalReport.sequences`)."""
    from edgevision.data.sequences import split_sequences

    train: dict[str, int] | None = None
    for folder in (train_data, data):
        if folder is None or not Path(folder).is_dir():
            continue
        try:
            train = split_sequences(folder, train_split)
            break
        except DataError:  # the training split is not in this folder: not known here
            continue
    return {"train_sequences": train, "measured_sequences": dict(measured) or None}


def validation_label(card: Mapping[str, Any]) -> str | None:
    """How honest the card's measured split is, or ``None`` when nothing needs saying.

    A measured split that shares a sequence with the training split is *in-sequence
    validation*: its frames' neighbours were trained on, so it overstates what a new street
    gives (CamVid's ``val`` is all sequence 0016E5, which also gives 204 training images).
    """
    d = card.get("data") or {}
    train = d.get("train_sequences") or {}
    shared = [s for s in (d.get("measured_sequences") or {}) if s and s in train]
    if not shared:
        return None
    which = f"sequence {shared[0]}" if len(shared) == 1 else f"sequences {', '.join(shared)}"
    return (
        f"in-sequence validation ({which}, whose neighbouring frames are in train): "
        "overstates results on new streets"
    )


def _held_out_note(card: Mapping[str, Any]) -> str:
    h = card.get("held_out")
    if not h:
        return "No held-out-sequence number exists yet for these weights."
    return (
        f"The headline is on held-out sequences: split `{h.get('split')}` "
        f"({_seqs(h.get('sequences') or {})}), neither trained on nor used for selection."
    )


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * float(v):.2f}"


def _hms(s: float | None) -> str:
    if s is None:
        return "not recorded"
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s ({s:.0f} s)"


def _seqs(counts: Mapping[str, int]) -> str:
    if len(counts) == 1:
        return f"sequence {next(iter(counts)) or '(no prefix)'}"
    return "sequences " + ", ".join(f"{s or '(no prefix)'}: {n}" for s, n in counts.items())


def _pretrained_line(record: Any) -> str:
    """What the run started from: the import record of ``train --pretrained``
    (:meth:`edgevision.models.pretrained.ImportReport.to_dict`), or none."""
    if not record:
        return "Trained from scratch (no pretrained weights)."
    if not isinstance(record, Mapping):
        return "Started from pretrained weights."
    return (
        f"Started from pretrained weights `{Path(str(record.get('file', '?'))).name}` "
        f"({record.get('source')}: {record.get('backbone_matched')}/"
        f"{record.get('backbone_total')} backbone tensors imported; {record.get('missing')} "
        "tensors of the model started from their initialisation)."
    )


def render_card(card: Mapping[str, Any]) -> str:
    """The model card (``README.md``) of a :func:`ship` card dict."""
    t = card["training"]
    m = card["metrics"]
    d = card["data"]
    measured = d["measured_split"]
    label = validation_label(card)
    lines = [
        f"# {card['name']}",
        "",
        f"`{card['model']}` ({card['task']}), {card['params'] / 1e6:.2f} M parameters, input "
        f"{card['input_size'][0]}×{card['input_size'][1]}, file `{card['file']}` "
        f"({card['size_mb']} MB, sha256 `{card['sha256'][:16]}…`).",
        "",
        _pretrained_line(card["pretrained"]),
        "",
        "## Data",
        "",
        f"- folder: `{d['folder']}`",
        f"- trained on split `{d['train_split']}`; "
        + (
            "no checkpoint selection: the last checkpoint of a fixed schedule"
            + (
                f" (split `{d['selection_split']}` of the training folder only monitored)"
                if d.get("selection_split")
                else ""
            )
            if t["checkpoint"] == "last"
            else f"checkpoint selected on `{d['selection_split']}`"
            + (" (the measured split below)" if label and d["selection_split"] == measured else "")
        ),
        f"- metrics below: split `{measured}`, {d['measured_images']} images"
        + (f" ({_seqs(d['measured_sequences'])})" if d.get("measured_sequences") else "")
        + (f": **{label}**" if label else ""),
    ]
    if label or card.get("held_out"):
        lines.append(f"- {_held_out_note(card)}")
    if card.get("video"):
        v = card["video"]
        lines.append(
            f"- headline: per frame on the `{v['split']}` videos of `{v['folder']}` "
            f"({v['frames']} frames of {v['videos']} videos)"
        )
    lines += [
        "",
        "## Training",
        "",
        f"- checkpoint: {t['checkpoint']} (epoch {t['selected_epoch']}) of "
        f"{t['epochs_done']} epochs done / {t['epochs_planned']} planned, {t['steps']} steps",
        f"- wall time: {_hms(t['wall_time_s'])}",
    ]
    w_all = (t.get("weak") or {}).get("rounds_train_s")
    if w_all is not None and t["weak"].get("round"):
        lines[-1] += (
            f" (this round's training; rounds 0–{t['weak']['round']} together "
            f"{_hms(w_all)}, pseudo-labelling not counted)"
        )
    if t.get("flow"):
        f = t["flow"]
        lines.append(
            f"- video model: the checkpoint above + FeatFlowNet trained after it for "
            f"{f.get('steps')} steps (final flow end-point error {float(f.get('final_epe')):.3f}); "
            "the wall time above is the image training only"
        )
    if t.get("video_finetune"):
        v = t["video_finetune"]
        lines.append(
            f"- then fine-tuned end to end on warped features (YolactEdge; backbone frozen) "
            f"for {v.get('steps')} steps of {v.get('batch_size')} frame pairs up to "
            f"{v.get('max_gap')} apart from `{v.get('data')}`, AdamW lr {v.get('lr')}, "
            f"per-frame loss weight {v.get('frame_weight')}, flow EPE weight "
            f"{v.get('epe_weight')} (final loss {float(v.get('final_loss', float('nan'))):.3f})"
        )
    if t.get("weak"):
        w = t["weak"]
        st = w.get("label_stats") or {}
        how = (
            "connected components of the semantic mask, merged blobs split by watershed"
            if w["round"] == 0
            else f"round {w['round'] - 1}'s labels refined by round {w['round'] - 1}'s model "
            "(its instances, constrained to the semantic mask)"
        )
        ap = w.get("best_mask_ap_on_pseudo_val")
        lines.append(
            f"- weakly supervised (`edgevision train --weak`, record `{w['record']}`): no "
            f"instance labels; round {w['round']} of rounds 0–{w.get('rounds_planned')}, "
            f"trained on {st.get('instances', '?')} pseudo-instances of "
            f"{', '.join(w.get('classes') or [])} on {st.get('images', '?')} images of "
            f"`{w.get('data')}` ({how})"
            + (
                f"; checkpoint selected by mask AP on val pseudo-labels ({100 * ap:.2f})"
                if ap is not None
                else ""
            )
        )
    runs = t.get("runs") or []
    for r in runs:
        mach = r.get("machine", {})
        hw = r.get("gpu") or f"{mach.get('cpu', '?')}, {mach.get('usable_cores', '?')} cores"
        at = ""
        if r.get("start_iter") and r.get("start_epoch") is not None:
            at = f" at epoch {r['start_epoch']}"
        plan = f", {r['epochs']} epochs planned" if r.get("epochs") else ""
        lines.append(
            f"- {'resumed' if r.get('start_iter') else 'started'}{at} {r.get('time')} on {hw} "
            f"(device {r.get('device')}, {r.get('threads')} torch threads, torch "
            f"{r.get('versions', {}).get('torch', '?')}{plan})"
        )
    lines += ["", "Command" + ("s" if len(runs) > 1 else "") + ":", "", "```"]
    for r in runs or [{"command": None}]:
        lines.append(r.get("command") or "(not recorded; see train_config.yaml)")
    lines += [
        "```",
        "",
        (
            "Exact configuration of this round's training: `train_config.yaml` (its data is "
            "the round's pseudo-label folder); the command above repeats the whole weak run."
            if t.get("weak")
            else "Exact configuration: `train_config.yaml` (`edgevision train --config "
            "train_config.yaml --data DIR` repeats the run)."
        ),
        "",
        "## Metrics",
        "",
    ]
    v = card.get("video")
    if v:
        lines += [
            f"### Per frame on videos: `{v['folder']}`, {v['frames']} frames of {v['videos']} "
            "videos",
            "",
            "Every frame of every video run on its own (what the model gives on a stream, "
            "before any video mode); the headline.",
            "",
            f"Reproduce: `{v['eval_command']}`",
            "",
            *_metric_lines(v["metrics"]),
            "",
        ]
        if not card.get("held_out"):
            lines += [f"### Images: split `{measured}`", ""]
    h = card.get("held_out")
    if h:
        lines += [
            f"### Held-out sequences: split `{h['split']}`, {h['images']} images "
            f"({_seqs(h.get('sequences') or {})})",
            "",
            "Whole street sequences the model never trained on and whose images did not "
            "choose the checkpoint: what a new street gives.",
            "",
            f"Reproduce: `{h['eval_command']}`",
            "",
            *_metric_lines(h["metrics"]),
            "",
            f"### Split `{measured}`" + (f" ({label})" if label else ""),
            "",
        ]
    lines += [f"Reproduce: `{card['eval_command']}`", ""]
    if label:
        lines += [f"Measured on {label}. {_held_out_note(card)}", ""]
    lines += _metric_lines(m)
    if card.get("notes"):
        lines += ["", "## Notes", "", str(card["notes"])]
    lines += ["", f"Card written by `edgevision ship` on {card['shipped']}.", ""]
    return "\n".join(lines)


def metric_headline(m: Mapping[str, Any]) -> str:
    """One evaluation's main numbers in a few words: PQ and depth where the data had that
    truth, mIoU, mask/box AP or agreement (``"metrics in card"`` when none applies)."""
    parts = []
    if _finite(m.get("pq")):
        parts.append(f"PQ {_pct(m['pq'])}")
    if _finite(m.get("delta1")):
        parts.append(f"depth δ<1.25 {_pct(m['delta1'])}")
    if m.get("miou") is not None:
        parts.append(f"mIoU {_pct(m['miou'])}")
    for key, label in (("segm", "mask AP"), ("bbox", "box AP")):
        if isinstance(m.get(key), Mapping) and m[key].get("AP") is not None:
            parts.append(f"{label} {_pct(m[key]['AP'])}")
    if (m.get("agreement") or {}).get("mean_iou") is not None:
        parts.append(f"agreement with the semantic mask {_pct(m['agreement']['mean_iou'])}")
    return ", ".join(parts) or "metrics in card"


def _metric_lines(m: Mapping[str, Any]) -> list[str]:
    """The headline and per-class table of one evaluation's metrics."""
    lines: list[str] = []
    pq = m.get("per_class_pq") if _finite(m.get("pq")) else None
    if pq is not None:  # panoptic truth: PQ is the headline
        lines += [
            f"**PQ {_pct(m['pq'])}** (things {_pct(m.get('pq_things'))}, stuff "
            f"{_pct(m.get('pq_stuff'))}), SQ {_pct(m.get('sq'))}, RQ {_pct(m.get('rq'))} on "
            f"{m.get('pq_images')} images with panoptic truth",
            "",
        ]
    if _finite(m.get("abs_rel")):  # depth truth
        lines += [
            f"**depth δ<1.25 {_pct(m.get('delta1'))}**, AbsRel {float(m['abs_rel']):.3f}, "
            f"RMSE {float(m['rmse']):.2f} m"
            + (f", scale {float(m['scale']):.3f} (pred/truth)" if _finite(m.get("scale")) else "")
            + f" on {m.get('depth_images')} images with depth truth",
            "",
        ]
    if "miou" in m:
        lines += [
            f"**mIoU {_pct(m.get('miou'))}**, pixel accuracy {_pct(m.get('pixel_acc'))}, "
            f"mean accuracy {_pct(m.get('mean_acc'))}",
            "",
            "| class | IoU |" + (" PQ |" if pq else ""),
            "|---|---:|" + ("---:|" if pq else ""),
        ]
        for k, v in (m.get("per_class_iou") or {}).items():
            lines.append(f"| {k} | {_pct(v)} |" + (f" {_pct(pq.get(k))} |" if pq else ""))
    elif "agreement" in m:
        a = m["agreement"]
        lines += [
            f"**agreement {_pct(a.get('mean_iou'))}** (mean over classes): the data has no "
            "instance labels, so the score is the pixel IoU between the union of the predicted "
            f"masks (score >= {a.get('score_threshold')}) and each class's pixels in the "
            "semantic labels (void excluded), in %. It shows whether the instances cover their "
            "class and nothing else; it cannot show merged or wrongly split instances.",
            "",
            "| class | agreement IoU |",
            "|---|---:|",
        ]
        for k, v in (a.get("per_class") or {}).items():
            lines.append(f"| {k} | {_pct(v)} |")
    elif "segm" in m or "bbox" in m:
        kinds = [(k, label) for k, label in (("segm", "mask"), ("bbox", "box")) if k in m]
        lines += [
            " · ".join(f"**{label} AP {_pct(m[k].get('AP'))}**" for k, label in kinds)
            + " (COCO AP @ IoU 0.50:0.95, %)",
            "",
            "| | " + " | ".join(label for _, label in kinds) + " |",
            "|---|" + "---:|" * len(kinds),
        ]
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"):
            lines.append(f"| {key} | " + " | ".join(_pct(m[k].get(key)) for k, _ in kinds) + " |")
        classes = list((m[kinds[0][0]].get("per_class_AP") or {}).keys())
        for c in classes:
            vals = " | ".join(_pct((m[k].get("per_class_AP") or {}).get(c)) for k, _ in kinds)
            lines.append(f"| AP {c} | {vals} |")
    else:
        lines += ["```", json.dumps(m, indent=2), "```"]
    return lines
