"""``edgevision data synth`` / ``data info`` through the CLI entry point."""

from __future__ import annotations

import pytest

from edgevision.cli.main import main


def test_synth_and_info(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = [
        "data",
        "synth",
        "--out",
        str(out),
        "--seed",
        "2",
        "--images",
        "3",
        "--videos",
        "1",
        "--frames",
        "3",
        "--size",
        "48x64",
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "instances_train.json" in text
    assert (out / "README.md").is_file()
    assert len((out / "train.txt").read_text().split()) == 3
    assert len((out / "val.txt").read_text().split()) == 1  # default: a quarter, at least 1

    assert main(argv) == 2  # not empty, no --overwrite: one-line error
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--overwrite", "--set", "flow_format=npy"]) == 0
    assert (out / "videos/train/train_vid000/flow/00000.npy").is_file()

    assert main(["data", "info", str(out), "--split", "train"]) == 0
    text = capsys.readouterr().out
    assert "3 images" in text and "background" in text and "tracks" in text


def test_bad_size_is_a_user_error(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "x"), "--size", "big"]) == 2
    assert "--size" in capsys.readouterr().err


def test_info_reads_every_format(synth_dir, coco_to_yolo, cityscapes_dir, tmp_path, capsys):
    import shutil

    # COCO boxes only (the layout of 'data camvid-boxes'): no labels/, no dataset.yaml
    coco = tmp_path / "boxes"
    shutil.copytree(synth_dir / "images", coco / "images")
    shutil.copytree(synth_dir / "annotations", coco / "annotations")
    (coco / "annotations" / "ytvis_train.json").unlink()
    (coco / "annotations" / "ytvis_val.json").unlink()
    assert main(["data", "info", str(coco)]) == 0
    text = capsys.readouterr().out
    assert "COCO boxes" in text and "6 images" in text and "sequences" in text

    yolo = coco_to_yolo(synth_dir, tmp_path / "yolo")
    assert main(["data", "info", str(yolo), "--split", "val"]) == 0
    yolo_text = capsys.readouterr().out
    assert "YOLO boxes" in yolo_text and "2 images" in yolo_text
    # the same objects per class as the COCO source
    assert main(["data", "info", str(coco), "--split", "val"]) == 0
    per_class = capsys.readouterr().out.split("objects: ")[1].splitlines()[0]
    assert yolo_text.split("objects: ")[1].splitlines()[0] == per_class

    cfg = tmp_path / "d.yaml"
    cfg.write_text(f"path: {yolo}\nval: images/val\nnames: {{0: a, 1: b, 2: c, 3: d}}\n")
    assert main(["data", "info", str(cfg), "--split", "val"]) == 0
    assert "YOLO boxes" in capsys.readouterr().out

    assert main(["data", "info", str(cityscapes_dir), "--split", "train"]) == 0
    text = capsys.readouterr().out
    assert "(Cityscapes): 5 images, 19 classes" in text and "aachen 3" in text
    assert "train-aachen" in text and "road" in text  # folds by city, pixels per class

    (tmp_path / "empty").mkdir()
    assert main(["data", "info", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no dataset of a known format" in err and len(err.strip().splitlines()) == 1


def test_train_help_names_every_task_and_format(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("detection", "YOLO-txt", "Cityscapes", "data.yaml", "AP50", "mask AP"):
        assert words in text, words
