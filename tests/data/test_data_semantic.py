"""SemanticFolder, CityscapesFolder, class_pixel_counts and their errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.data.semantic import (
    CAMVID_CLASSES,
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELID_TO_TRAINID,
    PRESETS,
    CityscapesFolder,
    SemanticFolder,
    class_pixel_counts,
    labelids_to_trainids,
)
from edgevision.data.synth import SEMANTIC_CLASSES
from edgevision.errors import DataError


def _tiny_folder(root: Path, names=("a", "b"), size=(6, 8), classes=("x", "y", "z")) -> Path:
    """A hand-made folder: images/train/NAME.png, labels/train/NAME.png, no split file."""
    rng = np.random.default_rng(0)
    for sub in ("images/train", "labels/train"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for n in names:
        cv2.imwrite(
            str(root / "images/train" / f"{n}.png"),
            rng.integers(0, 255, (*size, 3), dtype=np.uint8),
        )
        cv2.imwrite(
            str(root / "labels/train" / f"{n}.png"),
            rng.integers(0, len(classes), size, dtype=np.uint8),
        )
    (root / "dataset.yaml").write_text(
        "name: tiny\nclasses: [" + ", ".join(classes) + "]\nignore_index: 255\n"
    )
    return root


def test_reads_synth_split(synth_dir):
    ds = SemanticFolder(synth_dir, "train")
    assert len(ds) == 6
    assert ds.class_names == list(SEMANTIC_CLASSES) and ds.ignore_index == 255
    assert ds.names == (synth_dir / "train.txt").read_text().split()
    s = ds[0]
    assert s.image.shape == (64, 80, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == (64, 80) and s.mask.dtype == np.int64
    assert s.name == ds.names[0]
    assert len(list(ds)) == 6
    with pytest.raises(IndexError):
        ds[6]


def test_class_pixel_counts(synth_dir):
    ds = SemanticFolder(synth_dir, "val")
    counts = class_pixel_counts(ds)
    assert counts.shape == (5,) and counts.dtype == np.int64
    assert counts.sum() == len(ds) * 64 * 80
    manual = sum(np.bincount(s.mask.ravel(), minlength=5) for s in ds)
    assert np.array_equal(counts, manual)


def test_without_split_file_uses_sorted_images(tmp_path):
    root = _tiny_folder(tmp_path / "d", names=("b", "a", "c"))
    ds = SemanticFolder(root, "train")
    assert ds.names == ["a", "b", "c"]
    assert ds.class_names == ["x", "y", "z"]


def test_explicit_args_override_yaml(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    ds = SemanticFolder(root, "train", class_names=["p", "q", "r", "s"], ignore_index=9)
    assert ds.class_names == ["p", "q", "r", "s"] and ds.ignore_index == 9


def test_camvid_preset_by_folder_name(tmp_path):
    root = _tiny_folder(tmp_path / "CamVid")
    (root / "dataset.yaml").unlink()
    ds = SemanticFolder(root, "train")
    assert ds.class_names == list(CAMVID_CLASSES) and ds.ignore_index == 11
    assert PRESETS["camvid"]["ignore_index"] == 11 and len(CAMVID_CLASSES) == 11


def test_no_class_names_is_an_error(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    (root / "dataset.yaml").unlink()
    with pytest.raises(DataError, match="no class names"):
        SemanticFolder(root, "train")


def test_missing_root_and_split(tmp_path):
    with pytest.raises(DataError, match="not found"):
        SemanticFolder(tmp_path / "nope", "train")
    root = _tiny_folder(tmp_path / "d")
    with pytest.raises(DataError, match=r"split 'test' not found.*test\.txt"):
        SemanticFolder(root, "test")


def test_image_without_label(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    (root / "labels/train/b.png").unlink()
    with pytest.raises(DataError, match=r"no label file .*b\.png"):
        SemanticFolder(root, "train")
    ds = SemanticFolder(root, "train", validate=False)  # found when read instead
    with pytest.raises(DataError, match=r"b\.png"):
        ds[1]


def test_split_file_names_missing_image(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    (root / "train.txt").write_text("a\nghost\n")
    with pytest.raises(DataError, match="ghost"):
        SemanticFolder(root, "train")


def test_corrupt_image(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    (root / "images/train/a.png").write_bytes(b"not a png at all")
    ds = SemanticFolder(root, "train")
    with pytest.raises(DataError, match=r"corrupt.*images/train/a\.png"):
        ds[0]


def test_mask_size_mismatch(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    cv2.imwrite(str(root / "labels/train/a.png"), np.zeros((5, 8), np.uint8))
    with pytest.raises(DataError, match=r"label size 8x5.*image size 8x6.*labels/train/a\.png"):
        SemanticFolder(root, "train")[0]


def test_mask_value_out_of_range(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    m = np.zeros((6, 8), np.uint8)
    m[0, 0], m[1, 1], m[2, 2] = 7, 255, 2
    cv2.imwrite(str(root / "labels/train/b.png"), m)
    ds = SemanticFolder(root, "train")
    with pytest.raises(DataError, match=r"label values 7 not in \[0, 3\).*b\.png"):
        ds[1]
    with pytest.raises(DataError, match="label values 7"):
        class_pixel_counts(ds)


def test_mask_must_be_single_channel(tmp_path):
    root = _tiny_folder(tmp_path / "d")
    cv2.imwrite(str(root / "labels/train/a.png"), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"single-channel.*a\.png"):
        SemanticFolder(root, "train")[0]


# ---------------------------------------------------------------------------- Cityscapes
def test_cityscapes_table_is_the_standard_one():
    assert len(CITYSCAPES_LABELID_TO_TRAINID) == 34
    train = {k: v for k, v in CITYSCAPES_LABELID_TO_TRAINID.items() if v != 255}
    assert sorted(train.values()) == list(range(19))
    assert train[7] == 0 and train[26] == 13 and train[33] == 18 and train[23] == 10
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = labelids_to_trainids(ids)
    assert out.dtype == np.uint8
    expected = np.array([CITYSCAPES_LABELID_TO_TRAINID.get(i, 255) for i in range(256)])
    assert np.array_equal(out.ravel(), expected)
    assert labelids_to_trainids(np.array([[-1, 7, 300]]))[0].tolist() == [255, 0, 255]


def test_cityscapes_folder(tmp_path):
    root = tmp_path / "cityscapes"
    for split, city, stem in (
        ("val", "lindau", "lindau_000000_000019"),
        ("val", "munster", "munster_000001_000019"),
    ):
        img_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img_dir / f"{stem}_leftImg8bit.png"), np.zeros((4, 6, 3), np.uint8))
        lab = np.array([[7, 8, 26, 0, 24, 33]] * 4, np.uint8)
        cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelIds.png"), lab)
    ds = CityscapesFolder(root, "val")
    assert len(ds) == 2 and ds.names[0] == "lindau_000000_000019"
    assert len(ds.class_names) == 19 and ds.ignore_index == 255
    assert ds[0].mask[0].tolist() == [0, 1, 13, 255, 11, 18]
    assert class_pixel_counts(ds)[13] == 8
    (root / "gtFine/val/munster/munster_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match=r"munster_000001_000019_gtFine_labelIds\.png"):
        CityscapesFolder(root, "val")


# ---------------------------------------------------------------------------- CamVid (real)
@pytest.mark.data
def test_camvid_reads_real_samples(camvid_dir):
    ds = SemanticFolder(camvid_dir, "val")
    assert len(ds) == 101
    assert ds.class_names == list(CAMVID_CLASSES) and ds.ignore_index == 11
    for i in (0, len(ds) - 1):
        s = ds[i]
        assert s.image.shape == (360, 480, 3) and s.mask.shape == (360, 480)
        assert s.mask.max() <= 11
    assert len(SemanticFolder(camvid_dir, "train")) == 367


def test_copy_of_synth_with_broken_label(tmp_path, synth_dir):
    """Errors name the file also on a real generated dataset."""
    root = tmp_path / "copy"
    shutil.copytree(synth_dir, root)
    name = (root / "val.txt").read_text().split()[0]
    cv2.imwrite(str(root / "labels/val" / f"{name}.png"), np.full((64, 80), 9, np.uint8))
    with pytest.raises(DataError, match=rf"{name}\.png"):
        SemanticFolder(root, "val")[0]


def test_open_semantic_reads_cityscapes_with_city_selectors(cityscapes_dir, synth_dir):
    from edgevision.data.semantic import dataset_classes, is_cityscapes, open_semantic

    assert is_cityscapes(cityscapes_dir) and not is_cityscapes(synth_dir)
    assert isinstance(open_semantic(synth_dir, "train"), SemanticFolder)
    ds = open_semantic(cityscapes_dir, "train")
    assert isinstance(ds, CityscapesFolder) and len(ds) == 5
    assert ds.sequences == {"aachen": 3, "bochum": 2}
    assert dataset_classes(cityscapes_dir) == (list(CITYSCAPES_CLASSES), 255)
    only = open_semantic(cityscapes_dir, "train:bochum")
    assert only.names == ["bochum_000000_000019", "bochum_000001_000019"]
    assert len(open_semantic(cityscapes_dir, "train-bochum")) == 3
    m = only[0].mask
    assert set(np.unique(m).tolist()) <= {0, 1, 2, 10, 13, 255} and (m == 0).any()
    # the caller's classes must be Cityscapes' own: the labels are mapped to them
    open_semantic(cityscapes_dir, "val", class_names=CITYSCAPES_CLASSES, ignore_index=255)
    with pytest.raises(DataError, match="is a Cityscapes folder: its classes are the 19"):
        open_semantic(cityscapes_dir, "val", class_names=["a", "b"])
    with pytest.raises(DataError, match="image folder of split 'test'"):
        open_semantic(cityscapes_dir, "test")
