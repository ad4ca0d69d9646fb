"""Trainer loop, hooks, schedule, EMA, RNG state, evaluation and checkpoint files."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgevision.checkpoint import load_checkpoint, save_checkpoint
from edgevision.config import ModelSpec
from edgevision.evaluate.miou import ConfusionMatrix
from edgevision.postprocess.segmentation import semantic_argmax
from edgevision.preprocess import Transform
from edgevision.registry import create_model
from edgevision.train.ema import ModelEMA
from edgevision.train.hooks import CheckpointHook, EMAHook, evaluate_confusion
from edgevision.train.schedule import WarmupLR, lr_factor
from edgevision.train.trainer import HookBase, Trainer, get_rng_state, set_rng_state

TINY = {"width_mult": 0.35, "aspp_channels": 16}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


def fallback_loss(outputs, target):
    """Local stand-in for edgevision.losses: CE on logits upsampled to the label size."""
    logits = outputs["out"] if isinstance(outputs, dict) else outputs
    logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, target, ignore_index=255)


def tiny_model(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return create_model(
        "deeplabv3plus_mobilenetv2", class_names=[f"c{i}" for i in range(classes)], **TINY
    )


class Recorder(HookBase):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_train(self):
        self.calls.append("before_train")

    def before_epoch(self):
        self.calls.append(f"before_epoch{self.trainer.epoch}")

    def after_step(self):
        self.calls.append(f"step{self.trainer.iter}")

    def after_epoch(self):
        self.calls.append(f"after_epoch{self.trainer.epoch}")

    def after_train(self):
        self.calls.append("after_train")


def _batch(n: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.zeros(n, size, size, dtype=torch.int64)
    y[:, size // 4 : size // 2, :] = 1
    y[:, :, size // 2 :] = 2
    y[:, :2] = 255
    x = torch.randn(n, 3, size, size, generator=g) * 0.1 + y[:, None].clamp(max=2).float()
    return x, y


def test_loss_decreases_on_a_fixed_batch():
    model = tiny_model()
    batch = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rec = Recorder()
    trainer = Trainer(model, opt, [batch] * 5, fallback_loss, hooks=[rec], max_epochs=3)
    losses = []

    class Losses(HookBase):
        def after_step(self):
            losses.append(self.trainer.storage["loss"])

    trainer.register_hooks([Losses()])
    trainer.train()
    assert trainer.iter == 15 and trainer.epoch == 3
    assert losses[-1] < 0.6 * losses[0], losses
    assert rec.calls[:3] == ["before_train", "before_epoch0", "step1"]
    assert rec.calls[-3:] == ["step15", "after_epoch2", "after_train"]


def test_channels_last_trains_the_same_model():
    """NHWC training is a memory layout only: the same parameters (to float tolerance) as
    NCHW. A net without BatchNorm: BN in training mode divides by the batch variance, which
    amplifies float rounding (different kernels per layout) in near-constant channels."""
    results = []
    for cl in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),
            nn.ReLU(),
            nn.Conv2d(8, 3, 1),
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        trainer = Trainer(model, opt, [_batch()] * 3, fallback_loss, max_epochs=1, channels_last=cl)
        trainer.train()
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last) == cl
        results.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    for k, v in results[0].items():
        torch.testing.assert_close(results[1][k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_nan_loss_raises_with_the_step():
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, [_batch()], lambda o, t: o.sum() * math.nan, max_epochs=1)
    with pytest.raises(FloatingPointError, match="step 0"):
        trainer.train()


def test_lr_factor_shapes():
    kw = {"total_iters": 100, "warmup_iters": 10, "warmup_factor": 0.1}
    assert lr_factor(0, **kw) == pytest.approx(0.1)
    assert lr_factor(5, **kw) == pytest.approx(0.55 * (1 - 0.05) ** 0.9)
    assert lr_factor(10, **kw) == pytest.approx((1 - 0.1) ** 0.9)
    assert lr_factor(100, **kw) == 0.0
    assert lr_factor(50, total_iters=100, mode="cosine") == pytest.approx(0.5)
    assert lr_factor(100, total_iters=100, mode="cosine") == pytest.approx(0.0)


@pytest.mark.parametrize("mode", ["poly", "cosine"])
def test_schedule_resumes_exactly(mode):
    def make():
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.2)
        return opt, WarmupLR(opt, total_iters=30, warmup_iters=5, mode=mode)

    opt, sched = make()
    ref = []
    for _ in range(30):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    opt, sched = make()
    for _ in range(12):
        opt.step()
        sched.step()
    state = sched.state_dict()
    buf = io.BytesIO()  # round-trip through a weights_only load
    torch.save(state, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2, sched2 = make()
    sched2.load_state_dict(state)
    got = []
    for _ in range(18):
        got.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert got == ref[12:]
    assert ref[0] == pytest.approx(0.2 * 0.001)


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    a = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    b = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    assert a == b


def test_ema_average():
    m = nn.Linear(2, 1)
    with torch.no_grad():
        m.weight.fill_(0.0)
    ema = ModelEMA(m, decay=0.5)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema.update(m)  # ramp: min(0.5, 2/11) = 2/11
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1 - 2 / 11))
    ema2 = ModelEMA(m, decay=0.5)
    ema2.load_state_dict(ema.state_dict())
    assert ema2.updates == 1 and torch.equal(ema2.module.weight, ema.module.weight)


def test_evaluate_confusion_matches_runtime_postprocess():
    """argmax at native resolution, nearest label upsampling: same counts as the runtime."""

    class Fixed(nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return self.logits

    g = torch.Generator().manual_seed(0)
    for (h, w), (H, W) in [((16, 16), (64, 64)), ((23, 18), (90, 70))]:
        logits = torch.randn(1, 4, h, w, generator=g)
        labels = torch.randint(0, 5, (1, H, W), generator=g)
        labels[labels == 4] = 255
        cm = evaluate_confusion(
            Fixed(logits), [(torch.zeros(1, 3, H, W), labels)], num_classes=4, ignore_index=255
        )
        spec = ModelSpec("m", "semantic", list("abcd"), input_size=(H, W))
        t = Transform((H, W), (H, W), (1.0, 1.0), (0, 0))
        pred = semantic_argmax([logits.numpy()], spec, [t])[0].class_map
        ref = ConfusionMatrix(4, 255)
        ref.update(pred, labels[0].numpy())
        assert np.array_equal(cm.matrix, ref.matrix), (h, w, H, W)


def test_ema_hook_weights_are_evaluated_and_saved(tmp_path):
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ema = EMAHook(model, decay=0.9)
    ck = CheckpointHook(tmp_path, model.spec, train_config={"a": 1})
    trainer = Trainer(model, opt, [_batch()] * 2, fallback_loss, hooks=[ema, ck], max_epochs=1)
    assert trainer.eval_model() is ema.ema.module
    trainer.train()
    spec, sd, extra = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.equal(sd[k], v) for k, v in ema.ema.module.state_dict().items())
    assert all(torch.equal(extra["raw_state_dict"][k], v) for k, v in model.state_dict().items())
    assert extra["trainer"]["epoch"] == 1 and extra["trainer"]["iter"] == 2
    assert extra["train_config"] == {"a": 1}
    assert spec.extra["train"]["steps_done"] == 2


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = tiny_model()
    path = tmp_path / "last.pt"
    save_checkpoint(path, model, epoch=1)
    before = path.read_bytes()
    real_save = torch.save

    def dying_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        Path(f).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path)[2]["epoch"] == 1


def test_resume_restores_hook_states_saved_under_their_old_names(tmp_path):
    """Detection runs saved their checkpoint hook as ``_DetCheckpointHook``; a resumed run
    restores its best value into today's CheckpointHook (else best.pt would be overwritten by
    a worse epoch); a state no hook takes is reported, not silently dropped."""
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spec = model.spec

    def trainer(hooks):
        return Trainer(model, opt, [_batch()], fallback_loss, hooks=hooks, max_epochs=1)

    state = trainer([CheckpointHook(tmp_path, spec)]).state_dict()
    state["hooks"] = {"_DetCheckpointHook": {"best": 0.25}}
    ckpt = CheckpointHook(tmp_path, spec, metric="ap50")
    trainer([ckpt]).load_state_dict(state)
    assert ckpt.best == 0.25
    state["hooks"]["Gone"] = {}
    with pytest.warns(UserWarning, match="hooks this run does not have \\(Gone\\)"):
        trainer([CheckpointHook(tmp_path, spec)]).load_state_dict(state)


def test_data_loader_workers_leave_sigterm_to_the_main_process():
    """A service manager signals the whole process group: workers ignore SIGTERM, so the
    main process can finish its step and save last.pt."""
    import signal

    from edgevision.train.seg_data import seed_worker

    old = signal.getsignal(signal.SIGTERM)
    try:
        seed_worker(0)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)
