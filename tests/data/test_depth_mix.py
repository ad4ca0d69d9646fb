"""``data depth-mix``: a class folder and a depth folder as one depthseg training folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgevision.cli.main import main
from edgevision.data.depth_mix import MixSplit, mix_depth_folder, parse_mix_split
from edgevision.data.semantic import SemanticFolder
from edgevision.data.synth import generate
from edgevision.errors import ConfigError, DataError, OutputError
from edgevision.io import read_image

from .test_sequences import TRAIN, VAL, _folder


@pytest.fixture(scope="module")
def depth_dir(tmp_path_factory: pytest.TempPathFactory, tiny_config) -> Path:
    out = tmp_path_factory.mktemp("depth") / "ds"
    generate(out, tiny_config(depth=True, train_videos=0, val_videos=0), progress=False)
    return out


@pytest.fixture
def seg_dir(tmp_path: Path) -> Path:
    return _folder(tmp_path / "cv", {"train": TRAIN, "val": VAL})


SPLITS = {
    "train": MixSplit(seg="train-0006R0", depth="train"),
    "val": MixSplit(seg="train:0006R0", depth="val", max_depth=1),
}


def test_mixed_folder_has_both_sources_and_blank_labels(seg_dir, depth_dir, tmp_path):
    out = tmp_path / "mix"
    stats = mix_depth_folder(seg_dir, depth_dir, out, splits=SPLITS)
    assert stats == {
        "train": {"seg_images": 6, "depth_images": 6},
        "val": {"seg_images": 3, "depth_images": 1},
    }
    train = SemanticFolder(out, "train")
    assert train.class_names == ["x", "y"] and train.ignore_index == 255
    assert train.sequences == {"0001TP": 2, "0016E5": 4, "synth3": 6}
    # the class images are the source's own files, the depth images carry blank labels
    i = train.names.index("0001TP_006690")
    assert train.image_paths[i].resolve() == (seg_dir / "images/train/0001TP_006690.png")
    j = train.names.index("synth3_train_00000")
    assert (train[j].mask == 255).all()
    assert train[j].mask.shape == read_image(train.image_paths[j]).shape[:2]
    dep = np.load(out / "depth/train/synth3_train_00000.npy")
    assert np.array_equal(dep, np.load(depth_dir / "depth/train/train_00000.npy"))
    assert not (out / "depth/train/0001TP_006690.npy").exists()
    # selectors score either part alone
    assert SemanticFolder(out, "val:synth3").names == ["synth3_val_00000"]
    assert SemanticFolder(out, "val-synth3").sequences == {"0006R0": 3}
    readme = (out / "README.md").read_text()
    assert "`train-0006R0` (6)" in readme


def test_depthseg_dataset_reads_depth_only_where_it_exists(seg_dir, depth_dir, tmp_path):
    from edgevision.train.dense_multi import DepthSegTrainDataset

    out = tmp_path / "mix"
    mix_depth_folder(seg_dir, depth_dir, out, splits=SPLITS)
    folder = SemanticFolder(out, "train")
    ds = DepthSegTrainDataset(
        folder, crop=(32, 32), mean=(0.0,) * 3, std=(1.0,) * 3, color_order="RGB", seed=0,
        scale_range=(1.0, 1.0), flip=False, jitter=0.0,
    )  # fmt: skip
    _, t_synth = ds[folder.names.index("synth3_train_00001")]
    _, t_seg = ds[folder.names.index("0016E5_00390")]
    assert (t_synth[1] > 0).any() and (t_synth[0] == 255).all()
    assert (t_seg[1] == 0).all() and (t_seg[0] != 255).any()


def test_bad_inputs_write_nothing(seg_dir, depth_dir, tmp_path, monkeypatch):
    out = tmp_path / "mix"
    with pytest.raises(DataError, match="no split 'test'"):
        mix_depth_folder(seg_dir, depth_dir, out, splits={"t": MixSplit("train", "test")})
    with pytest.raises(DataError, match="no sequence .XXXXXX."):
        mix_depth_folder(seg_dir, depth_dir, out, splits={"t": MixSplit("train:XXXXXX", "")})
    with pytest.raises(DataError, match="classes are unknown"):
        mix_depth_folder(seg_dir, depth_dir, out, splits={"t": MixSplit("", "train")})
    (depth_dir / "depth/val/val_00001.npy").rename(tmp_path / "moved.npy")
    try:
        with pytest.raises(DataError, match="no depth map"):
            mix_depth_folder(seg_dir, depth_dir, out, splits={"t": MixSplit("val", "val")})
    finally:
        (tmp_path / "moved.npy").rename(depth_dir / "depth/val/val_00001.npy")
    assert not out.exists() and not list(tmp_path.glob(".mix.*"))
    # a failure while writing removes the half-written folder
    import edgevision.io

    calls = []

    def failing_link(src, dst, *, copy):
        calls.append(dst)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real_link(src, dst, copy=copy)

    real_link = edgevision.io.link_or_copy
    monkeypatch.setattr(edgevision.io, "link_or_copy", failing_link)
    with pytest.raises(OutputError, match="No space left"):
        mix_depth_folder(seg_dir, depth_dir, out, splits=SPLITS)
    assert len(calls) == 5 and not out.exists() and not list(tmp_path.glob(".mix.*"))
    monkeypatch.undo()
    out.mkdir()
    with pytest.raises(OutputError, match="exists"):
        mix_depth_folder(seg_dir, depth_dir, out, splits=SPLITS)


def test_parse_split():
    assert parse_mix_split("train=train-0006R0,train") == (
        "train",
        MixSplit("train-0006R0", "train"),
    )
    assert parse_mix_split("val=train:0006R0,,") == ("val", MixSplit("train:0006R0", ""))
    assert parse_mix_split("d=,val,5") == ("d", MixSplit("", "val", 5))
    for bad in ("train", "=a,b", "t=a", "t=,", "t=a,b,x", "t=a,b,-1", "../x=a,b", "a:b=a,b"):
        with pytest.raises(ConfigError):
            parse_mix_split(bad)


def test_cli(seg_dir, depth_dir, tmp_path, capsys):
    out = tmp_path / "mix"
    argv = ["data", "depth-mix", str(seg_dir), str(depth_dir), "--out", str(out)]
    assert main([*argv, "--split", "train=train,train"]) == 0
    assert "train: 9 class images, 6 depth images" in capsys.readouterr().out
    assert main([*argv, "--split", "train=train,train"]) == 2  # exists: one line
    err = capsys.readouterr().err
    assert "exists" in err and len(err.strip().splitlines()) == 1
    assert main([*argv[:-1], str(tmp_path / "m2"), "--split", "oops"]) == 2
    assert "OUT=SEG_SELECTOR" in capsys.readouterr().err
    twice = ["--split", "t=train,train", "--split", "t=val,val"]
    assert main([*argv[:-1], str(tmp_path / "m3"), *twice]) == 2
    assert "given once" in capsys.readouterr().err and not (tmp_path / "m3").exists()
    # the folder gets the usual mode, not mkdtemp's 0700
    assert (out.stat().st_mode & 0o777) == 0o777 & ~_umask()


def _umask() -> int:
    import os

    m = os.umask(0)
    os.umask(m)
    return m
