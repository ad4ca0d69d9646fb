"""Exact resume: interrupted (Ctrl-C, hook, SIGKILL) + resumed runs equal uninterrupted ones."""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from edgevision.checkpoint import load_checkpoint
from edgevision.errors import CheckpointError, ConfigError
from edgevision.train.config import TrainConfig
from edgevision.train.semantic import train_semantic
from edgevision.train.trainer import HookBase

ITERS_PER_EPOCH = 3  # 6 train images, batch 2


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def data_dir(synth_images) -> Path:
    return synth_images(seed=2, size=(64, 64), train=6, val=2)


def make_cfg(data_dir: Path, out: Path, **kw: object) -> TrainConfig:
    base = {
        "data": str(data_dir),
        "model_kwargs": {"width_mult": 0.35, "aspp_channels": 16},
        "epochs": 2,
        "batch_size": 2,
        "crop": (48, 48),
        "lr": 0.02,
        "warmup_iters": 2,
        "warmup_epochs": 0,
        "ema": True,
        "ema_decay": 0.9,
        "log_every": 1,
        "device": "cpu",
        "seed": 7,
        "out": str(out),
    }
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 2-epoch run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    with torch.random.fork_rng():
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        train_semantic(make_cfg(data_dir, out), progress=False, quiet=True)
        torch.set_num_threads(n)
    return out


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        _, sa, ea = load_checkpoint(a / name)
        _, sb, eb = load_checkpoint(b / name)
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
        if "raw_state_dict" in ea:
            ra, rb = ea["raw_state_dict"], eb["raw_state_dict"]
            assert all(torch.equal(ra[k], rb[k]) for k in ra)
    ta, tb = (
        load_checkpoint(a / "last.pt")[2]["trainer"],
        load_checkpoint(b / "last.pt")[2]["trainer"],
    )
    assert (ta["epoch"], ta["iter"]) == (tb["epoch"], tb["iter"]) == (2, 2 * ITERS_PER_EPOCH)
    assert ta["scheduler"]["last_epoch"] == tb["scheduler"]["last_epoch"]
    assert _metrics_without_time(a) == _metrics_without_time(b)


def _metrics_without_time(run: Path) -> list[dict[str, str]]:
    """metrics.csv rows without the wall-clock column (the only one that may differ)."""
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["elapsed_s"] for r in rows)
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


class InterruptAt(HookBase):
    """Raise KeyboardInterrupt before the step after ``at`` steps (a hook-side stop)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_step(self) -> None:
        if self.trainer.iter == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("hook", "stopped_at"),
    [(InterruptAt(1), 1), (InterruptAt(3), 3)],
    ids=["hook-mid-epoch1", "hook-epoch-boundary"],
)
def test_interrupt_and_resume_is_exact(data_dir, reference, tmp_path, hook, stopped_at):
    cfg = make_cfg(data_dir, tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train_semantic(cfg, hooks=[hook], progress=False, quiet=True)
    state = load_checkpoint(tmp_path / "run" / "last.pt")[2]["trainer"]
    assert state["iter"] == stopped_at
    assert state["epoch"] * ITERS_PER_EPOCH + state["epoch_iter"] == stopped_at
    result = train_semantic(cfg, resume=True, progress=False, quiet=True)
    assert result.steps == 2 * ITERS_PER_EPOCH and result.epochs == 2
    assert_same_run(reference, tmp_path / "run")


KILLED_RUN = textwrap.dedent(
    """
    import sys, time, json
    import torch
    torch.set_num_threads(1)
    from edgevision.train.config import TrainConfig
    from edgevision.train.semantic import train_semantic
    from edgevision.train.trainer import HookBase

    class Stall(HookBase):
        def before_step(self):
            if self.trainer.iter == {stall_at}:  # the epoch-1 checkpoint is written by now
                print("READY", flush=True)
                time.sleep(120)

    cfg = TrainConfig(**json.loads(sys.argv[1]))
    train_semantic(cfg, hooks=[Stall()], progress=False, quiet=True)
    """
)


SIGINT_RUN = textwrap.dedent(
    """
    import os, signal, sys, json
    import torch
    torch.set_num_threads(1)
    from edgevision.train.config import TrainConfig
    from edgevision.train.semantic import train_semantic
    from edgevision.train.trainer import HookBase

    class SigintAt(HookBase):  # a real SIGINT in the middle of a step (deferred to its end)
        def before_step(self):
            if self.trainer.iter == {at}:
                os.kill(os.getpid(), signal.SIGINT)

    cfg = TrainConfig(**json.loads(sys.argv[1]))
    try:
        train_semantic(cfg, hooks=[SigintAt()], progress=False, quiet=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(0)
    sys.exit(3)
    """
)


def test_real_sigint_mid_step_then_resume_is_exact(data_dir, reference, tmp_path):
    """A real SIGINT, in a fresh process: the signal is process-wide, and native libraries
    that earlier tests of this process loaded (GStreamer, OpenVINO ...) are not part of
    what a training run is."""
    import json

    from edgevision.config import to_dict

    cfg = make_cfg(data_dir, tmp_path / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-c", SIGINT_RUN.replace("{at}", "4"), json.dumps(to_dict(cfg))],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0 and "INTERRUPTED" in r.stdout, r.stderr[-2000:]
    state = load_checkpoint(tmp_path / "run" / "last.pt")[2]["trainer"]
    assert state["iter"] == 5  # the step the signal arrived in was finished
    assert state["epoch"] * ITERS_PER_EPOCH + state["epoch_iter"] == 5
    result = train_semantic(cfg, resume=True, progress=False, quiet=True)
    assert result.steps == 2 * ITERS_PER_EPOCH and result.epochs == 2
    assert_same_run(reference, tmp_path / "run")


def test_sigkill_after_checkpoint_then_resume_is_exact(data_dir, reference, tmp_path):
    import json

    from edgevision.config import to_dict

    cfg = make_cfg(data_dir, tmp_path / "run")
    # stall after one step of epoch 2: metrics.csv then has a row past the checkpoint
    code = KILLED_RUN.replace("{stall_at}", str(ITERS_PER_EPOCH + 1))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(to_dict(cfg))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "READY", proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[-1].startswith("step,2,4,")  # logged after the last checkpoint
    assert load_checkpoint(tmp_path / "run" / "last.pt")[2]["trainer"]["iter"] == ITERS_PER_EPOCH
    train_semantic(cfg, resume=True, progress=False, quiet=True)
    assert_same_run(reference, tmp_path / "run")


def test_resume_refuses_what_would_change_the_run(data_dir, reference, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    cfg = make_cfg(data_dir, out)
    with pytest.raises(ConfigError, match=r"differs .* in lr, schedule \(lr: 0.02 -> 0.05"):
        train_semantic(
            dataclasses.replace(cfg, lr=0.05, schedule="cosine"), resume=True, progress=False
        )
    with pytest.raises(ConfigError, match="already holds a run"):
        train_semantic(cfg, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint to resume"):
        train_semantic(make_cfg(data_dir, tmp_path / "none"), resume=True, progress=False)
    # same labels, but the dataset now declares another class list
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    text = (other / "dataset.yaml").read_text().replace("- star", "- star\n- hexagon")
    (other / "dataset.yaml").write_text(text)
    with pytest.raises(CheckpointError, match="trained for 5 classes .* has 6"):
        train_semantic(dataclasses.replace(cfg, data=str(other)), resume=True, progress=False)
    # a finished run resumes to nothing (and safe fields like workers may change)
    result = train_semantic(dataclasses.replace(cfg, workers=0, eval_every=2), resume=True)
    assert result.steps == 2 * ITERS_PER_EPOCH


def test_resume_can_change_the_planned_length(data_dir, reference, tmp_path, capsys):
    import json

    from edgevision.train.schedule import lr_factor

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    cfg = make_cfg(data_dir, out)
    with pytest.raises(ConfigError, match="already done 2 epochs"):
        train_semantic(dataclasses.replace(cfg, epochs=2 - 1), resume=True, progress=False)
    result = train_semantic(dataclasses.replace(cfg, epochs=4), resume=True, progress=False)
    assert (result.epochs, result.steps) == (4, 4 * ITERS_PER_EPOCH)
    assert "schedule changed from 2 to 4 epochs at epoch 2" in capsys.readouterr().out
    _, _, extra = load_checkpoint(out / "last.pt")
    assert extra["trainer"]["scheduler"]["total_iters"] == 4 * ITERS_PER_EPOCH
    assert extra["train_config"]["epochs"] == 4
    # the LR of the first resumed step follows the schedule over the new length
    with open(out / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("lr") and r.get("iter")]
    first = next(r for r in rows if int(r["iter"]) > 2 * ITERS_PER_EPOCH)
    it = int(first["iter"]) - 1
    want = cfg.lr * lr_factor(it, total_iters=4 * ITERS_PER_EPOCH, warmup_iters=2,
                              warmup_factor=cfg.warmup_factor, mode="poly", power=0.9)  # fmt: skip
    assert float(first["lr"]) == pytest.approx(want, rel=1e-3)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert (runs[-1]["start_epoch"], runs[-1]["epochs"]) == (2, 4)
