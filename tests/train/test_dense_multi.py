"""Training parts of depthseg and panoptic: datasets, targets, and a short run of each."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.data.pseudo_instances import PseudoLabelConfig  # noqa: E402
from edgevision.data.semantic import SemanticFolder  # noqa: E402
from edgevision.data.synth import SynthConfig, generate  # noqa: E402
from edgevision.errors import ConfigError  # noqa: E402
from edgevision.train.config import TrainConfig  # noqa: E402
from edgevision.train.dense_multi import (  # noqa: E402
    DepthSegTrainDataset,
    PanopticTrainDataset,
    instance_targets,
)
from edgevision.train.run import train  # noqa: E402
from edgevision.train.seg_data import augment, augment_maps  # noqa: E402

SHAPES = ["circle", "rectangle", "triangle", "star"]
NORM = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "seed": 0}
NO_AUG = {"scale_range": (1.0, 1.0), "flip": False, "jitter": 0.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("dense_multi") / "ds"
    cfg = SynthConfig(seed=5, image_size=(64, 80), train_images=4, val_images=2,
                      train_videos=0, val_videos=0, write_mp4=False, depth=True, panoptic=True)  # fmt: skip
    generate(out, cfg, progress=False)
    return out


def test_augment_maps_moves_extras_with_the_labels_and_draws_as_augment():
    rng_img = np.random.default_rng(0)
    image = rng_img.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    mask = rng_img.integers(0, 4, (20, 30))
    kw = {"crop": (24, 24), "ignore_index": 255, "scale_range": (0.6, 1.6)}
    a_img, a_mask = augment(image, mask, np.random.default_rng(7), **kw)
    b_img, b_mask, (extra,), scale = augment_maps(
        image, mask, np.random.default_rng(7), extras=[mask + 1], **kw
    )
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_mask, b_mask)
    inside = b_mask != 255
    np.testing.assert_array_equal(extra[inside], b_mask[inside] + 1)
    assert (extra[~inside] == 0).all() and 0.6 <= scale <= 1.6


def _scales(log_scale, n=2000, scale_range=(0.5, 2.0)):
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.int64)
    rng = np.random.default_rng(0)
    return np.array([
        augment_maps(image, mask, rng, crop=(8, 8), ignore_index=255, scale_range=scale_range,
                     log_scale=log_scale, flip=False, jitter=0.0)[3]
        for _ in range(n)
    ])  # fmt: skip


def test_log_scale_draws_have_median_one_where_the_plain_draw_has_the_midpoint():
    plain, logd = _scales(False), _scales(True)
    assert logd.min() >= 0.5 and logd.max() <= 2.0
    assert np.median(plain) == pytest.approx(1.25, abs=0.05)  # why depth was biased near
    assert np.median(logd) == pytest.approx(1.0, abs=0.05)
    assert abs(np.log(logd).mean()) < 0.04  # uniform in log space: symmetric about 0


def test_depthseg_draws_its_scale_in_log_space(data, monkeypatch):
    import edgevision.train.dense_multi as dm

    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("log_scale"))
        return augment_maps(*args, **kwargs)

    monkeypatch.setattr(dm, "augment_maps", spy)
    folder = SemanticFolder(data, "train")
    DepthSegTrainDataset(folder, crop=(64, 80), **NORM)[0]
    PanopticTrainDataset(folder, crop=(64, 80), thing_ids=[1, 2, 3, 4],
                         pseudo=PseudoLabelConfig(classes=tuple(SHAPES)), **NORM)[0]  # fmt: skip
    assert seen == [True, False]  # depth divided by the scale; the panoptic task has none


def test_depthseg_targets_carry_exact_depth_and_zero_without_it(data, tmp_path):
    folder = SemanticFolder(data, "train")
    ds = DepthSegTrainDataset(folder, crop=(64, 80), **NORM, **NO_AUG)
    _, target = ds[0]
    assert target.shape == (2, 64, 80)
    np.testing.assert_array_equal(target[0].numpy(), folder[0].mask)
    np.testing.assert_array_equal(target[1].numpy(), np.load(data / "depth/train/train_00000.npy"))
    zoom = DepthSegTrainDataset(folder, crop=(64, 80), **NORM, scale_range=(2.0, 2.0), flip=False)
    d = zoom[0][1][1].numpy()
    assert d[d > 0].max() <= np.load(data / "depth/train/train_00000.npy").max() / 2 + 1e-5
    bare = tmp_path / "bare"
    shutil.copytree(data, bare)
    shutil.rmtree(bare / "depth")
    _, t2 = DepthSegTrainDataset(SemanticFolder(bare, "train"), crop=(64, 80), **NORM, **NO_AUG)[0]
    assert float(t2[1].abs().sum()) == 0.0


def test_instance_targets_of_one_square():
    ids = np.zeros((20, 20), np.int64)
    ids[4:9, 10:15] = 3  # centroid (6, 12)
    ids[0, 0] = -1
    t = instance_targets(ids, sigma=2.0)
    assert t[0].max() == pytest.approx(1.0) and np.unravel_index(t[0].argmax(), (20, 20)) == (6, 12)
    assert (t[1, 4, 10], t[2, 4, 10]) == (2.0, 2.0) and (t[1, 8, 14], t[2, 8, 14]) == (-2.0, -2.0)
    assert t[3].sum() == 25 and t[4, 0, 0] == 0 and t[4].sum() == 399


def test_panoptic_targets_from_truth_and_from_pseudo_instances(data, tmp_path):
    from edgevision.data.synth import SEMANTIC_CLASSES

    folder = SemanticFolder(data, "train")
    kw = {"thing_ids": [1, 2, 3, 4], "pseudo": PseudoLabelConfig(classes=tuple(SHAPES))}
    _, target = PanopticTrainDataset(folder, crop=(64, 80), **kw, **NORM, **NO_AUG)[0]
    assert target.shape == (6, 64, 80) and list(folder.class_names) == list(SEMANTIC_CLASSES)
    label = folder[0].mask
    things = label > 0
    np.testing.assert_array_equal(target[4].numpy() > 0, things)  # offsets on every object pixel
    assert float(target[1].max()) == pytest.approx(1.0, abs=0.02)
    bare = tmp_path / "bare"
    shutil.copytree(data, bare)
    shutil.rmtree(bare / "panoptic")
    _, t2 = PanopticTrainDataset(
        SemanticFolder(bare, "train"), crop=(64, 80), **kw, **NORM, **NO_AUG
    )[0]
    # pseudo-instances: object pixels minus the uncertain bands, and no centre truth there
    assert 0 < float(t2[4].sum()) <= float(target[4].sum())
    assert float(t2[5].sum()) < 64 * 80


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("fastdepthseg_mobilenetv2", {"width_mult": 0.35, "head_channels": 8}),
        ("efficientps_mobilenetv2",
         {"width_mult": 0.35, "fpn_channels": 16, "head_channels": 16, "thing_classes": SHAPES}),
    ],
)  # fmt: skip
def test_a_short_run_trains_and_scores(model, kwargs, data, tmp_path):
    cfg = TrainConfig(model=model, model_kwargs=kwargs, data=str(data), val_split="val",
                      epochs=2, batch_size=2, crop=(64, 80), lr=0.01, seed=0, device="cpu",
                      out=str(tmp_path / "run"))  # fmt: skip
    res = train(cfg, progress=False, quiet=True)
    assert (tmp_path / "run" / "best.pt").is_file()
    assert 0 <= res.best_metric <= 1


@pytest.mark.parametrize("task", ["depthseg", "panoptic"])
def test_class_balanced_reaches_the_dense_losses(task, data, tmp_path):
    from edgevision.losses.class_balanced import class_balanced_weights
    from edgevision.train.dense_multi import build_depthseg_parts, build_panoptic_parts

    model, build = {
        "depthseg": ("fastdepthseg_mobilenetv2", build_depthseg_parts),
        "panoptic": ("efficientps_mobilenetv2", build_panoptic_parts),
    }[task]
    kwargs = {"width_mult": 0.35} | ({"thing_classes": SHAPES} if task == "panoptic" else {})
    parts = {}
    for balanced in (False, True):
        cfg = TrainConfig(model=model, model_kwargs=kwargs, data=str(data), val_split="",
                          epochs=1, batch_size=2, crop=(64, 80), class_balanced=balanced,
                          device="cpu", out=str(tmp_path / "run"))  # fmt: skip
        parts[balanced] = build(cfg, known_spec=None, rank=0, world_size=1, progress=False,
                                quiet=True)  # fmt: skip
    assert parts[False].criterion.class_weights is None
    got = parts[True].criterion.class_weights
    want = class_balanced_weights(SemanticFolder(data, "train"))
    assert got is not None and got.numpy() == pytest.approx(want, rel=1e-6)
    assert float(got.max()) > float(got.min())  # the classes are not equally frequent


def test_panoptic_needs_thing_classes_of_the_dataset(data, tmp_path):
    cfg = TrainConfig(model="efficientps_mobilenetv2", model_kwargs={"width_mult": 0.35},
                      data=str(data), epochs=1, crop=(64, 80), out=str(tmp_path / "run"))  # fmt: skip
    with pytest.raises(ConfigError, match="thing_classes .* must be classes of the dataset"):
        train(cfg, progress=False, quiet=True)
