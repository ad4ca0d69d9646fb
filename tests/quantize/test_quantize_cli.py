"""``edgevision quantize`` command: outputs, one-line errors with exit 2, no partial files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from edgevision.cli.main import main


@pytest.fixture(scope="module")
def calib(synth_images):
    return synth_images(seed=3, size=(64, 96), train=6, val=2)


def test_help_explains_types(capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "U8 activations" in out and "--calib-size" in out and "--precision" in out


def test_static_cli_writes_model_and_json(tiny_onnx, calib, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    js = tmp_path / "q.json"
    rc = main(
        [
            "quantize",
            str(tiny_onnx),
            "-o",
            str(out),
            "--calib-data",
            str(calib),
            "--calib-size",
            "2",
            "--precision",
            "aspp=fp32",
            "--json",
            str(js),
            "--quiet",
        ]
    )
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "wrote" in text and "SQNR" in text and "aspp=fp32" in text
    rec = json.loads(js.read_text())
    assert rec["precision"]["aspp"] == "fp32" and rec["mode"] == "static"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--calib-data", "{missing}"], "calibration folder not found"),
        (["--calib-data", "{empty}"], "no images in calibration folder"),
        (["--calib-data", "{calib}", "--calib-size", "999"], "fewer than --calib-size"),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "neck=fp32"],
            "unknown component 'neck'",
        ),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp=int3"],
            "unknown precision 'int3'",
        ),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp"],
            "malformed precision item",
        ),
        (["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp=fp16"], "fp16"),
        ([], "needs calibration images"),
        (["--mode", "qat"], "needs --train-data"),
        (["--mode", "qat", "--train-data", "{calib}"], "not an ONNX file"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_onnx, calib, tmp_path, capsys, extra, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    subs = {"{missing}": str(tmp_path / "nope"), "{empty}": str(empty), "{calib}": str(calib)}
    args = [subs.get(a, a) for a in extra]
    out = tmp_path / "never.onnx"
    rc = main(["quantize", str(tiny_onnx), "-o", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert err.startswith("edgevision quantize: error:")
    assert not out.exists()


def test_missing_model_file_exit_2(tmp_path, calib, capsys):
    rc = main(
        [
            "quantize",
            str(tmp_path / "no.onnx"),
            "-o",
            str(tmp_path / "o.onnx"),
            "--calib-data",
            str(calib),
        ]
    )
    assert rc == 2
    assert "not found" in capsys.readouterr().err
