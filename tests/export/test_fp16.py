"""FP16 ONNX for the CUDA provider: half-precision weights, float32 at the graph's edges, the
metadata kept, and (ONNX Runtime's CPU provider runs such graphs here) outputs close to FP32."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import ModelFileError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_fp16_file_keeps_float32_io_and_metadata(tiny_onnx, tmp_path):
    from onnx import TensorProto

    from edgevision.export.fp16 import convert_fp16
    from edgevision.export.metadata import read_metadata, read_spec
    from edgevision.runtime import load_engine

    out = convert_fp16(tiny_onnx, tmp_path / "half.onnx")
    m = onnx.load(str(out))
    types = {t.data_type for t in m.graph.initializer}
    assert TensorProto.FLOAT16 in types
    edges = [*m.graph.input, *m.graph.output]
    assert {v.type.tensor_type.elem_type for v in edges} == {TensorProto.FLOAT}
    assert out.stat().st_size < 0.7 * tiny_onnx.stat().st_size
    assert read_metadata(out)["edgevision.precision"] == "fp16"
    assert read_spec(out) == read_spec(tiny_onnx)

    fp32, fp16 = load_engine(tiny_onnx, threads=1), load_engine(out, threads=1)
    assert fp16.precision == "fp16"
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    a, b = fp32.run(x)[0], fp16.run(x)[0]
    assert b.dtype == np.float32 and b.shape == a.shape
    assert np.abs(a - b).max() <= 1e-2 * max(1.0, float(np.abs(a).max()))
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.95


def test_fp16_refusals(tiny_onnx, tmp_path):
    from edgevision.export.fp16 import convert_fp16

    half = convert_fp16(tiny_onnx, tmp_path / "half.onnx")
    with pytest.raises(ModelFileError, match="is fp16: convert an FP32 file"):
        convert_fp16(half, tmp_path / "again.onnx")
    with pytest.raises(ModelFileError, match="not over it"):
        convert_fp16(tiny_onnx, tiny_onnx)
    with pytest.raises(ModelFileError, match="not found"):
        convert_fp16(tmp_path / "missing.onnx", tmp_path / "x.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="not an ONNX file"):
        convert_fp16(tmp_path / "junk.onnx", tmp_path / "y.onnx")


def test_export_cli_fp16(tiny_onnx, tmp_path, capsys):
    from edgevision.cli.main import main

    out = tmp_path / "m16.onnx"
    assert main(["export", str(tiny_onnx), "-o", str(out), "--fp16"]) == 0
    assert "FP16" in capsys.readouterr().out and out.is_file()
    rc = main(["export", str(tiny_onnx), "-o", str(tmp_path / "parts"), "--fp16", "--components"])
    assert rc == 2 and "--fp16 writes one .onnx file" in capsys.readouterr().err
