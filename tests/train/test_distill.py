"""Distillation: teacher logits cached once, carried through the geometric augmentation,
a KL term that vanishes when the student is the teacher, and a training run that uses it."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402
from edgevision.train.distill import DistillLoss, TeacherCache, cache_teacher_logits  # noqa: E402
from edgevision.train.seg_data import augment  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


def test_extra_map_follows_the_geometry_and_changes_nothing_else():
    rng = np.random.default_rng(0)
    mask = np.kron(rng.integers(0, 4, (4, 5)), np.ones((10, 10), np.int64))
    image = np.zeros((40, 50, 3), np.uint8)
    image[..., 0] = mask * 50 + 20
    onehot = np.eye(4, dtype=np.float32)[mask]  # (H, W, 4): the label as a "teacher"
    for seed in range(10):
        kw = dict(crop=(48, 56), ignore_index=255, scale_range=(0.5, 2.0), jitter=0.3)
        a = augment(image, mask, np.random.default_rng(seed), **kw)
        b = augment(image, mask, np.random.default_rng(seed), photometric=0.0, extra=onehot, **kw)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        extra, lab = b[2], b[1]
        assert extra.shape == (48, 56, 4)
        assert (extra[lab == 255] == 0).all()  # padding
        # away from block edges (nearest vs bilinear sampling differ by a pixel there)
        import cv2

        k = np.ones((5, 5), np.uint8)
        lab8 = lab.astype(np.uint8)
        flat = cv2.dilate(lab8, k) == cv2.erode(lab8, k)
        sure = (lab != 255) & flat
        assert sure.sum() > 50 and (extra.argmax(-1)[sure] == lab[sure]).all()


def test_distill_loss_vanishes_when_student_is_teacher():
    ce = torch.nn.CrossEntropyLoss(ignore_index=255)
    loss = DistillLoss(ce, weight=1.0, temperature=2.0, ignore_index=255)
    s = torch.randn(2, 3, 8, 8, requires_grad=True)
    labels = torch.randint(0, 3, (2, 8, 8))
    labels[0, :4] = 255
    soft = torch.nn.functional.interpolate(s.detach(), size=(4, 4), mode="bilinear")
    same = loss(s, (labels, soft))
    assert same.item() == pytest.approx(ce(s, labels).item(), abs=1e-5)
    other = loss(s, (labels, torch.randn(2, 3, 4, 4) * 3))
    assert other.item() > same.item() + 0.01
    other.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert loss(s, labels).item() == pytest.approx(ce(s, labels).item())  # plain targets


def test_teacher_logits_are_cached_once_and_a_run_learns_from_them(
    synth_images, tmp_path, monkeypatch
):
    monkeypatch.setenv("EDGEVISION_CACHE", str(tmp_path / "cache"))
    data = synth_images(seed=21, size=(48, 64), train=4, val=2)
    common = [
        "--data", str(data), "--epochs", "1", "--batch-size", "2", "--crop", "48x64",
        "--device", "cpu", "--no-progress",
        "--set", "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
    ]  # fmt: skip
    assert main(["train", "deeplabv3plus_mobilenetv2", "--out", str(tmp_path / "t"), *common]) == 0
    teacher = tmp_path / "t" / "last.pt"
    cache = TeacherCache(teacher)
    from edgevision.data.semantic import SemanticFolder

    folder = SemanticFolder(data, "train")
    assert cache_teacher_logits(cache, folder.image_paths, class_names=folder.class_names) == 4
    assert cache_teacher_logits(cache, folder.image_paths, class_names=folder.class_names) == 0
    soft = np.load(cache.path(folder.image_paths[0]))
    assert soft.dtype == np.float16 and soft.shape == (folder.num_classes, 12, 16)
    assert cache.load(folder.image_paths[0], (48, 64)).shape == (48, 64, folder.num_classes)
    with pytest.raises(Exception, match="classes"):
        cache_teacher_logits(TeacherCache(teacher, stride=2), folder.image_paths, class_names=["x"])
    out = tmp_path / "s"
    argv = ["train", "deeplabv3plus_mobilenetv2", "--out", str(out), *common,
            "--set", f"distill_from={teacher}", "--set", "distill_weight=2"]  # fmt: skip
    assert main(argv) == 0
    assert (out / "last.pt").is_file()
    assert "distill_from" in (out / "config.yaml").read_text()
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 2 and json.dumps(rows)
