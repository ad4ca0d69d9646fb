"""``--backend auto``: pinned by the environment, the only engine, a probe, its cache."""

from __future__ import annotations

import json

import pytest

from edgevision.bench import choose
from edgevision.bench.choose import ENV_VAR, choose_backend
from edgevision.errors import BackendUnavailable, ConfigError


@pytest.fixture
def unpinned(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("EDGEVISION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "backend_choice.json"


def test_environment_pins_the_choice(tiny_onnx, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "onnxruntime")
    c = choose_backend(tiny_onnx)
    assert (c.backend, c.source) == ("onnxruntime", "env") and ENV_VAR in c.reason
    monkeypatch.setenv(ENV_VAR, "tensorrt")
    with pytest.raises(ConfigError, match="not a CPU engine"):
        choose_backend(tiny_onnx)


def test_only_engine_installed_is_chosen_without_a_probe(tiny_onnx, unpinned, monkeypatch):
    monkeypatch.setattr(choose, "_installed", lambda: ["onnxruntime"])
    monkeypatch.setattr(choose, "_probe", lambda *a: pytest.fail("probed"))
    c = choose_backend(tiny_onnx)
    assert (c.backend, c.source) == ("onnxruntime", "only")
    monkeypatch.setattr(choose, "_installed", lambda: [])
    with pytest.raises(BackendUnavailable, match="pip install"):
        choose_backend(tiny_onnx)


def test_a_quantized_file_stays_on_onnxruntime(tiny_onnx, unpinned, monkeypatch, tmp_path):
    """An INT8 file runs where its accuracy was measured: no probe, ONNX Runtime."""
    import onnx

    m = onnx.load(str(tiny_onnx))
    for prop in m.metadata_props:
        if prop.key == "edgevision.precision":
            prop.value = "int8"
    int8 = tmp_path / "int8.onnx"
    onnx.save(m, str(int8))
    monkeypatch.setattr(choose, "_installed", lambda: ["onnxruntime", "openvino"])
    monkeypatch.setattr(choose, "_probe", lambda *a: pytest.fail("probed"))
    c = choose_backend(int8)
    assert (c.backend, c.source) == ("onnxruntime", "quantized")
    assert "--backend openvino" in c.reason
    with pytest.raises(BaseException, match="probed"):  # the float file is measured
        choose_backend(tiny_onnx)


def test_fastest_wins_ties_keep_onnxruntime():
    assert choose._decide({"onnxruntime": 10.0, "openvino": 5.0}) == "openvino"
    assert choose._decide({"onnxruntime": 10.0, "openvino": 9.9}) == "onnxruntime"
    assert choose._decide({"onnxruntime": 5.0, "openvino": 10.0}) == "onnxruntime"
    assert choose._decide({"openvino": 7.0}) == "openvino"


def test_probe_measures_each_engine_then_the_cache_answers(tiny_onnx, unpinned):
    pytest.importorskip("openvino")
    c = choose_backend(tiny_onnx, runs=4, blocks=2)
    assert c.source == "probe" and set(c.p50_ms) == {"onnxruntime", "openvino"}
    assert all(ms > 0 for ms in c.p50_ms.values())
    assert c.backend == choose._decide(c.p50_ms) and c.backend in c.reason
    cached = json.loads(unpinned.read_text())
    assert cached[c.key]["backend"] == c.backend
    again = choose_backend(tiny_onnx)
    assert again.source == "cache" and again.backend == c.backend and again.p50_ms == c.p50_ms
    # another file (other bytes) is probed again: the key holds the file's hash
    other = unpinned.parent / "other.onnx"
    other.write_bytes(tiny_onnx.read_bytes() + b"\0")
    assert choose._cache_key(other, 2, ["onnxruntime"]) != choose._cache_key(
        tiny_onnx, 2, ["onnxruntime"]
    )


def test_a_failing_engine_is_left_out(tiny_onnx, unpinned, monkeypatch):
    from edgevision.errors import ModelFileError

    def fake_worker(job):
        if job["config"]["backend"] == "openvino":
            raise ModelFileError("OpenVINO cannot compile it")
        return {"latency_ms": [1.0, 2.0, 3.0]}

    import edgevision.bench.proc as proc

    monkeypatch.setattr(choose, "_installed", lambda: ["onnxruntime", "openvino"])
    monkeypatch.setattr(proc, "run_worker", fake_worker)
    c = choose_backend(tiny_onnx)
    assert c.backend == "onnxruntime" and "failed: openvino" in c.reason
    assert not unpinned.exists()  # an incomplete probe is not cached


def test_bench_cli_records_the_choice(tiny_onnx, tmp_path, capsys):
    from edgevision.cli.main import main

    out = tmp_path / "b.json"
    rc = main(
        [
            "bench",
            str(tiny_onnx),
            "--runs",
            "3",
            "--warmup",
            "1",
            "--no-stages",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["backend"] == "onnxruntime"
    assert data["meta"]["backend_choice"]["source"] == "env"
    assert data["meta"]["config"]["backend"] == "auto"
