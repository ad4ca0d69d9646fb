"""Sequences of a split, split selectors (SPLIT:SEQ, SPLIT-SEQ) and leave-one-sequence-out
folds, on tiny folders with CamVid-like names; the real CamVid counts under the data marker."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.data.coco import coco_layout, coco_selection, select_coco
from edgevision.data.semantic import SemanticFolder
from edgevision.data.sequences import (
    NO_SEQUENCE,
    SplitSelector,
    parse_split,
    sequence_counts,
    sequence_folds,
    sequence_of,
    split_names,
    split_sequences,
)
from edgevision.errors import ConfigError, DataError, EdgeVisionError

# a CamVid-like train split: three sequences, frames interleaved in name order
TRAIN = [
    "0001TP_006690",
    "0001TP_006720",
    "0006R0_f00930",
    "0006R0_f00960",
    "0006R0_f00990",
    "0016E5_00390",
    "0016E5_00420",
    "0016E5_07920",
    "0016E5_08190",
]
VAL = ["0016E5_07959", "0016E5_07961"]


def _folder(root: Path, splits: dict[str, list[str]], *, list_files: bool = True) -> Path:
    """images/SPLIT/NAME.png + labels/SPLIT/NAME.png (+ SPLIT.txt), classes x, y."""
    rng = np.random.default_rng(0)
    for split, names in splits.items():
        for sub in ("images", "labels"):
            (root / sub / split).mkdir(parents=True, exist_ok=True)
        for n in names:
            cv2.imwrite(str(root / "images" / split / f"{n}.png"), rng.integers(0, 255, (4, 6, 3)))
            cv2.imwrite(str(root / "labels" / split / f"{n}.png"), rng.integers(0, 2, (4, 6)))
        if list_files:
            (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    (root / "dataset.yaml").write_text("classes: [x, y]\nignore_index: 255\n")
    return root


@pytest.fixture
def camvidlike(tmp_path: Path) -> Path:
    return _folder(tmp_path / "cv", {"train": TRAIN, "val": VAL})


def test_sequence_of_is_the_prefix_before_the_first_underscore():
    assert sequence_of("0016E5_07959") == "0016E5"
    assert sequence_of("0006R0_f00930") == "0006R0"
    assert sequence_of("0001TP_006690.png") == "0001TP"
    assert sequence_of("images/val/0016E5_07959.jpg") == "0016E5"
    assert sequence_of("aachen_000000_000019") == "aachen"
    assert sequence_of("frame0001") == NO_SEQUENCE
    assert sequence_of("_x") == NO_SEQUENCE


def test_sequence_counts_sorted_by_sequence():
    assert sequence_counts(list(reversed(TRAIN))) == {"0001TP": 2, "0006R0": 3, "0016E5": 4}
    assert list(sequence_counts(["b_1", "a_1", "x"])) == [NO_SEQUENCE, "a", "b"]


@pytest.mark.parametrize(
    "text, want",
    [
        ("train", SplitSelector("train")),
        ("train:0006R0", SplitSelector("train", only=("0006R0",))),
        ("train:0001TP+0016E5", SplitSelector("train", only=("0001TP", "0016E5"))),
        ("train-0006R0", SplitSelector("train", without=("0006R0",))),
        ("train-0006R0+0001TP", SplitSelector("train", without=("0006R0", "0001TP"))),
    ],
)
def test_parse_split_round_trips(text, want):
    sel = parse_split(text)
    assert sel == want and str(sel) == text
    assert sel.filters == (text != "train")


@pytest.mark.parametrize(
    "text", ["", ":0006R0", "train:", "train-", "train:00 06", "train:a+", "train:a+a", "tr/ain"]
)
def test_parse_split_rejects_malformed_selectors_in_one_line(text):
    with pytest.raises(ConfigError, match="split") as e:
        parse_split(text)
    assert "\n" not in str(e.value)


def test_select_keeps_or_drops_whole_sequences():
    assert parse_split("train:0006R0").select(TRAIN) == TRAIN[2:5]
    assert parse_split("train-0006R0").select(TRAIN) == TRAIN[:2] + TRAIN[5:]
    assert parse_split("train:0001TP+0016E5").select(TRAIN) == TRAIN[:2] + TRAIN[5:]
    assert parse_split("train").select(["x", "y"]) == ["x", "y"]  # plain: no prefix needed


def test_select_errors_are_one_line_and_name_the_sequences():
    with pytest.raises(DataError, match=r"no sequence '0099XX' in split 'train' \(its sequences: "
                       r"0001TP 2, 0006R0 3, 0016E5 4\)"):  # fmt: skip
        parse_split("train:0099XX").select(TRAIN, "DIR")
    with pytest.raises(DataError, match="leaves no images"):
        parse_split("train-0001TP+0006R0+0016E5").select(TRAIN)
    with pytest.raises(DataError, match="'frame1' of split 'train' has no SEQUENCE_ prefix"):
        parse_split("train-0006R0").select(["frame1", *TRAIN])


def test_semantic_folder_reads_selectors(camvidlike):
    full = SemanticFolder(camvidlike, "train")
    assert full.sequences == {"0001TP": 2, "0006R0": 3, "0016E5": 4}
    only = SemanticFolder(camvidlike, "train:0006R0")
    assert only.names == TRAIN[2:5] and only.split == "train:0006R0"
    assert only.sequences == {"0006R0": 3}
    without = SemanticFolder(camvidlike, "train-0006R0")
    assert without.names == TRAIN[:2] + TRAIN[5:]
    assert set(only.names).isdisjoint(without.names)
    assert len(only[0].image) == 4  # samples read from the base split's folders
    assert SemanticFolder(camvidlike, "val").sequences == {"0016E5": 2}


def test_semantic_folder_selector_without_a_split_file(tmp_path):
    root = _folder(tmp_path / "nolist", {"train": TRAIN}, list_files=False)
    assert SemanticFolder(root, "train:0001TP").names == TRAIN[:2]


def test_semantic_folder_selector_errors(camvidlike):
    with pytest.raises(DataError, match="no sequence '0016E6'"):
        SemanticFolder(camvidlike, "train:0016E6")
    with pytest.raises(DataError, match="split 'test' not found"):
        SemanticFolder(camvidlike, "test:0016E5")
    with pytest.raises(ConfigError, match="bad split"):
        SemanticFolder(camvidlike, "train:")
    with pytest.raises(EdgeVisionError):
        SemanticFolder(camvidlike, "val-0016E5")  # nothing left


def test_a_literal_split_of_that_name_wins(camvidlike):
    """A folder images/train-0006R0 (e.g. made by camvid-boxes --splits train-0006R0) is
    read as it is."""
    _folder(camvidlike, {"train-0006R0": TRAIN[:1]})
    assert SemanticFolder(camvidlike, "train-0006R0").names == TRAIN[:1]


def test_split_names_and_sequences(camvidlike):
    assert split_names(camvidlike, "train:0016E5") == TRAIN[5:]
    assert split_sequences(camvidlike, "train-0016E5") == {"0001TP": 2, "0006R0": 3}
    with pytest.raises(DataError, match="split 'nope' not found"):
        split_sequences(camvidlike, "nope")


def test_leave_one_sequence_out_folds(camvidlike):
    folds = list(sequence_folds(split_sequences(camvidlike, "train"), "train"))
    assert [f.held_out for f in folds] == ["0001TP", "0006R0", "0016E5"]
    f = folds[1]
    assert (f.train_split, f.val_split) == ("train-0006R0", "train:0006R0")
    assert (f.train_images, f.val_images) == (6, 3)
    for f in folds:  # the selectors read back as disjoint folders covering the split
        tr = SemanticFolder(camvidlike, f.train_split).names
        va = SemanticFolder(camvidlike, f.val_split).names
        assert set(tr).isdisjoint(va) and sorted(tr + va) == sorted(TRAIN)
        assert (len(tr), len(va)) == (f.train_images, f.val_images)


def test_folds_need_two_sequences_and_a_plain_split():
    with pytest.raises(DataError, match="a fold needs at least two"):
        list(sequence_folds({"0016E5": 101}, "val"))
    with pytest.raises(ConfigError, match="plain split"):
        list(sequence_folds({"a": 1, "b": 1}, "train-a"))
    with pytest.raises(DataError, match="without a SEQUENCE_ prefix"):
        list(sequence_folds({"": 3, "a": 1}, "train"))


def _coco(root: Path, names: list[str]) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train").mkdir(parents=True)
    data = {
        "images": [
            {"id": i + 1, "file_name": f"{n}.jpg", "height": 4, "width": 6}
            for i, n in enumerate(names)
        ],
        "annotations": [
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [0, 0, 2, 2]}
            for i in range(len(names))
        ],
        "categories": [{"id": 1, "name": "Car"}],
    }
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    return root


def test_coco_selection_filters_images_and_annotations(tmp_path):
    root = _coco(tmp_path / "boxes", TRAIN)
    ann, img, sel = coco_selection(root, "train:0006R0")
    assert ann.name == "instances_train.json" and img == root / "images" / "train"
    data = select_coco(json.loads(ann.read_text()), sel, str(ann))
    assert [im["file_name"] for im in data["images"]] == [f"{n}.jpg" for n in TRAIN[2:5]]
    assert sorted(a["image_id"] for a in data["annotations"]) == [3, 4, 5]
    with pytest.raises(DataError, match="no sequence 'X1'"):
        select_coco(json.loads(ann.read_text()), parse_split("train-X1"), str(ann))
    # whole-split readers refuse a selector instead of silently reading the whole split
    with pytest.raises(DataError, match="sequence selectors are read by"):
        coco_layout(root, "train-0006R0")
    assert coco_layout(root, "train")[0] == ann


def test_detection_training_split_holds_sequences_out(tmp_path):
    pytest.importorskip("torch")
    from edgevision.train.detection import load_split

    root = _coco(tmp_path / "boxes", TRAIN)
    for n in TRAIN:
        cv2.imwrite(str(root / "images" / "train" / f"{n}.jpg"), np.zeros((4, 6, 3), np.uint8))
    held = load_split(root, "train-0016E5")
    assert [p.stem for p in held.files] == TRAIN[:5] and held.image_ids == [1, 2, 3, 4, 5]
    assert len(load_split(root, "train:0016E5")) == 4


@pytest.mark.data
def test_real_camvid_sequences(camvid_dir):
    """The counts of ../shared/data/camvid/README.md."""
    assert split_sequences(camvid_dir, "train") == {"0001TP": 62, "0006R0": 101, "0016E5": 204}
    assert split_sequences(camvid_dir, "val") == {"0016E5": 101}
    folds = {f.held_out: f for f in sequence_folds(split_sequences(camvid_dir, "train"))}
    assert (folds["0006R0"].train_images, folds["0006R0"].val_images) == (266, 101)
    assert len(SemanticFolder(camvid_dir, "train-0016E5")) == 163


def test_data_info_lists_sequences_and_folds(camvidlike, capsys):
    from edgevision.cli.main import main

    assert main(["data", "info", str(camvidlike), "--split", "train", "--no-pixels"]) == 0
    out = capsys.readouterr().out
    assert "sequences (NAME prefix before '_'): 0001TP 2, 0006R0 3, 0016E5 4" in out
    assert "train-0006R0 6 / train:0006R0 3" in out
    assert main(["data", "info", str(camvidlike), "--split", "train:0099", "--no-pixels"]) == 2
    err = capsys.readouterr().err
    assert "no sequence '0099' in split 'train'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.data
def test_real_camvid_boxes_hold_sequences_out(camvid_dir, tmp_path):
    """The camvid-boxes output keeps CamVid's NAMEs, so detectors are held out by the same
    selectors (about 10 s: boxes of the 367 training images)."""
    pytest.importorskip("torch")
    from edgevision.data.camvid_boxes import derive_camvid_boxes
    from edgevision.train.detection import load_split

    stats = derive_camvid_boxes(camvid_dir, tmp_path / "boxes", splits=("train",))
    want = {"0001TP": 62, "0006R0": 101, "0016E5": 204}
    assert stats["train"]["sequences"] == want
    assert split_sequences(tmp_path / "boxes", "train") == want
    assert (
        "| train | 367 | 0001TP 62, 0006R0 101, 0016E5 204 |"
        in (tmp_path / "boxes" / "README.md").read_text()
    )
    held = load_split(tmp_path / "boxes", "train:0006R0")
    rest = load_split(tmp_path / "boxes", "train-0006R0")
    assert (len(held), len(rest)) == (101, 266)
    assert {sequence_of(p.stem) for p in held.files} == {"0006R0"}


def test_calibration_images_follow_a_selector(camvidlike):
    """Static PTQ / QAT calibration reads split selectors too (train-0006R0 for a model
    whose held-out street is 0006R0)."""
    from edgevision.data.images import list_images

    names = [p.stem for p in list_images(camvidlike, "train-0006R0")]
    assert names == [n for n in TRAIN if not n.startswith("0006R0")]
    assert [p.stem for p in list_images(camvidlike, "train:0006R0")] == TRAIN[2:5]
    assert len(list_images(camvidlike, "train")) == len(TRAIN)
    with pytest.raises(DataError, match="no sequence"):
        list_images(camvidlike, "train:XXXXXX")
