"""``edgevision report segmentation|ablation``: generated pages, PNGs and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgevision.checkpoint import save_checkpoint  # noqa: E402
from edgevision.cli.main import main  # noqa: E402
from edgevision.data.semantic import SemanticFolder  # noqa: E402
from edgevision.registry import create_model  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def setup(synth_images, tmp_path_factory) -> tuple[Path, list[Path]]:
    data = synth_images(seed=12, size=(48, 64), train=3, val=2)
    names = SemanticFolder(data, "train").class_names
    out = tmp_path_factory.mktemp("models")
    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = create_model(
            "deeplabv3plus_mobilenetv2",
            num_classes=len(names),
            class_names=tuple(names),
            input_size=(48, 64),
            width_mult=0.35,
            aspp_channels=16,
        ).eval()
        files.append(save_checkpoint(out / f"m{seed}.safetensors", m))
    return data, files


def test_segmentation_page_has_table_and_pngs(setup, tmp_path, capsys):
    data, files = setup
    out = tmp_path / "docs" / "seg.md"
    argv = ["report", "segmentation", *map(str, files), "--data", str(data), "--out", str(out),
            "--input", "48x64", "--runs", "2", "--warmup", "1", "--blocks", "1", "--grid", "2",
            "--threads", "1", "--figures", str(tmp_path / "figs")]  # fmt: skip
    assert main(argv) == 0
    text = out.read_text()
    assert "Measured by `edgevision report segmentation" in text
    assert "GFLOP/s" in text and "Ceiling" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| `m")]
    assert len(rows) == 2  # one row per model in the main table
    assert (tmp_path / "docs" / "seg_miou_latency.png").stat().st_size > 1000
    # the grid shows the dataset's images: written outside docs/, named on the page
    assert (tmp_path / "figs" / "seg_predictions.png").stat().st_size > 1000
    assert not (tmp_path / "docs" / "seg_predictions.png").exists()
    assert str(tmp_path / "figs" / "seg_predictions.png") in text


def test_ablation_page_orders_rarest_first(setup, tmp_path):
    data, files = setup
    out = tmp_path / "abl.md"
    argv = ["report", "ablation", *map(str, files), "--labels", "A,B", "--data", str(data),
            "--out", str(out), "--rare", "star,circle", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    text = out.read_text()
    assert "**mIoU**" in text and "B − A" in text
    shares = [
        float(ln.split("|")[2])
        for ln in text.splitlines()
        if ln.startswith("| ") and not ln.startswith(("| class", "| **"))
    ]
    assert shares == sorted(shares)
    assert (tmp_path / "abl.png").is_file()


def test_ablation_needs_a_label_per_model(setup, tmp_path, capsys):
    data, files = setup
    argv = ["report", "ablation", *map(str, files), "--labels", "A", "--data", str(data),
            "--out", str(tmp_path / "x.md")]  # fmt: skip
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_ablation_page_says_where_the_training_configs_differ(setup, tmp_path):
    from edgevision.checkpoint import load_model

    data, files = setup
    base = {"model": "deeplabv3plus_mobilenetv2", "epochs": 12, "lr": 0.03, "batch_size": 8,
            "class_balanced": False, "out": "runs/a", "workers": 1}  # fmt: skip
    pts = []
    for k, f in enumerate(files):
        cfg = {**base, "class_balanced": bool(k), "out": f"runs/{k}"}  # out: not a setting
        pts.append(save_checkpoint(tmp_path / f"m{k}.pt", load_model(f), train_config=cfg))
    out = tmp_path / "abl.md"
    argv = ["report", "ablation", *map(str, pts), "--labels", "CE,CB", "--data", str(data),
            "--out", str(out), "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    text = out.read_text()
    assert "same model deeplabv3plus_mobilenetv2, epochs 12, batch_size 8, lr 0.03" in text
    assert "they differ in `class_balanced` (CE: False, CB: True)." in text
    # shipped weights without a recorded configuration are named
    argv[2:4] = [str(files[0]), str(pts[1])]
    assert main(argv) == 0
    assert "Training configuration not recorded for CE." in out.read_text()


def test_native_size_note_names_models_whose_card_has_another_input(tmp_path):
    import json

    from edgevision.reports.segmentation import _native_size_lines

    files = []
    for name, size in (("a", [288, 384]), ("b", [360, 480])):
        d = tmp_path / name
        d.mkdir()
        (d / "card.json").write_text(json.dumps({"input_size": size, "metrics": {"miou": 0.5991}}))
        files.append(d / f"{name}.safetensors")
    files.append(tmp_path / "bare.onnx")  # no card: no note
    lines = _native_size_lines(files, ["a", "b", "bare"], (360, 480))
    assert len(lines) == 2 and "`a`" in lines[0] and "288×384" in lines[0]
    assert "59.91" in lines[0] and "`b`" not in lines[0] and "bare" not in lines[0]
    assert _native_size_lines(files[1:], ["b", "bare"], (360, 480)) == []


def test_held_out_column_scores_only_models_that_never_trained_there(setup, tmp_path):
    """--held-out: a model whose card says it trained and selected elsewhere is scored on the
    held-out sequences, through the same path as the split column; one that trained or
    selected its checkpoint there, or whose training data is unknown, says why not."""
    import json
    import shutil

    from edgevision.reports.segmentation import held_out_status, trained_sequences

    data, files = setup
    cards = {
        "a": {"data": {"train_sequences": {"train": 3}}},
        "b": {"data": {"train_sequences": {"val": 2, "train": 3}}},
        "c": None,
        "d": {
            "data": {"train_sequences": {"train": 3}},
            "training": {"checkpoint": "best", "config": {"data": str(data), "val_split": "val"}},
        },
    }
    models = []
    for name, card in cards.items():
        d = tmp_path / name
        d.mkdir()
        models.append(Path(shutil.copy(files[0], d / f"{name}.safetensors")))
        if card is not None:
            (d / "card.json").write_text(json.dumps(card))
    assert trained_sequences(models[0]) == {"train": 3} and trained_sequences(models[2]) is None
    why = [held_out_status(m, data, "val") for m in models]
    assert why == [None, "trained on val", "training data unknown", "checkpoint selected on val"]
    out = tmp_path / "seg.md"
    argv = ["report", "segmentation", *map(str, models), "--data", str(data), "--out", str(out),
            "--input", "48x64", "--runs", "2", "--warmup", "1", "--blocks", "1", "--grid", "0",
            "--threads", "1", "--split", "val", "--held-out", "val"]  # fmt: skip
    assert main(argv) == 0
    text = out.read_text()
    assert "held-out `val` mIoU (%)" in text
    rows = {ln.split("`")[1]: ln.split(" | ") for ln in text.splitlines() if ln.startswith("| `")}
    # the same images through the same path: the held-out cell equals the split cell
    assert rows["a"][-1] == rows["a"][-2] + " |" and rows["a"][-2][0].isdigit()
    assert rows["b"][-1] == "– (trained on val) |"
    assert rows["c"][-1] == "– (training data unknown) |"
    assert rows["d"][-1] == "– (checkpoint selected on val) |"
    held_table = text.split("## Per-class IoU (held-out `val`, %)")[1].split("\n\n")[1]
    assert held_table.startswith("| class | `a` |") and "`b`" not in held_table
