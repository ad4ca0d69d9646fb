"""Shipped weights by name: the committed index matches the cards and files; a name resolves
to its checkpoint everywhere a model is taken; missing or changed files are one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgevision.errors import ModelFileError, ModelNotFoundError
from edgevision.io import file_sha256
from edgevision.weights import (
    INDEX_NAME,
    build_index,
    find_weights,
    list_weights,
    resolve_weights,
    weights_path,
    write_index,
)

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights"


def test_committed_index_is_the_one_the_cards_give():
    """``weights/index.json`` is what ``edgevision ship`` would write now (no stale entry)."""
    committed = json.loads((WEIGHTS / INDEX_NAME).read_text())["weights"]
    assert committed == build_index(WEIGHTS)
    assert set(committed) == {p.parent.name for p in WEIGHTS.glob("*/card.json")}


@pytest.mark.parametrize("name", sorted(p.parent.name for p in WEIGHTS.glob("*/card.json")))
def test_every_entry_points_at_its_file_with_its_hash(name):
    e = list_weights(WEIGHTS)[name]
    assert e.file.is_file() and e.card.is_file()
    assert file_sha256(e.file) == e.sha256
    assert weights_path(name, folder=WEIGHTS) == e.file


def _fake_folder(tmp_path: Path, url: str | None = None) -> Path:
    d = tmp_path / "w"
    (d / "tiny_thing").mkdir(parents=True)
    (d / "tiny_thing" / "tiny_thing.safetensors").write_bytes(b"weights")
    card = {"name": "tiny_thing", "model": "yolov5n", "task": "detect",
            "file": "tiny_thing.safetensors", "sha256": file_sha256(d / "tiny_thing" / "tiny_thing.safetensors")}  # fmt: skip
    (d / "tiny_thing" / "card.json").write_text(json.dumps(card))
    write_index(d)
    if url:
        idx = json.loads((d / INDEX_NAME).read_text())
        idx["weights"]["tiny_thing"]["url"] = url
        (d / INDEX_NAME).write_text(json.dumps(idx))
    return d


def test_resolve_by_name_and_leave_everything_else(tmp_path, monkeypatch):
    d = _fake_folder(tmp_path)
    monkeypatch.setenv("EDGEVISION_WEIGHTS", str(d))
    assert resolve_weights("tiny_thing") == str(d / "tiny_thing" / "tiny_thing.safetensors")
    for other in ("yolov5n", "x.onnx", "runs/a/best.pt", 3, None):
        assert resolve_weights(other) == other
    assert find_weights("tiny_thin") is None  # exact names only


def test_missing_file_names_the_url_and_the_place(tmp_path):
    d = _fake_folder(tmp_path, url="https://example.org/tiny_thing.safetensors")
    (d / "tiny_thing" / "tiny_thing.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"download https://example\.org/\S+ to .*tiny_thing"):
        weights_path("tiny_thing", folder=d)


def test_changed_file_is_refused(tmp_path):
    d = _fake_folder(tmp_path)
    (d / "tiny_thing" / "tiny_thing.safetensors").write_bytes(b"other weights")
    with pytest.raises(ModelFileError, match="sha256 .* the index says"):
        weights_path("tiny_thing", folder=d)


def test_index_keeps_urls_on_rebuild(tmp_path):
    d = _fake_folder(tmp_path, url="https://example.org/a")
    write_index(d)
    assert list_weights(d)["tiny_thing"].url == "https://example.org/a"


def test_resolve_target_and_load_engine_take_a_name():
    pytest.importorskip("torch")
    from edgevision.runtime import load_engine, resolve_target

    t = resolve_target("ddrnet23_slim_camvid")
    assert (
        t.kind == "checkpoint"
        and t.path == WEIGHTS / "ddrnet23_slim_camvid" / "ddrnet23_slim_camvid.safetensors"
    )
    eng = load_engine("ddrnet23_slim_camvid", backend="torch")
    assert eng.spec.name == "ddrnet23_slim" and eng.path == t.path


def test_an_unknown_name_suggests_the_shipped_weights():
    from edgevision.runtime import resolve_target

    with pytest.raises(ModelNotFoundError, match="shipped weights: ddrnet23_slim_camvid"):
        resolve_target("ddrnet23_slim_cam")


def test_ship_rewrites_the_index(tmp_path, monkeypatch):
    """The index is rebuilt by ship: copying a card folder in and calling it lists the name."""
    d = tmp_path / "w"
    shutil.copytree(WEIGHTS / "yolov5n_camvid", d / "yolov5n_camvid")
    write_index(d)
    assert list(list_weights(d)) == ["yolov5n_camvid"]


def test_run_model_plugin_takes_a_name():
    """``edgevision run --model yolov5n_camvid`` loads the shipped checkpoint."""
    pytest.importorskip("torch")
    from edgevision.stream.plugins import load_plugin

    plugin = load_plugin("yolov5n_camvid", engine="torch")
    try:
        d = plugin.describe()
        assert d["name"] == "yolov5n_camvid" and d["trained"] and plugin.spec.name == "yolov5n"
    finally:
        plugin.close()
