"""``edgevision data synth`` / ``data info`` through the CLI entry point."""

from __future__ import annotations

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
