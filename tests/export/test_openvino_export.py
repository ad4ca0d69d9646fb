"""OpenVINO IR export: the ONNX file's metadata in ``rt_info``, the same outputs as the ONNX
file on OpenVINO, loadable by name of the ``.xml``; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")

from edgevision.errors import ConfigError, ModelFileError
from edgevision.export.metadata import read_metadata, read_spec
from edgevision.export.openvino import export_openvino
from edgevision.runtime import load_engine
from edgevision.runtime.targets import resolve_target


@pytest.fixture(scope="module")
def tiny_ir(tiny_onnx, tmp_path_factory):
    return export_openvino(tiny_onnx, tmp_path_factory.mktemp("ir") / "sub" / "tiny_seg.xml")


def test_ir_keeps_the_metadata_and_the_outputs(tiny_ir, tiny_onnx):
    assert tiny_ir.is_file() and tiny_ir.with_suffix(".bin").is_file()
    assert sorted(p.name for p in tiny_ir.parent.iterdir()) == ["tiny_seg.bin", "tiny_seg.xml"]
    assert read_metadata(tiny_ir) == read_metadata(tiny_onnx)
    assert read_spec(tiny_ir) == read_spec(tiny_onnx)
    assert resolve_target(tiny_ir).kind == "openvino"
    ir = load_engine(tiny_ir, threads=1)  # auto: an IR runs on OpenVINO
    ov = load_engine(tiny_onnx, backend="openvino", threads=1)
    assert ir.backend == "openvino" and ir.spec == ov.spec and ir.precision == "fp32"
    x = np.random.default_rng(0).standard_normal((1, 3, *ov.spec.input_size)).astype(np.float32)
    for got, ref in zip(ir.run(x), ov.run(x)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)
    assert ir.num_params() > 0.9 * ov.num_params()


def test_ir_errors_are_one_line(tiny_onnx, tiny_ir, tmp_path):
    with pytest.raises(ConfigError, match=r"FILE.xml"):
        export_openvino(tiny_onnx, tmp_path / "m.bin")
    bare = tmp_path / "bare.onnx"
    import onnx

    m = onnx.load(str(tiny_onnx))
    del m.metadata_props[:]
    onnx.save(m, str(bare))
    with pytest.raises(ModelFileError, match="no edgevision metadata"):
        export_openvino(bare, tmp_path / "bare.xml")
    with pytest.raises(ModelFileError, match="runs on backend 'openvino' only"):
        load_engine(tiny_ir, backend="onnxruntime")
    (tmp_path / "junk.xml").write_text("<not closed")
    with pytest.raises(ModelFileError, match="not an OpenVINO IR"):
        read_metadata(tmp_path / "junk.xml")
    (tmp_path / "other.xml").write_text("<net><rt_info/></net>")
    with pytest.raises(ModelFileError, match="no edgevision metadata"):
        read_spec(tmp_path / "other.xml")


def test_model_exports_and_loads_an_ir(tiny_onnx, tiny_ir, tmp_path):
    import edgevision

    onnx_model = edgevision.load(tiny_onnx, backend="openvino")
    path = onnx_model.export("openvino", out=tmp_path / "m.xml")
    assert path == tmp_path / "m.xml" and read_spec(path) == read_spec(tiny_onnx)
    ir = edgevision.load(path)
    assert ir.kind == "openvino"
    image = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    (a,) = ir.predict(image)
    (b,) = onnx_model.predict(image)
    assert np.array_equal(a.class_map, b.class_map)
    with pytest.raises(ConfigError, match="nothing to export"):
        ir.export("openvino")
    with pytest.raises(ConfigError, match="builds .* the engine"):
        onnx_model.export("engine")
    with pytest.raises(ConfigError, match="quantize needs"):
        ir.quantize("static")
    with pytest.raises(ModelFileError, match="openvino' only"):
        edgevision.load(path, backend="onnxruntime").predict(image)


@pytest.mark.slow
def test_bench_and_stream_take_an_ir(tiny_ir):
    import edgevision
    from edgevision.bench.harness import benchmark
    from edgevision.config import BenchConfig
    from edgevision.stream.plugins import load_plugin

    cfg = BenchConfig(runs=2, warmup=1, threads=1, backend="auto")
    res = benchmark(str(tiny_ir), cfg, progress=False, stages=False, flops=False)
    assert res.backend == "openvino" and res.latency_ms["p50"] > 0
    res = edgevision.load(tiny_ir).benchmark(runs=2, warmup=1, stages=False, flops=False, progress=False)  # fmt: skip
    assert res.backend == "openvino" and res.precision == "fp32"
    with pytest.raises(ConfigError, match="'openvino' only"):
        benchmark(str(tiny_ir), BenchConfig(runs=2, backend="onnxruntime"), progress=False)
    plugin = load_plugin(str(tiny_ir), engine="auto", threads=1)
    x, ctx = plugin.preprocess([np.zeros((40, 50, 3), np.uint8)])
    (mask,) = plugin.postprocess(plugin.infer(x), ctx)
    assert mask.class_map.shape == (40, 50)
    with pytest.raises(ConfigError, match="--engine openvino"):
        load_plugin(str(tiny_ir), engine="onnxruntime", threads=1)
