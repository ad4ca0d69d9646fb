"""``edgevision convert``: report, written checkpoint, one-line refusals, ``--list``."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgevision.checkpoint import load_checkpoint  # noqa: E402
from edgevision.cli.main import main  # noqa: E402
from edgevision.models.pretrained import list_sources  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def mbv2_file(tmp_path_factory, torchvision_mobilenetv2):
    path = tmp_path_factory.mktemp("src") / "mobilenet_v2-b0353104.pth"
    torch.save(torchvision_mobilenetv2().state_dict(), path)
    return path


def test_convert_prints_the_report_and_writes_the_checkpoint(mbv2_file, tmp_path, capsys):
    out = tmp_path / "deeplab_imagenet.safetensors"
    code = main(["convert", str(mbv2_file), "-o", str(out), "--model", "deeplabv3plus_mobilenetv2"])
    text = capsys.readouterr().out
    assert code == 0
    assert (
        "torchvision-mobilenetv2 -> deeplabv3plus_mobilenetv2: backbone 255/255 tensors (100.0%)"
        in text
    )
    assert "unused from the file 7" in text and f"wrote {out}" in text
    spec, state, _ = load_checkpoint(out)
    assert spec.name == "deeplabv3plus_mobilenetv2"
    assert spec.extra["pretrained"]["source"] == "torchvision-mobilenetv2"
    assert torch.equal(
        state["backbone.stem.0.weight"],
        torch.load(mbv2_file, weights_only=True)["features.0.0.weight"],
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "yolo_ret_m075"], "need >= 95%"),  # MobileNetV2 x0.75
        (["--model", "espnet"], "no place in espnet"),
        (["--model", "yolov5n", "--from", "yolov5"], "fills only 0/"),
        (["--model", "liteseg_mobilenetv2", "--from", "nope"], "unknown pretrained source"),
        (["--model", "nope"], "unknown model 'nope'"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(mbv2_file, tmp_path, capsys, extra, message):
    out = tmp_path / "out.pt"
    code = main(["convert", str(mbv2_file), "-o", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_missing_arguments_and_list(tmp_path, capsys):
    assert main(["convert", "--model", "espnet"]) == 2
    assert "convert needs SRC, -o OUT" in capsys.readouterr().err
    assert (
        main(
            [
                "convert",
                str(tmp_path / "none.pth"),
                "-o",
                str(tmp_path / "o.pt"),
                "--model",
                "espnet",
            ]
        )
        == 2
    )
    assert "pretrained weights not found" in capsys.readouterr().err
    assert main(["convert", "--list"]) == 0
    text = capsys.readouterr().out
    for name in list_sources():
        assert f"{name}: " in text
    assert text.count("get it: ") == len(list_sources()) == 5
