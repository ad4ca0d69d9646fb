"""``edgevision bench``: measuring, --compare outputs, and one-line errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgevision.cli import bench as bench_cli  # noqa: E402
from edgevision.config import ModelSpec  # noqa: E402
from edgevision.errors import ConfigError, DataError, ModelFileError  # noqa: E402


def run_cli(argv):
    """Parse with only the bench subcommand registered and run it (as cli.main does)."""
    parser = argparse.ArgumentParser(prog="edgevision")
    sub = parser.add_subparsers(dest="command")
    bench_cli.register(sub)
    args = parser.parse_args(["bench", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 1, 1)).astype(np.float32), "W")
    g = helper.make_graph(
        [helper.make_node("Conv", ["images", "W"], ["logits"])],
        "t",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["b", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 2, "h", "w"])],
        [w],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    spec = ModelSpec(
        name="cli_tiny",
        task="semantic",
        class_names=["x", "y"],
        input_size=(16, 16),
        postprocess="semantic_argmax",
    )
    m.metadata_props.add(key="edgevision.spec", value=spec.to_json())
    path = tmp_path_factory.mktemp("cli") / "cli_tiny.onnx"
    onnx.save(m, str(path))
    return path


def test_measure_one_then_compare(model, tmp_path, capsys):
    one = tmp_path / "res" / "one.json"
    assert (
        run_cli(
            [model, "--runs", "4", "--warmup", "1", "--input", "24x32", "--quiet", "--json", one]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "cli_tiny" in out and f"wrote results: {one}" in out
    d = json.loads(one.read_text())
    assert isinstance(d, dict) and d["input"] == {"batch": 1, "height": 24, "width": 32}
    assert d["meta"]["command"].startswith("edgevision bench ")
    assert "--input 24x32" in d["meta"]["command"] and "--runs 4" in d["meta"]["command"]

    # several targets -> a list, measured in alternating blocks
    two = tmp_path / "two.json"
    assert (
        run_cli(
            [
                model,
                model,
                "--runs",
                "2",
                "--warmup",
                "0",
                "--blocks",
                "2",
                "--no-stages",
                "--quiet",
                "--json",
                two,
            ]
        )
        == 0
    )
    lst = json.loads(two.read_text())
    assert isinstance(lst, list) and len(lst) == 2
    assert lst[0]["meta"]["blocks"] == 2 and lst[0]["stages_ms"] is None
    capsys.readouterr()

    # compare: default outputs next to the first JSON, and it says where they went
    assert run_cli(["--compare", one, two]) == 0
    out = capsys.readouterr().out
    md, png = one.parent / "bench_compare.md", one.parent / "bench_compare.png"
    assert f"wrote markdown table: {md}" in out and f"wrote plot: {png}" in out
    text = md.read_text()
    assert "edgevision bench --compare" in text and "Measured by" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    # explicit paths
    assert run_cli(["--compare", one, "--md", tmp_path / "t.md", "--plot", tmp_path / "p.png"]) == 0
    assert (tmp_path / "t.md").is_file() and (tmp_path / "p.png").is_file()


def test_one_line_errors(model, tmp_path):
    with pytest.raises(ModelFileError, match="ONNX file not found"):
        run_cli([tmp_path / "missing.onnx"])
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    with pytest.raises(ModelFileError, match="not a valid ONNX model") as e:
        run_cli([bad, "--runs", "1", "--quiet"])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="--input"):
        run_cli([model, "--input", "12xx"])
    with pytest.raises(SystemExit) as ex:  # a usage error: counts are checked when parsed
        run_cli([model, "--runs", "0"])
    assert ex.value.code == 2
    with pytest.raises(ConfigError, match="nothing to do"):
        run_cli([])
    with pytest.raises(ConfigError, match="not both"):
        run_cli([model, "--compare", "a.json"])
    with pytest.raises(DataError, match="dataset folder not found"):
        run_cli([model, "--data", tmp_path / "nodata"])
    with pytest.raises(DataError, match="result file not found"):
        run_cli(["--compare", tmp_path / "none.json"])
    with pytest.raises(SystemExit):
        run_cli([model, "--blocks", "0"])


def test_help_mentions_what_is_timed(capsys):
    with pytest.raises(SystemExit):
        run_cli(["--help"])
    out = capsys.readouterr().out
    assert "fresh subprocess" in out and "--compare" in out and "--blocks" in out
