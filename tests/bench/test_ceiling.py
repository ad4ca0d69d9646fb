"""The conv ceiling: every CPU engine and precision of the host, the best one named."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnx")

from edgevision.bench import ceiling as ceiling_mod
from edgevision.bench.ceiling import ceiling_plan, conv_ceiling

BOTH = {"onnxruntime": True, "openvino": True}


def test_plan_follows_installed_engines_and_bf16_flags():
    run, skipped = ceiling_plan(BOTH, ["avx2", "avx512_vnni"])
    assert run == [
        ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"),
        ("openvino", "fp32"),
        ("openvino", "int8"),
    ]
    assert list(skipped) == ["openvino bf16"] and "avx512_bf16" in skipped["openvino bf16"]
    for flag in ("avx512_bf16", "amx_bf16"):
        assert ("openvino", "bf16") in ceiling_plan(BOTH, [flag])[0]
    run, skipped = ceiling_plan({"onnxruntime": True, "openvino": False}, ["amx_bf16"])
    assert {e for e, _ in run} == {"onnxruntime"}
    assert set(skipped) == {"openvino fp32", "openvino bf16", "openvino int8"}
    assert all("openvino is not installed" in v for v in skipped.values())
    # INT8 chains are quantized by onnxruntime: without it OpenVINO runs the float rows only
    run, skipped = ceiling_plan({"onnxruntime": False, "openvino": True}, ["amx_bf16"])
    assert run == [("openvino", "fp32"), ("openvino", "bf16")]
    assert "quantized by onnxruntime" in skipped["openvino int8"]


def test_no_engine_is_a_clear_error():
    from edgevision.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="ONNX Runtime or OpenVINO"):
        conv_ceiling(1, have={}, flags=[])


def test_bookkeeping_names_the_fastest_engine(monkeypatch):
    """Fake engines with known seconds per run: G op/s per shape, the best engine, the JSON."""
    seconds = {
        ("onnxruntime", "fp32"): 4e-3,
        ("onnxruntime", "int8"): 3e-3,
        ("openvino", "fp32"): 5e-3,
        ("openvino", "bf16"): 2e-3,
        ("openvino", "int8"): 1e-3,
    }
    made = []

    def runner(engine, precision, path, threads):
        made.append((engine, precision, path.name))
        return lambda x, key=(engine, precision): seconds[key] * x.shape[1] / 16

    monkeypatch.setattr(ceiling_mod, "_runner", runner)
    monkeypatch.setattr(
        ceiling_mod, "_best_seconds", lambda run, x, runs, warmup: run(x)
    )  # one fake call: its "seconds"
    monkeypatch.setattr(ceiling_mod, "_quantize", lambda model, x, out: out)
    shapes = [(16, 8, 8), (32, 4, 4)]
    c = conv_ceiling(2, shapes=shapes, depth=3, have=BOTH, flags=["amx_bf16"])
    # the INT8 rows run the quantized file, the float rows the FP32 one
    assert ("openvino", "int8", "chain_16x8x8_int8.onnx") in made
    assert ("openvino", "bf16", "chain_16x8x8.onnx") in made
    assert c.engine == "openvino" and c.precision == "int8" and c.threads == 2
    ops = {f"{ch}x{h}x{w}": 3 * 2 * ch * ch * 9 * h * w for ch, h, w in shapes}
    for e in c.engines:
        s = seconds[(e.engine, e.precision)]
        expect = {k: round(v / (s * int(k.split("x")[0]) / 16) / 1e9, 1) for k, v in ops.items()}
        assert e.per_shape == expect
        assert e.gops_per_s == max(expect.values())
    assert c.gops_per_s == max(e.gops_per_s for e in c.engines)
    assert c.per_shape == c.engines[-1].per_shape and c.skipped == {}
    d = json.loads(json.dumps(c.to_dict()))
    assert (d["engine"], d["precision"]) == ("openvino", "int8")
    assert [(e["engine"], e["precision"]) for e in d["engines"]] == list(seconds)
    assert "openvino int8" in c.summary()


def test_without_openvino_onnxruntime_is_the_ceiling(monkeypatch):
    pytest.importorskip("onnxruntime")
    from edgevision.runtime import base

    real = base.list_backends
    monkeypatch.setattr(base, "list_backends", lambda: {**real(), "openvino": False})
    c = conv_ceiling(1, shapes=[(16, 24, 32)], depth=2, runs=2, warmup=1)
    assert [(e.engine, e.precision) for e in c.engines] == [
        ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"),
    ]
    assert c.engine == "onnxruntime" and all(e.gops_per_s > 0 for e in c.engines)
    assert "openvino fp32" in c.skipped and list(c.per_shape) == ["16x24x32"]


def test_every_engine_measured_on_this_host():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    from edgevision.host import cpu_flags

    c = conv_ceiling(1, shapes=[(16, 24, 32)], depth=2, runs=2, warmup=1)
    labels = [e.label for e in c.engines]
    assert labels[:3] == ["onnxruntime fp32", "onnxruntime int8", "openvino fp32"]
    assert ("openvino bf16" in labels) == bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))
    assert all(e.gops_per_s > 0 for e in c.engines)
    best = max(c.engines, key=lambda e: e.gops_per_s)
    assert (c.engine, c.precision, c.gops_per_s) == (best.engine, best.precision, best.gops_per_s)


def test_cli_writes_the_ceiling_json(monkeypatch, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from edgevision.cli.main import main

    real = ceiling_mod.conv_ceiling
    monkeypatch.setattr(
        ceiling_mod,
        "conv_ceiling",
        lambda threads: real(threads, shapes=[(16, 24, 32)], depth=2, runs=2, warmup=1),
    )
    out = tmp_path / "ceiling.json"
    assert main(["bench", "--ceiling", "--threads", "1", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    best = max(d["engines"], key=lambda e: e["gops_per_s"])
    assert (d["engine"], d["precision"]) == (best["engine"], best["precision"])
    assert d["command"] == "edgevision bench --threads 1 --ceiling --json " + str(out)
    assert "cpu_flags" in d and d["machine"]["cpu"]
    assert f"on {d['engine']} {d['precision']}" in capsys.readouterr().out
    assert main(["bench", "m.onnx", "--ceiling"]) == 2
    assert "give no TARGET" in capsys.readouterr().err
