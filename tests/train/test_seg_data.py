"""Training data: augmentation, seeded sampler, per-sample determinism, up-front checks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edgevision.data.semantic import SemanticFolder
from edgevision.errors import DataError
from edgevision.train.seg_data import (
    SeededSampler,
    SegEvalDataset,
    SegTrainDataset,
    augment,
    build_train_loader,
    check_split,
    street_photometric,
)

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


@pytest.fixture(scope="module")
def ds_dir(synth_images) -> Path:
    return synth_images(seed=5, size=(48, 64), train=5, val=1)


def _colour_coded(h: int = 40, w: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """An image whose red channel encodes the label (label = red // 50), for alignment checks."""
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 5, size=(h, w))
    mask = np.kron(mask[::10, ::10], np.ones((10, 10), np.int64))[:h, :w]
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = mask * 50 + 20
    return image, mask


def test_augment_shapes_padding_and_alignment():
    image, mask = _colour_coded()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        img, lab = augment(
            image, mask, rng, crop=(64, 72), ignore_index=255, scale_range=(0.5, 2.0), jitter=0
        )
        assert img.shape == (64, 72, 3) and img.dtype == np.uint8
        assert lab.shape == (64, 72) and lab.dtype == np.int64
        assert set(np.unique(lab)) <= {0, 1, 2, 3, 4, 255}
        # padded pixels are ignore in the label and the pad colour in the image
        pad = lab == 255
        assert (img[pad] == (124, 116, 104)).all()
        # away from the (bilinearly blurred) block edges, colour and label agree: flips,
        # crops and scales moved both together
        inner = cv2.erode((~pad).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        r = img[..., 0].astype(int)
        same = (np.abs(r - (lab * 50 + 20)) <= 2) | ~inner
        blocky = cv2.morphologyEx(lab.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5)))
        assert same[blocky == 0].all()


def test_augment_jitter_changes_colours_only():
    image, mask = _colour_coded()
    a = augment(image, mask, np.random.default_rng(1), crop=(40, 50), ignore_index=255, jitter=0)
    b = augment(image, mask, np.random.default_rng(1), crop=(40, 50), ignore_index=255, jitter=0.4)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], b[0])


def test_street_photometric_changes_colours_only_and_is_reproducible():
    image, mask = _colour_coded()
    a = augment(image, mask, np.random.default_rng(3), crop=(40, 50), ignore_index=255, jitter=0)
    b = augment(
        image,
        mask,
        np.random.default_rng(3),
        crop=(40, 50),
        ignore_index=255,
        jitter=0,
        photometric=1.0,
    )
    c = augment(
        image,
        mask,
        np.random.default_rng(3),
        crop=(40, 50),
        ignore_index=255,
        jitter=0,
        photometric=1.0,
    )
    assert np.array_equal(a[1], b[1]) and np.array_equal(b[0], c[0])
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(32, 40, 3), dtype=np.uint8)
    outs = [street_photometric(img, np.random.default_rng(s), 1.0) for s in range(40)]
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    # each of 5 changes fires with probability 0.5: 1 sample in 32 stays as it is
    small = img[:8, :8]
    kept = sum(
        np.array_equal(street_photometric(small, np.random.default_rng(s), 1.0), small)
        for s in range(640)
    )
    assert 8 <= kept <= 40
    assert all(
        np.array_equal(street_photometric(img, np.random.default_rng(s), 0.0), img)
        for s in range(5)
    )
    # a gamma > 1 (dusk) darkens mid-tones, never brightens them all; strength scales the change
    weak = np.mean(
        [
            np.abs(street_photometric(img, np.random.default_rng(s), 0.2).astype(int) - img).mean()
            for s in range(40)
        ]
    )
    strong = np.mean([np.abs(o.astype(int) - img).mean() for o in outs])
    assert strong > weak


def test_train_dataset_is_deterministic_per_epoch_and_sample(ds_dir):
    folder = SemanticFolder(ds_dir, "train")
    ds = SegTrainDataset(folder, crop=(32, 32), mean=MEAN, std=STD, seed=3)
    x0, y0 = ds[2]
    assert x0.shape == (3, 32, 32) and x0.dtype == torch.float32
    assert y0.shape == (32, 32) and y0.dtype == torch.int64
    x1, y1 = ds[2]
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    ds.set_epoch(1)
    x2, _ = ds[2]
    assert not torch.equal(x0, x2)


def test_loader_output_does_not_depend_on_workers(ds_dir):
    folder = SemanticFolder(ds_dir, "train")

    def batches(workers: int) -> list[torch.Tensor]:
        ds = SegTrainDataset(folder, crop=(32, 32), mean=MEAN, std=STD, seed=1)
        loader = build_train_loader(ds, batch_size=2, seed=1, workers=workers)
        loader.sampler.set_epoch(1)  # type: ignore[attr-defined]
        ds.set_epoch(1)
        return [x for x, _ in loader]

    a, b = batches(0), batches(2)
    assert len(a) == 2 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_eval_dataset_normalises_full_image(ds_dir):
    folder = SemanticFolder(ds_dir, "val")
    x, y = SegEvalDataset(folder, mean=MEAN, std=STD)[0]
    s = folder[0]
    assert x.shape == (3, 48, 64) and torch.equal(y, torch.from_numpy(s.mask))
    expect = (s.image[5, 7].astype(np.float32) - np.float32(MEAN)) / np.float32(STD)
    assert torch.allclose(x[:, 5, 7], torch.from_numpy(expect))
    xb, _ = SegEvalDataset(folder, mean=MEAN, std=STD, color_order="BGR")[0]
    assert torch.allclose(
        xb[0, 5, 7], torch.tensor((s.image[5, 7, 2] - np.float32(MEAN[0])) / np.float32(STD[0]))
    )


def test_seeded_sampler_epochs_shards_and_skip():
    s = SeededSampler(10, seed=4)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e0) == list(range(10)) and e0 != e1
    s.set_epoch(0)
    assert list(s) == e0  # an epoch's order is a function of (seed, epoch)
    s.set_epoch(0, skip=4)
    assert list(s) == e0[4:] and len(s) == 6
    shards = [SeededSampler(11, seed=4, rank=r, world_size=3) for r in range(3)]
    for sh in shards:
        sh.set_epoch(2)
    parts = [list(sh) for sh in shards]
    assert all(len(p) == 4 for p in parts)  # padded to 12
    assert set().union(*parts) == set(range(11))
    ev = [SeededSampler(11, shuffle=False, rank=r, world_size=3, pad=False) for r in range(3)]
    assert sorted(i for e in ev for i in e) == list(range(11))


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    assert cv2.imwrite(str(path), img)


def _folder(root: Path, labels: list[np.ndarray], size=(16, 16)) -> Path:
    (root).mkdir(parents=True)
    (root / "dataset.yaml").write_text("classes: [a, b, c]\nignore_index: 255\n")
    for i, lab in enumerate(labels):
        _write(root / "images" / "train" / f"im{i}.png", np.zeros((*size, 3), np.uint8))
        _write(root / "labels" / "train" / f"im{i}.png", lab.astype(np.uint8))
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    return root


def test_check_split_reports_the_bad_file(tmp_path):
    ok = np.zeros((16, 16))
    bad = ok.copy()
    bad[3, 3] = 7
    root = _folder(tmp_path / "a", [ok, bad])
    with pytest.raises(DataError, match=r"label values 7 .*im1\.png"):
        check_split(SemanticFolder(root, "train"))
    root = _folder(tmp_path / "b", [ok, np.zeros((16, 12))])
    with pytest.raises(DataError, match=r"label size .*im1\.png"):
        check_split(SemanticFolder(root, "train"))
    root = _folder(tmp_path / "c", [])
    with pytest.raises(DataError, match="empty"):
        check_split(SemanticFolder(root, "train"))
    assert check_split(SemanticFolder(_folder(tmp_path / "d", [ok]), "train")) == (1, 256)
