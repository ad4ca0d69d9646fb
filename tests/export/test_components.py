"""Component -> ONNX node mapping and per-component precision."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from edgevision.errors import ConfigError
from edgevision.export.components import (
    OTHER,
    _index,
    build_node_map,
    component_of,
    node_module,
    resolve_precision,
)
from edgevision.export.metadata import read_metadata, read_spec
from edgevision.quantize import QuantConfig, parse_precision, quantize_model
from edgevision.quantize.ptq import QUANT_KEY


def test_node_module_rebuilds_qualified_names():
    names = [
        "backbone",
        "backbone.c1",
        "backbone.c1.0",
        "backbone.c1.0.conv",
        "backbone.c1.0.conv.0",
        "backbone.c1.0.conv.0.0",
        "decoder",
        "decoder.reduce",
        "decoder.reduce.0",
    ]
    idx = _index(names)
    assert (
        node_module("/backbone/c1/c1.0/conv/conv.0/conv.0.0/Conv", idx) == "backbone.c1.0.conv.0.0"
    )
    # ModuleDict entries are called directly: no "decoder" segment in the node name
    assert node_module("/reduce/reduce.0/Conv", idx) == "decoder.reduce.0"
    assert node_module("/Resize", idx) is None
    assert node_module("Conv_12", idx) is None
    comps = ("backbone", "decoder")
    assert component_of("decoder.reduce.0", comps) == "decoder"
    assert component_of("backbone", comps) == "backbone"
    assert component_of(None, comps) == OTHER


def test_every_conv_of_exported_model_has_a_component(tiny_onnx):
    import onnx

    proto = onnx.load(str(tiny_onnx))
    nm = build_node_map(proto, read_spec(tiny_onnx))
    assert nm.components == ("backbone", "aspp", "decoder")
    convs = [n for n, op in nm.node_op.items() if op == "Conv"]
    assert convs and all(nm.node_component[n] != OTHER for n in convs)
    counts = nm.counts()
    assert counts["backbone"] > counts["decoder"] > 0 and counts["aspp"] > 0
    assert {nm.node_component[n] for n in convs if "/classifier/" in n} == {"decoder"}


def test_parse_precision():
    assert parse_precision("backbone=int8, head=FP32") == (
        {"backbone": "int8", "head": "fp32"},
        None,
    )
    assert parse_precision("default=fp32,backbone=int8") == ({"backbone": "int8"}, "fp32")
    for bad in ("backbone", "backbone=int4", "=int8", "a=int8,a=fp32", ","):
        with pytest.raises(ConfigError):
            parse_precision(bad)


def test_resolve_precision_rejects_unknown_component():
    full = resolve_precision({"head": "fp32"}, "int8", ("backbone", "head"))
    assert full == {"backbone": "int8", "head": "fp32", OTHER: "int8"}
    with pytest.raises(ConfigError, match="unknown component 'neck'.*backbone, head, other"):
        resolve_precision({"neck": "fp32"}, "int8", ("backbone", "head"))
    # "other": the nodes outside every component (output glue), int8 unless named
    assert resolve_precision({"other": "fp32"}, "int8", ("backbone",))[OTHER] == "fp32"
    assert resolve_precision({}, "fp32", ("backbone",))[OTHER] == "fp32"


def test_fp32_component_is_left_unquantized(tiny_onnx, synth_images, tmp_path):
    import onnx

    calib = synth_images(seed=3, size=(64, 96), train=6, val=2)
    out = tmp_path / "mixed.onnx"
    res = quantize_model(
        tiny_onnx,
        out,
        QuantConfig(calib_size=2, precision={"decoder": "fp32"}),
        calib_data=calib,
        progress=False,
    )
    g = onnx.load(str(out)).graph
    # decoder convs keep FP32 weights; backbone conv weights come through DequantizeLinear
    produced_by = {o: n for n in g.node for o in n.output}

    def int8_weights(node):
        return getattr(produced_by.get(node.input[1]), "op_type", "") == "DequantizeLinear"

    decoder = ("/reduce", "/fuse", "/classifier")
    dec = [n for n in g.node if n.op_type == "Conv" and n.name.startswith(decoder)]
    bb = [n for n in g.node if n.op_type == "Conv" and n.name.startswith("/backbone/")]
    assert dec and not any(int8_weights(n) for n in dec)
    assert bb and all(int8_weights(n) for n in bb)
    assert res.precision["decoder"] == "fp32" and res.nodes["excluded"] > 0
    meta = read_metadata(out)
    assert meta["edgevision.precision"] == "mixed"
    assert json.loads(meta[QUANT_KEY])["precision"]["decoder"] == "fp32"


def test_bad_precision_requests(tiny_onnx, synth_images, tmp_path):
    calib = synth_images(seed=3, size=(64, 96), train=6, val=2)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ConfigError, match="unknown component 'head'"):
        quantize_model(
            tiny_onnx,
            out,
            QuantConfig(calib_size=1, precision={"head": "fp32"}),
            calib_data=calib,
            progress=False,
        )
    with pytest.raises(ConfigError, match="fp16.*CPU"):
        quantize_model(
            tiny_onnx,
            out,
            QuantConfig(calib_size=1, precision={"aspp": "fp16"}),
            calib_data=calib,
            progress=False,
        )
    with pytest.raises(ConfigError, match="nothing to quantize"):
        quantize_model(
            tiny_onnx,
            out,
            QuantConfig(calib_size=1, default_precision="fp32"),
            calib_data=calib,
            progress=False,
        )
    assert not out.exists()


def test_repeated_scopes_map_to_the_right_branch(tmp_path, one_torch_thread):
    """DDRNet's low/high branches export with identical scope names (``/layer3/...`` and
    ``/layer3/..._1``); every conv must map to the module whose weight shape it has."""
    import onnx
    from onnx import numpy_helper

    from edgevision.export import export_onnx
    from edgevision.registry import create_model

    model = create_model("ddrnet23_slim", input_size=(64, 64))
    path = tmp_path / "ddr.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    nm = build_node_map(proto, model.spec)
    assert nm.counts()["high"] > 10 and nm.counts()["low"] > 10
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    modules = dict(model.named_modules())
    checked = 0
    for node in proto.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        mod = modules[nm.node_module[node.name]]
        assert tuple(mod.weight.shape) == inits[node.input[1]].shape, node.name
        checked += 1
    assert checked > 40
