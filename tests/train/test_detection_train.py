"""Detection training: data checks and augmentation, anchors, overfitting (AP rises),
exact resume, and the ``edgevision train`` / ``eval`` commands for detectors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.errors import ConfigError, DataError  # noqa: E402
from edgevision.train.detection import (  # noqa: E402
    DetTrainConfig,
    DetTrainDataset,
    _paste_class_ids,
    anchor_recall,
    collate,
    fit_anchors,
    load_split,
    train_detection,
)
from edgevision.train.trainer import HookBase  # noqa: E402

TINY = {"neck_channels": 16, "rfcr_channels": 8}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread."""


@pytest.fixture(scope="module")
def synth(synth_images) -> Path:
    return synth_images(seed=3, size=(64, 64), train=8, val=2)


def _cfg(data: Path, out: Path, **kw) -> DetTrainConfig:
    base = dict(
        model="yolo_ret_m075",
        model_kwargs=dict(TINY),
        data=str(data),
        input_size=(64, 64),
        epochs=2,
        batch_size=4,
        device="cpu",
        out=str(out),
        log_every=0,
        warmup_epochs=1,
    )
    base.update(kw)
    return DetTrainConfig(**base)


def _write_coco(root: Path, split: str, images, anns, cats=("a", "b")) -> Path:
    import cv2

    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for im in images:
        cv2.imwrite(
            str(root / "images" / split / im["file_name"]),
            np.full((im["height"], im["width"], 3), 90, np.uint8),
        )
    data = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": i + 1, "name": c} for i, c in enumerate(cats)],
    }
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def test_load_split_clips_and_drops_bad_boxes(tmp_path):
    imgs = [
        {"id": 1, "file_name": "a.png", "height": 40, "width": 50},
        {"id": 2, "file_name": "b.png", "height": 40, "width": 50},
    ]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 30, 20, 20]},  # partly outside
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 5, 0, 10]},  # zero width
        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [60, 5, 10, 10]},  # fully outside
    ]
    s = load_split(_write_coco(tmp_path / "d", "train", imgs, anns), "train")
    assert s.boxes[0].tolist() == [[40, 30, 50, 40]] and s.classes[0].tolist() == [0]
    assert s.dropped == 2 and len(s.boxes[1]) == 0  # image without objects is kept
    bad = [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]}]
    with pytest.raises(DataError, match="unknown category id 7"):
        load_split(_write_coco(tmp_path / "e", "train", imgs, bad), "train")
    neg = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, -5, 5]}]
    with pytest.raises(DataError, match="negative"):
        load_split(_write_coco(tmp_path / "f", "train", imgs, neg), "train")
    _write_coco(tmp_path / "g", "train", [], [])
    with pytest.raises(DataError, match="no images"):
        load_split(tmp_path / "g", "train")
    with pytest.raises(DataError):
        load_split(tmp_path / "missing", "train")


def test_input_size_must_be_divisible_by_32(tmp_path):
    with pytest.raises(ConfigError, match="multiples of the largest stride 32"):
        _cfg(tmp_path, tmp_path / "o", input_size=(60, 64))


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_augmented_samples_keep_valid_boxes_and_are_deterministic(synth, mosaic):
    s = load_split(synth, "train")
    ds = DetTrainDataset(
        s, input_size=(64, 96), mean=(0, 0, 0), std=(255, 255, 255), seed=1, mosaic=mosaic
    )
    total = 0
    for i in range(len(ds)):
        img, t = ds[i]
        assert img.shape == (3, 64, 96) and t.shape[1] == 5
        cx, cy, w, h = t[:, 1], t[:, 2], t[:, 3], t[:, 4]
        assert (w >= 2).all() and (h >= 2).all()
        assert (cx - w / 2 >= -1e-4).all() and (cx + w / 2 <= 96 + 1e-4).all()
        assert (cy - h / 2 >= -1e-4).all() and (cy + h / 2 <= 64 + 1e-4).all()
        total += len(t)
    assert total > 0
    a, b = ds[3], ds[3]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], a[0])
    imgs, tg = collate([ds[0], ds[1]])
    assert (
        imgs.shape == (2, 3, 64, 96) and tg.shape[1] == 6 and set(tg[:, 0].tolist()) <= {0.0, 1.0}
    )


def test_street_photometric_changes_pixels_not_boxes_and_is_deterministic(synth, tmp_path):
    s = load_split(synth, "train")
    kw = dict(input_size=(64, 96), mean=(0, 0, 0), std=(1, 1, 1), seed=2, mosaic=0.0,
              scale_range=(1.0, 1.0), flip=False, jitter=0.0)  # fmt: skip
    off = DetTrainDataset(s, **kw)
    on = DetTrainDataset(s, photometric=1.0, **kw)
    changed = 0
    for i in range(len(off)):
        (a, ta), (b, tb) = off[i], on[i]
        assert torch.equal(ta, tb)  # the boxes do not move
        changed += int(not torch.equal(a, b))
        assert torch.equal(on[i][0], b)  # a function of (seed, epoch, index)
    assert changed > 0
    assert _cfg(synth, tmp_path / "o", photometric=0.5).photometric == 0.5
    with pytest.raises(ConfigError, match="photometric must be in"):
        _cfg(synth, tmp_path / "o", photometric=1.5)


def test_copy_paste_adds_rare_objects_where_they_cover_no_box(tmp_path):
    """One image holds a rare 'b' (a distinct colour); copy-paste puts its crop into samples
    of the other images, on free ground, with its box and class."""
    import cv2

    imgs = [{"id": i, "file_name": f"{i}.png", "height": 64, "width": 64} for i in (1, 2, 3, 4)]
    anns = [
        {"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 20, 20]} for i in (1, 2, 3, 4)
    ] + [{"id": 9, "image_id": 4, "category_id": 2, "bbox": [36, 36, 16, 16]}]
    root = _write_coco(tmp_path / "d", "train", imgs, anns)
    im = np.full((64, 64, 3), 90, np.uint8)
    im[36:52, 36:52] = (250, 20, 20)  # RGB of the rare object
    cv2.imwrite(str(root / "images" / "train" / "4.png"), im[..., ::-1])
    s = load_split(root, "train")
    cfg = _cfg(root, tmp_path / "o")
    assert _paste_class_ids(cfg, s) == [1]  # 'b': 1 box against 4
    with pytest.raises(ConfigError, match="paste_classes c not in"):
        _paste_class_ids(_cfg(root, tmp_path / "o", paste_classes=["c"]), s)
    ds = DetTrainDataset(
        s, input_size=(64, 64), mean=(0, 0, 0), std=(1, 1, 1), seed=0, mosaic=0.0,
        scale_range=(1.0, 1.0), flip=False, jitter=0.0, copy_paste=1.0, paste_classes=[1],
        paste_max=1,
    )  # fmt: skip
    off = DetTrainDataset(
        s, input_size=(64, 64), mean=(0, 0, 0), std=(1, 1, 1), seed=0, mosaic=0.0,
        scale_range=(1.0, 1.0), flip=False, jitter=0.0,
    )  # fmt: skip
    assert len(off[0][1]) == 1
    img, t = ds[0]
    assert t[:, 0].tolist() == [0.0, 1.0]  # its own 'a' and a pasted 'b'
    cx, cy, w, h = t[1, 1:].tolist()
    assert w == pytest.approx(16, abs=1) and h == pytest.approx(16, abs=1)
    a = t[0, 1:].tolist()  # the pasted box does not overlap the image's own box
    assert abs(cx - a[0]) >= (w + a[2]) / 2 or abs(cy - a[1]) >= (h + a[3]) / 2
    centre = img[:, int(cy) - 3 : int(cy) + 3, int(cx) - 3 : int(cx) + 3]
    assert centre[0].mean() > 200 and centre[1].mean() < 60  # the rare object's colour
    with pytest.raises(ConfigError, match="paste_max"):
        _cfg(root, tmp_path / "o", paste_max=0)


def test_fit_anchors_finds_the_box_sizes():
    rng = np.random.default_rng(0)
    sizes = np.array([[8, 8], [20, 40], [60, 30]] * 3, np.float32)[:9]
    wh = np.concatenate([s * rng.uniform(0.95, 1.05, (50, 2)) for s in sizes])
    anchors = fit_anchors(wh, seed=0)
    assert len(anchors) == 3 and all(len(a) == 6 for a in anchors)
    flat = np.asarray(anchors).reshape(-1, 2)
    for s in ([8, 8], [20, 40], [60, 30]):
        assert np.abs(flat - s).max(1).min() < 3
    assert anchor_recall(wh, anchors) == 1.0
    few = fit_anchors(np.array([[10.0, 10.0]]))  # too few boxes: scaled defaults
    assert len(few) == 3 and np.isfinite(np.asarray(few)).all()


def test_tiny_model_overfits_synthetic_images(synth, tmp_path):
    cfg = _cfg(
        synth,
        tmp_path / "run",
        val_split="train",
        epochs=40,
        eval_every=20,
        mosaic=0.0,
        jitter=0.0,
        flip=False,
        scale_range=(1.0, 1.0),
        optimizer="adamw",
        ema=False,
        weight_decay=0.0,
    )
    res = train_detection(cfg, quiet=True, progress=False)
    first, last = res.history[0]["ap50"], res.history[-1]["ap50"]
    assert last > 0.3 and last > first + 0.2, res.history
    assert res.best is not None and res.best.is_file() and res.steps == 80
    from edgevision.checkpoint import load_checkpoint

    spec, _, extra = load_checkpoint(res.best)
    assert spec.task == "detect" and spec.class_names == ["circle", "rectangle", "triangle", "star"]
    assert [list(map(float, a)) for a in spec.model_kwargs["anchors"]] == [
        list(a) for a in res.anchors
    ]
    assert spec.extra["train"]["ap50"] == pytest.approx(res.best_ap50)


class _StopAt(HookBase):
    def __init__(self, step: int) -> None:
        self.step = step

    def before_step(self) -> None:
        if self.trainer.iter == self.step:
            raise KeyboardInterrupt


def test_resume_is_exact(synth, tmp_path):
    kw = dict(epochs=2, batch_size=2, val_split="", ema=True, mosaic=0.5)
    full = train_detection(_cfg(synth, tmp_path / "a", **kw), quiet=True, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_detection(
            _cfg(synth, tmp_path / "b", **kw), hooks=[_StopAt(5)], quiet=True, progress=False
        )
    res = train_detection(
        _cfg(synth, tmp_path / "b", **kw), resume=True, quiet=True, progress=False
    )
    assert res.steps == full.steps == 8
    sa = torch.load(full.last, weights_only=True)["state_dict"]
    sb = torch.load(res.last, weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ConfigError, match="lr"):
        train_detection(_cfg(synth, tmp_path / "b", lr=0.5, **kw), resume=True, quiet=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        train_detection(_cfg(synth, tmp_path / "b", **kw), quiet=True)


def test_resume_with_more_epochs_stretches_the_schedule(synth, tmp_path):
    kw = dict(batch_size=2, val_split="", ema=False, mosaic=0.0)
    first = train_detection(_cfg(synth, tmp_path / "r", epochs=1, **kw), quiet=True)
    assert first.steps == 4
    res = train_detection(_cfg(synth, tmp_path / "r", epochs=2, **kw), resume=True, quiet=True)
    assert res.epochs == 2 and res.steps == 8
    from edgevision.checkpoint import load_checkpoint

    assert load_checkpoint(res.last)[2]["trainer"]["scheduler"]["total_iters"] == 8
    with pytest.raises(ConfigError, match="already done 2 epochs"):
        train_detection(_cfg(synth, tmp_path / "r", epochs=2 - 1, **kw), resume=True, quiet=True)


def test_images_without_objects_train(tmp_path):
    imgs = [{"id": i, "file_name": f"{i}.png", "height": 64, "width": 64} for i in range(1, 5)]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}]
    root = _write_coco(tmp_path / "d", "train", imgs, anns)
    res = train_detection(
        _cfg(root, tmp_path / "o", epochs=1, val_split="", model="yolov5n", model_kwargs={}),
        quiet=True,
        progress=False,
    )
    assert res.steps == 1 and res.last.is_file()


def test_cli_train_and_eval_detector(synth, tmp_path, capsys):
    from edgevision.cli.main import main

    out = tmp_path / "cli"
    rc = main(
        [
            "train",
            "yolo_ret_m075",
            "--data",
            str(synth),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--crop",
            "64x64",
            "--device",
            "cpu",
            "--no-progress",
            "--set",
            "model_kwargs={neck_channels: 16, rfcr_channels: 8}",
            "--set",
            "box_loss=giou",
        ]
    )
    assert rc == 0 and (out / "best.pt").is_file() and (out / "eval.csv").is_file()
    assert "best val AP50" in capsys.readouterr().out
    rc = main(
        [
            "eval",
            str(out / "best.pt"),
            "--data",
            str(synth),
            "--split",
            "val",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert rc == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["task"] == "detect" and "AP50" in rep["metrics"]["bbox"]
    # bad input: one line, exit 2
    rc = main(
        [
            "train",
            "yolo_ret_m075",
            "--data",
            str(synth),
            "--out",
            str(tmp_path / "x"),
            "--crop",
            "60x64",
        ]
    )
    assert rc == 2 and "multiples" in capsys.readouterr().err
    shutil.rmtree(out)


def test_trains_from_yolo_folders_and_dataset_yamls(synth, coco_to_yolo, tmp_path, capsys):
    from edgevision.checkpoint import load_checkpoint
    from edgevision.cli.main import main

    yolo = coco_to_yolo(synth, tmp_path / "yolo")
    names = load_split(synth, "train").class_names
    for data in (yolo, tmp_path / "data.yaml"):
        (tmp_path / "data.yaml").write_text(
            f"path: yolo\ntrain: images/train\nval: images/val\nnames: {names}\n"
        )
        split = load_split(data, "train")
        coco = load_split(synth, "train")
        assert split.class_names == names and len(split) == len(coco) == 8
        assert [len(b) for b in split.boxes] == [len(b) for b in coco.boxes]
        np.testing.assert_allclose(
            np.concatenate(split.boxes), np.concatenate(coco.boxes), atol=0.01
        )
    res = train_detection(
        _cfg(tmp_path / "data.yaml", tmp_path / "run", epochs=1), quiet=True, progress=False
    )
    spec, _, _ = load_checkpoint(res.best)
    assert spec.class_names == names and spec.extra["dataset"].endswith("data.yaml")
    # a detector's metrics.csv has its own validation columns, none of segmentation's
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["kind", "epoch", "iter", "lr", "loss", "ap", "ap50", "elapsed_s"]
    assert rows[-1]["kind"] == "epoch" and float(rows[-1]["ap50"]) == pytest.approx(
        res.best_ap50, abs=1e-4
    )
    # 'edgevision eval' reads the same YAML
    rc = main(["eval", str(res.best), "--data", str(tmp_path / "data.yaml"), "--max-images", "2"])
    assert rc == 0 and "AP50" in capsys.readouterr().out
    rc = main(["eval", str(res.best), "--data", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert rc == 2 and "dataset YAML not found" in err and len(err.strip().splitlines()) == 1
