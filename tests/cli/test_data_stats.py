"""``edgevision data stats``: class counts and class-balanced weights through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevision.cli.main import main
from edgevision.io import write_image


def _fake_dataset(root):
    """classes a, b, c (c absent), ignore 9; train: 2 images of 6x8."""
    (root).mkdir()
    (root / "dataset.yaml").write_text("classes: [a, b, c]\nignore_index: 9\n")
    masks = {"x0": np.zeros((6, 8), np.uint8), "x1": np.zeros((6, 8), np.uint8)}
    masks["x0"][:2] = 1  # 16 px of b
    masks["x1"][0, :4] = 9  # 4 ignored
    for name, m in masks.items():
        write_image(root / "images" / "train" / f"{name}.png", np.zeros((6, 8, 3), np.uint8))
        write_image(root / "labels" / "train" / f"{name}.png", m)
    return root


def test_stats_table_json_and_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEVISION_CACHE", raising=False)  # it comes first
    root = _fake_dataset(tmp_path / "ds")
    out = tmp_path / "stats.json"
    argv = ["data", "stats", str(root), "--unit", "pixels", "--beta", "1", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2 images, 3 classes" in text and "counted, cached in" in text
    assert str(tmp_path / "xdg" / "edgevision") in text
    for s in ("76", "16", "2 / 2", "1 / 2", "0 / 2", "unit=pixels", "no pixels of c"):
        assert s in text, s
    data = json.loads(out.read_text())
    assert [r["pixels"] for r in data["classes"]] == [76, 16, 0]
    assert [r["images"] for r in data["classes"]] == [2, 1, 0]
    assert data["ignored_pixels"] == 4 and data["unit"] == "pixels" and data["beta"] == 1.0
    np.testing.assert_allclose(data["weights"], [2 * 16 / 92, 2 * 76 / 92, 0])

    assert main(["data", "stats", str(root), "--unit", "images"]) == 0
    text = capsys.readouterr().out
    assert "read from cache" in text and "beta=0.9999" in text
    assert not (root / ".edgevision_cache").exists()


def test_stats_user_errors(tmp_path, capsys):
    root = _fake_dataset(tmp_path / "ds")
    assert main(["data", "stats", str(root), "--beta", "1.5", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "--beta" in err and len(err.strip().splitlines()) == 1
    assert main(["data", "stats", str(root), "--split", "nope", "--no-cache"]) == 2
    assert "nope" in capsys.readouterr().err


def test_stats_note_when_beta_saturates(tmp_path, capsys):
    root = _fake_dataset(tmp_path / "ds")
    assert main(["data", "stats", str(root), "--beta", "0.5", "--no-cache"]) == 0
    assert "~uniform" in capsys.readouterr().out


@pytest.mark.data
def test_stats_on_camvid(camvid_dir, tmp_path, capsys):
    out = tmp_path / "camvid.json"
    argv = ["data", "stats", str(camvid_dir), "--split", "train", "--json", str(out)]
    assert main([*argv, "--cache-dir", str(tmp_path / "c")]) == 0
    assert "Bicyclist" in capsys.readouterr().out
    data = json.loads(out.read_text())
    pixels = {r["name"]: r["pixels"] for r in data["classes"]}
    assert data["num_images"] == 367 and len(pixels) == 11
    assert round(pixels["Road"] / 1e6, 1) == 20.1  # README: Road 20.1M
    assert round(pixels["Bicyclist"] / 1e6, 2) == 0.18  # README: Bicyclist 0.18M
    assert round(data["ignored_pixels"] / 1e6, 1) == 2.5  # README: void 2.5M
    w = {r["name"]: r["weight"] for r in data["classes"]}
    assert sum(w.values()) == pytest.approx(11) and w["Bicyclist"] > w["Pole"] > w["Road"]


def test_stats_on_cityscapes_counts_trainids(cityscapes_dir, tmp_path, capsys):
    out = tmp_path / "s.json"
    argv = [
        "data",
        "stats",
        str(cityscapes_dir),
        "--split",
        "val",
        "--no-cache",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    d = json.loads(out.read_text())
    assert d["num_images"] == 2 and len(d["classes"]) == 19 and d["ignore_index"] == 255
    pixels = {c["name"]: c["pixels"] for c in d["classes"]}
    # the tiny labels hold labelIds 7, 8, 11, 23, 26 -> road, sidewalk, building, sky, car
    assert {n for n, p in pixels.items() if p} == {"road", "sidewalk", "building", "sky", "car"}
    assert pixels["road"] >= 2 * 16 * 24  # the road block of each image
