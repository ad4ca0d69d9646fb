"""The console script: --help everywhere, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgevision.cli.main import SUBCOMMANDS, build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0
        assert "usage: edgevision " + name in capsys.readouterr().out


def test_console_script_runs():
    r = subprocess.run(
        [sys.executable, "-m", "edgevision", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("edgevision ")


def test_models_lists_json(capsys):
    assert main(["models", "deeplab*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "deeplabv3plus_mobilenetv2" and rows[0]["task"] == "semantic"


def test_export_cli_and_errors(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "m.onnx"
    code = main(
        [
            "export",
            "deeplabv3plus_mobilenetv2",
            "-o",
            str(out),
            "--input",
            "64x64",
            "-m",
            "width_mult=0.35",
            "-m",
            "aspp_channels=16",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0 and out.is_file()
    assert "max |onnx - torch|" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["model"] == "deeplabv3plus_mobilenetv2"
    # unknown model -> one line, exit 2, no traceback
    assert main(["export", "nosuchmodel", "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'nosuchmodel'" in err[0]
    assert (
        main(
            [
                "export",
                "deeplabv3plus_mobilenetv2",
                "-o",
                str(tmp_path / "y.onnx"),
                "--input",
                "64x",
            ]
        )
        == 2
    )
    assert "--input" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "z.onnx")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "z.onnx").exists()


def test_debug_shows_traceback(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgevision",
            "--debug",
            "export",
            "nosuchmodel",
            "-o",
            str(tmp_path / "a.onnx"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgevision",
            "export",
            "nosuchmodel",
            "-o",
            str(tmp_path / "a.onnx"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_an_escaping_oserror_is_one_line_naming_the_file(monkeypatch, capsys):
    """The last resort: an OSError no command turned into a user error prints one line naming
    the file, exit 2; --debug shows the traceback."""
    import errno

    import edgevision.cli.models as models

    def broken(args):
        raise OSError(errno.EIO, "Input/output error", "/data/x.png")

    monkeypatch.setattr(models, "run", broken)
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err == "edgevision models: error: Input/output error: /data/x.png\n"
    with pytest.raises(OSError):
        main(["--debug", "models"])


def test_usage_errors_are_two_lines(capsys):
    """A bad flag value says which flag and where the help is, not the whole usage block."""
    with pytest.raises(SystemExit) as e:
        main(["run", "x.mp4", "--model", "m.onnx", "--fps", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "edgevision run: error: argument --fps: must be > 0, got '0'",
        "see 'edgevision run --help'",
    ]


@pytest.mark.slow
def test_export_to_an_openvino_ir(tmp_path, capsys, tiny_onnx):
    pytest.importorskip("openvino")
    from edgevision.export.metadata import read_spec

    out = tmp_path / "ir" / "seg.xml"
    argv = ["export", "espnet", "-o", str(out), "--input", "64x64", "--no-simplify"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "OpenVINO IR" in text and "max |onnx - torch|" in text
    assert read_spec(out).name == "espnet" and out.with_suffix(".bin").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["seg.bin", "seg.xml"]  # no ONNX left
    conv = tmp_path / "conv.xml"
    assert main(["export", str(tiny_onnx), "-o", str(conv)]) == 0
    assert read_spec(conv) == read_spec(tiny_onnx)
