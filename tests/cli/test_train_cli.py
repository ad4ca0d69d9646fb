"""``edgevision train``: outputs, eval of best.pt, Ctrl-C (exit 130) and one-line errors."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.checkpoint import load_checkpoint  # noqa: E402
from edgevision.cli.main import main  # noqa: E402
from edgevision.config import from_yaml  # noqa: E402
from edgevision.train.config import TrainConfig  # noqa: E402
from edgevision.train.trainer import Trainer  # noqa: E402

MODEL = "deeplabv3plus_mobilenetv2"


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def data_dir(synth_images) -> Path:
    return synth_images(seed=4, size=(64, 64), train=4, val=2)


def args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        MODEL,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--crop",
        "64x64",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
        *extra,
    ]


def test_train_writes_the_run_and_eval_scores_best(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(args(data_dir, out, "--lr", "0.02", "--set", "log_every=1")) == 0
    assert "best val mIoU" in capsys.readouterr().out
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.csv"):
        assert (out / name).is_file(), name
    cfg = from_yaml(TrainConfig, out / "config.yaml")
    assert (cfg.lr, cfg.crop, cfg.model_kwargs["width_mult"]) == (0.02, (64, 64), 0.35)
    spec, _, extra = load_checkpoint(out / "best.pt")
    assert spec.class_names == ["background", "circle", "rectangle", "triangle", "star"]
    assert spec.ignore_index == 255 and spec.input_size == (64, 64)
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["step", "step", "epoch"]
    # edgevision eval on best.pt reproduces the trainer's validation mIoU
    report = tmp_path / "eval.json"
    assert main(["eval", str(out / "best.pt"), "--data", str(data_dir), "--json", str(report)]) == 0
    got = json.loads(report.read_text())["metrics"]["miou"]
    assert got == pytest.approx(float(rows[-1]["miou"]), abs=1e-5)
    assert extra["miou"] == pytest.approx(got, abs=1e-6)


def test_ctrl_c_saves_and_exits_130_then_resume(data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real = Trainer.run_step

    def ctrl_c_in_first_step(self):  # as if SIGINT arrived during step 1
        if self.iter == 0 and self._sigint is not None:
            self._sigint.requested = True
        real(self)

    monkeypatch.setattr(Trainer, "run_step", ctrl_c_in_first_step)
    assert main(args(data_dir, out)) == 130
    assert "interrupted" in capsys.readouterr().err
    state = load_checkpoint(out / "last.pt")[2]["trainer"]
    assert (state["epoch"], state["epoch_iter"], state["iter"]) == (0, 1, 1)
    monkeypatch.undo()
    # --resume reads OUT/config.yaml: no other flags needed; a changed flag is refused
    assert main(["train", "--resume", "--out", str(out), "--no-progress", "--lr", "1"]) == 2
    assert "lr: 0.01 -> 1.0" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert load_checkpoint(out / "last.pt")[2]["trainer"]["iter"] == 2


def _broken_copy(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    lab = dst / "labels" / "train"
    first = sorted(lab.iterdir())[0]
    if how == "label-id":
        m = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
        m[0, 0] = 9
        cv2.imwrite(str(first), m)
    elif how == "size":
        m = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(first), m[:, :40])
    elif how == "missing-image":
        names = [p.stem for p in sorted(lab.iterdir())]
        (dst / "train.txt").write_text("\n".join([*names, "ghost"]) + "\n")
    elif how == "empty":
        for p in (dst / "images" / "train").iterdir():
            p.unlink()
        (dst / "train.txt").unlink(missing_ok=True)
    return first


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("label-id", r"label values 9 not in \[0, 5\) .*{name}"),
        ("size", r"label size 40x64 .*{name}"),
        ("missing-image", r"train.txt lists 'ghost' but there is no image"),
        ("empty", r"split 'train' of .* is empty"),
    ],
)
def test_bad_data_fails_before_training(data_dir, tmp_path, capsys, monkeypatch, how, message):
    bad = _broken_copy(data_dir, tmp_path / "ds", how)

    def no_step(self):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(Trainer, "run_step", no_step)
    assert main(args(tmp_path / "ds", tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgevision train: error: ")
    assert re.search(message.format(name=re.escape(bad.name)), err[0]), err[0]
    assert not (tmp_path / "run" / "last.pt").exists()


def test_config_errors(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(args(data_dir, out, "--set", "nosuch=1")) == 2
    assert "unknown config key 'nosuch'" in capsys.readouterr().err
    assert main(args(data_dir, out, "--set", "epochs=zero")) == 2
    assert "epochs: expected an integer" in capsys.readouterr().err
    assert main(["train", "--data", str(data_dir), "--out", str(out)]) == 2
    assert "no model" in capsys.readouterr().err
    assert main(["train", "nosuchmodel", "--data", str(data_dir), "--out", str(out)]) == 2
    assert "unknown model 'nosuchmodel'" in capsys.readouterr().err
    assert main(args(data_dir, out, "--device", "cuda")) == (
        2 if not torch.cuda.is_available() else 0
    )
    # a YAML config file is the base; flags override it
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"model: {MODEL}\ndata: {data_dir}\nepochs: 0\n")
    assert main(["train", "--config", str(cfg_file), "--out", str(out)]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
    np.testing.assert_equal(out.exists(), False)


def test_ohem_class_balanced_adamw_cosine_without_val(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # class-count cache
    monkeypatch.delenv("EDGEVISION_CACHE", raising=False)  # it comes first
    out = tmp_path / "run"
    extra = ["--loss", "ohem", "--class-balanced", "--beta", "0.99", "--set", "val_split="]
    extra += ["--set", "optimizer=adamw", "--set", "schedule=cosine", "--set", "lr=1e-3"]
    assert main(args(data_dir, out, *extra)) == 0
    cfg = from_yaml(TrainConfig, out / "config.yaml")
    assert (cfg.loss, cfg.class_balanced, cfg.cb_beta, cfg.val_split) == ("ohem", True, 0.99, "")
    assert (out / "last.pt").is_file() and not (out / "best.pt").exists()
    assert any((tmp_path / "cache").rglob("*.json"))


def test_pretrained_starts_from_the_file_and_is_recorded(
    data_dir, tmp_path, capsys, torchvision_mobilenetv2
):
    tv = torchvision_mobilenetv2(width=0.35).state_dict()  # torchvision's width_mult=0.35
    src = tmp_path / "mobilenet_v2_035.pth"
    torch.save(tv, src)
    out = tmp_path / "run"
    # a tiny LR: after one epoch the convs still hold the imported values
    assert main(args(data_dir, out, "--pretrained", str(src), "--lr", "1e-9")) == 0
    text = capsys.readouterr().out
    assert "pretrained: torchvision-mobilenetv2 -> deeplabv3plus_mobilenetv2: backbone" in text
    assert from_yaml(TrainConfig, out / "config.yaml").pretrained == str(src)
    spec, state, _ = load_checkpoint(out / "last.pt")
    rec = spec.extra["pretrained"]
    assert rec["source"] == "torchvision-mobilenetv2"
    assert rec["backbone_matched"] == rec["backbone_total"] > 0
    torch.testing.assert_close(
        state["backbone.stem.0.weight"], tv["features.0.0.weight"], atol=1e-6, rtol=0
    )
    # a file that does not fit the backbone stops the run before it starts
    wide = tmp_path / "mobilenet_v2.pth"
    torch.save(torchvision_mobilenetv2().state_dict(), wide)
    out2 = tmp_path / "run2"
    assert main(args(data_dir, out2, "--pretrained", str(wide))) == 2
    err = capsys.readouterr().err.strip()
    assert "need >= 95%" in err and "\n" not in err
    assert not (out2 / "last.pt").exists()
