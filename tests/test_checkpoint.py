from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgevision.checkpoint import load_checkpoint, load_model, read_spec, save_checkpoint  # noqa: E402
from edgevision.errors import CheckpointError  # noqa: E402
from edgevision.registry import create_model  # noqa: E402

TINY = {"width_mult": 0.35, "aspp_channels": 16, "class_names": ["a", "b"], "input_size": (32, 32)}


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip_rebuilds_same_outputs(tmp_path, suffix):
    m = create_model("deeplabv3plus_mobilenetv2", **TINY).eval()
    path = save_checkpoint(tmp_path / f"w{suffix}", m)
    m2 = load_model(path)
    assert m2.spec == m.spec
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))
    assert read_spec(path) == m.spec


def test_pt_loads_with_weights_only_and_keeps_extra(tmp_path):
    m = create_model("deeplabv3plus_mobilenetv2", **TINY)
    save_checkpoint(tmp_path / "w.pt", m, epoch=3, best={"miou": 0.5})
    # the file must load under weights_only=True (no pickled modules)
    obj = torch.load(tmp_path / "w.pt", weights_only=True)
    assert obj["epoch"] == 3
    spec, state, extra = load_checkpoint(tmp_path / "w.pt")
    assert extra == {"epoch": 3, "best": {"miou": 0.5}}


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    m = create_model("deeplabv3plus_mobilenetv2", **TINY)
    good = save_checkpoint(tmp_path / "w.pt", m)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*junk.pt"):
        load_model(junk)
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an edgevision checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(
        CheckpointError, match="is for model 'deeplabv3plus_mobilenetv2', not 'yolo'"
    ):
        load_model(good, expect="yolo")
    # weights that don't fit the architecture the spec describes
    obj = torch.load(good, weights_only=True)
    obj["state_dict"].pop(next(iter(obj["state_dict"])))
    torch.save(obj, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(tmp_path / "cut.pt")


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    m = create_model("deeplabv3plus_mobilenetv2", **TINY)
    path = save_checkpoint(tmp_path / "w.pt", m)
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, m, epoch=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]  # no temp file left


class _Payload:
    """A pickle that runs code when loaded without weights_only (writes a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_unsafe_pickles_are_refused_not_run(tmp_path):
    """A ``__reduce__`` payload in a checkpoint is refused with a reason; it never runs."""
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    torch.save({"format": "x", "payload": _Payload(marker)}, bad)
    with pytest.raises(CheckpointError, match=r"refused checkpoint .*bad\.pt: it holds Python"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_every_torch_load_in_the_package_is_weights_only():
    """``torch.load`` only with ``weights_only=True`` (a literal True), anywhere in src/."""
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "edgevision"
    bad = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "load" or ast.unparse(node.func.value) != "torch":
                continue
            kw = {k.arg: k.value for k in node.keywords}
            safe = (
                isinstance(kw.get("weights_only"), ast.Constant)
                and kw["weights_only"].value is True
            )
            if not safe:
                bad.append(f"{path.relative_to(src)}:{node.lineno}")
    assert bad == []


def test_disk_full_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    """torch.save reports a full disk as RuntimeError ('basic_ios::clear'); save_checkpoint
    says which file and removes its temporary file."""
    from edgevision.errors import OutputError

    def full_disk(obj, f):
        Path(f).write_bytes(b"partial")
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full_disk)
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("Usage", (), {"free": 0})())
    m = create_model("deeplabv3plus_mobilenetv2", **TINY)
    with pytest.raises(OutputError) as e:
        save_checkpoint(tmp_path / "last.pt", m)
    assert str(e.value) == f"cannot write {tmp_path / 'last.pt'}: no space left on device"
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_maps_enospc_to_one_line(tmp_path):
    import errno

    from edgevision.errors import OutputError
    from edgevision.io import atomic_path

    full = "cannot write .*r.json: No space left on device"
    with pytest.raises(OutputError, match=full), atomic_path(tmp_path / "r.json") as tmp:
        tmp.write_text("{")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
