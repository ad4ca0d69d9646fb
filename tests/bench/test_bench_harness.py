"""The benchmark harness on tiny ONNX models built with onnx.helper (fresh worker processes)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgevision.bench import harness  # noqa: E402
from edgevision.bench.harness import BenchResult, WorkerError, benchmark, benchmark_many  # noqa: E402
from edgevision.config import BenchConfig, ModelSpec  # noqa: E402
from edgevision.errors import (  # noqa: E402
    ConfigError,
    EdgeVisionError,
    ModelFileError,
    ModelNotFoundError,
)

CLASSES = ["a", "b", "c"]
SIZE = (32, 48)
#: Conv 3->8 k3 p1 + Conv 8->3 k1 at H x W: 2 * H*W * (8*3*9 + 3*8)
TINY_FLOPS = 2 * SIZE[0] * SIZE[1] * (8 * 27 + 3 * 8)
TINY_PARAMS = 8 * 27 + 3 * 8

RESULT_KEYS = {
    "model",
    "label",
    "target",
    "task",
    "backend",
    "precision",
    "input",
    "threads",
    "latency_ms",
    "fps",
    "peak_rss_mb",
    "size_mb",
    "params",
    "gflops",
    "stages_ms",
    "metrics",
    "meta",
}
META_KEYS = {
    "timed",
    "stages_timed",
    "units",
    "runs",
    "warmup",
    "blocks",
    "block_runs",
    "block_p50_ms",
    "machine",
    "versions",
    "timestamp",
    "edgevision",
    "command",
    "samples_ms",
    "config",
    "engine",
    "peak_rss_source",
    "size_source",
    "flops_source",
    "thread_env",
}


def tiny_onnx(path, *, rank3_output=False, spec=True):
    """A semantic 'model': Conv 3->8 k3, Relu, Conv 8->3 k1 (logits), dynamic H/W."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.standard_normal((3, 8, 1, 1)).astype(np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "W1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "W2"], ["logits"]),
    ]
    out_shape = ["batch", 3, "height", "width"]
    if rank3_output:  # a broken model: the semantic postprocessor will reject (N, C, H*W)
        inits.append(numpy_helper.from_array(np.array([0, 3, -1], np.int64), "shp"))
        nodes[-1].output[0] = "l4"
        nodes.append(helper.make_node("Reshape", ["l4", "shp"], ["logits"]))
        out_shape = ["batch", 3, "hw"]
    g = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info(
                "images", TensorProto.FLOAT, ["batch", 3, "height", "width"]
            )
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    if spec:
        s = ModelSpec(
            name="tinyseg",
            task="semantic",
            class_names=CLASSES,
            input_size=SIZE,
            postprocess="semantic_argmax",
        )
        m.metadata_props.add(key="edgevision.spec", value=s.to_json())
        m.metadata_props.add(key="edgevision.precision", value="fp32")
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx")


FAST = BenchConfig(runs=6, warmup=1)


def test_benchmark_result_has_all_keys(model):
    r = benchmark(model, FAST, progress=False, command="pytest tiny")
    d = json.loads(r.to_json())
    assert set(d) >= RESULT_KEYS
    assert set(d["meta"]) >= META_KEYS
    assert (d["model"], d["label"], d["task"]) == ("tinyseg", "tiny", "semantic")
    assert (d["backend"], d["precision"], d["threads"]) == ("onnxruntime", "fp32", 2)
    assert d["input"] == {"batch": 1, "height": SIZE[0], "width": SIZE[1]}
    lat = d["latency_ms"]
    assert set(lat) == {"p50", "p90", "p99", "mean", "std", "min", "max"}
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert d["fps"] == pytest.approx(1000 / lat["mean"], rel=1e-3)
    assert set(d["stages_ms"]) == {"preprocess", "inference", "postprocess", "total"}
    assert 20 < d["peak_rss_mb"] < 2000
    assert d["size_mb"] == pytest.approx(model.stat().st_size / 2**20, abs=1e-3)
    assert d["params"] == TINY_PARAMS
    assert d["gflops"] == pytest.approx(TINY_FLOPS / 1e9, abs=1e-6)
    assert d["metrics"] == {}
    meta = d["meta"]
    assert meta["runs"] == 6 and meta["warmup"] == 1 and meta["blocks"] == 1
    assert len(meta["samples_ms"]) == 6 and meta["stage_runs"] == 5
    assert meta["command"] == "pytest tiny"
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["cpu"]
    assert meta["versions"]["onnxruntime"] and meta["versions"]["numpy"]
    assert "torch" not in meta["versions"]  # the ONNX path never imports torch
    assert meta["thread_env"]["OMP_NUM_THREADS"] == "2"
    assert "engine.run" in meta["timed"]
    assert BenchResult.from_dict(d).to_dict() == d


def test_input_size_batch_threads_and_no_stages(model):
    cfg = BenchConfig(runs=3, warmup=0, input_size=(64, 64), batch=2, threads=1)
    r = benchmark(model, cfg, progress=False, stages=False, flops=False)
    assert r.input == {"batch": 2, "height": 64, "width": 64}
    assert r.threads == 1 and r.meta["thread_env"]["OMP_NUM_THREADS"] == "1"
    assert r.meta["engine"]["threads"] == 1
    assert r.stages_ms is None and r.gflops is None
    assert r.fps == pytest.approx(2 * 1000 / r.latency_ms["mean"], rel=1e-3)


def test_benchmark_many_alternates_and_pools(model, tmp_path):
    other = tiny_onnx(tmp_path / "other.onnx")
    rs = benchmark_many([model, other], BenchConfig(runs=5, warmup=1), blocks=2, progress=False)
    assert [r.label for r in rs] == ["tiny", "other"]
    for r in rs:
        assert r.meta["blocks"] == 2 and r.meta["block_runs"] == [3, 2]
        assert len(r.meta["samples_ms"]) == 5 and len(r.meta["block_p50_ms"]) == 2
        assert r.gflops == pytest.approx(TINY_FLOPS / 1e9, abs=1e-6)


def _fake_worker(calls: list, job: dict, on_progress=None) -> dict:
    calls.append((job["target"], job["runs"], job["flops"], job["accuracy"]))
    n = job["runs"]
    return {
        "model": "m",
        "task": "semantic",
        "backend": "onnxruntime",
        "precision": "fp32",
        "input_shape": [1, 3, 8, 8],
        "threads": 2,
        "warmup": job["warmup"],
        "latency_ms": [1.0] * n if job["target"].endswith("a.onnx") else [2.0] * n,
        "stages_ms": None,
        "peak_rss_kib": 1024 * (10 + len(calls)),
        "rss_baseline_kib": 1,
        "rss_after_load_kib": 2,
        "size_bytes": 2**20,
        "params": 5,
        "flops": {
            "gflops": 1.0,
            "other_gflops": 0.0,
            "params": 5,
            "source": "x",
            "uncounted": [],
        }
        if job["flops"]
        else None,
        "metrics": {},
        "eval": None,
        "engine": {},
        "machine": {},
        "versions": {},
        "path": job["target"],
    }


def _use_fake_worker(monkeypatch) -> list:
    """Replace the worker process by :func:`_fake_worker`; returns the list of its calls."""
    calls: list = []
    monkeypatch.setattr(harness, "_run_worker", lambda job, cb=None: _fake_worker(calls, job, cb))
    monkeypatch.setattr(
        harness,
        "_resolve_target",
        lambda t, cfg: harness._Target(t, t, t.rsplit("/", 1)[-1].split(".")[0], "onnx"),
    )
    return calls


def test_blocks_run_in_alternating_order(monkeypatch):
    """A B A B ...: checked with a fake worker (no processes)."""
    calls = _use_fake_worker(monkeypatch)
    rs = benchmark_many(
        ["/x/a.onnx", "/x/b.onnx"], BenchConfig(runs=7, warmup=0), blocks=3, progress=False
    )
    assert [c[0] for c in calls] == ["/x/a.onnx", "/x/b.onnx"] * 3
    assert [c[1] for c in calls] == [3, 3, 2, 2, 2, 2]
    assert [c[2] for c in calls] == [True, True, False, False, False, False]
    assert rs[0].latency_ms["p50"] == 1.0 and rs[1].latency_ms["p50"] == 2.0
    assert rs[1].fps == 500.0
    assert rs[0].peak_rss_mb == 15.0  # the max over its blocks (calls 1, 3, 5)
    assert rs[0].size_mb == 1.0 and rs[0].gflops == 1.0
    # more blocks than runs: capped
    calls.clear()
    benchmark_many(["/x/a.onnx"], BenchConfig(runs=2, warmup=0), blocks=5, progress=False)
    assert len(calls) == 2


def test_config_fields_as_keywords_and_lines_off_a_terminal(monkeypatch, capsys):
    """``benchmark_many(paths, runs=10)``: BenchConfig fields as keywords, checked; off a
    terminal, a progress line per finished block."""
    calls = _use_fake_worker(monkeypatch)
    rs = benchmark_many(["/x/a.onnx"], BenchConfig(runs=7), runs=4, warmup=0, blocks=2)
    assert [c[1] for c in calls] == [2, 2] and rs[0].meta["block_runs"] == [2, 2]
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" ", 2)[:2] for ln in lines] == [["bench", "a:"], ["bench", "a:"]]
    assert "2/4 (50%)" in lines[0] and "4/4 (100%)" in lines[1] and lines[1].endswith("done")
    assert benchmark("/x/a.onnx", runs=1, warmup=0, progress=False).latency_ms["p50"] == 1.0
    with pytest.raises(ConfigError, match="unknown field.* rnus"):
        benchmark_many(["/x/a.onnx"], rnus=3)
    with pytest.raises(ConfigError, match="runs: expected an integer"):
        benchmark_many(["/x/a.onnx"], runs="many")
    with pytest.raises(ConfigError, match="for one, use benchmark"):
        benchmark_many("/x/a.onnx", runs=3)  # type: ignore[arg-type]


def test_worker_failure_is_one_line_error(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelFileError) as e:
        benchmark(bad, FAST, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "not a valid ONNX model" in msg and "garbage.onnx" in msg


def test_onnx_without_metadata(tmp_path):
    plain = tiny_onnx(tmp_path / "plain.onnx", spec=False)
    with pytest.raises(ModelFileError, match="no edgevision metadata"):
        benchmark(plain, FAST, progress=False)


def test_worker_crash_becomes_worker_error(tmp_path):
    broken = tiny_onnx(tmp_path / "broken.onnx", rank3_output=True)
    with pytest.raises(WorkerError) as e:
        benchmark(broken, FAST, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "ValueError" in msg and "broken.onnx" in msg
    assert "Traceback" in e.value.log  # kept for --debug


def test_bad_targets_fail_before_spawning(tmp_path, monkeypatch):
    def no_worker(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("a worker was started")

    monkeypatch.setattr(harness, "_run_worker", no_worker)
    with pytest.raises(ModelFileError, match="ONNX file not found"):
        benchmark(tmp_path / "missing.onnx", FAST, progress=False)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelFileError, match="not an ONNX file, OpenVINO IR or checkpoint"):
        benchmark(tmp_path / "notes.txt", FAST, progress=False)
    with pytest.raises(ModelFileError, match="folder"):
        benchmark(tmp_path, FAST, progress=False)
    (tmp_path / "m.onnx").write_text("x")
    with pytest.raises(ConfigError, match="backend 'torch' cannot run an ONNX file"):
        benchmark(tmp_path / "m.onnx", BenchConfig(backend="torch"), progress=False)
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        benchmark("no_such_model_xyz", FAST, progress=False)
    with pytest.raises(ConfigError):
        benchmark_many([], FAST, progress=False)
    with pytest.raises(ConfigError, match="blocks"):
        benchmark_many([tmp_path / "m.onnx"], FAST, blocks=0, progress=False)


def test_accuracy_with_data(model, tmp_path):
    cv2 = pytest.importorskip("cv2")
    import yaml

    root = tmp_path / "ds"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "dataset.yaml").write_text(yaml.safe_dump({"classes": CLASSES, "ignore_index": 255}))
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(
            str(root / "images" / "val" / f"im{i}.png"),
            rng.integers(0, 256, (24, 40, 3), dtype=np.uint8),
        )
        cv2.imwrite(
            str(root / "labels" / "val" / f"im{i}.png"),
            rng.integers(0, 3, (24, 40), dtype=np.uint8),
        )
    (root / "val.txt").write_text("im0\nim1\nim2\n")
    cfg = BenchConfig(runs=3, warmup=0, data=str(root), split="val", max_images=2)
    r = benchmark(model, cfg, progress=False, stages=False)
    assert 0.0 <= r.metrics["miou"] <= 1.0 and "pixel_acc" in r.metrics
    assert r.meta["eval"]["num_images"] == 2 and r.meta["eval"]["split"] == "val"


def test_worker_entry_point_protocol(model, tmp_path):
    # importing the worker must not import numpy (thread variables are set first)
    code = "import sys, edgevision.bench.worker; assert 'numpy' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    job = {
        "target": str(model),
        "config": {"runs": 2, "warmup": 0, "threads": 1},
        "stages": False,
        "flops": False,
    }
    p = subprocess.run(
        [sys.executable, "-m", "edgevision.bench.worker", "-", "--quiet"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    raw = json.loads(p.stdout)
    assert len(raw["latency_ms"]) == 2 and raw["env"]["OMP_NUM_THREADS"] == "1"
    p = subprocess.run(
        [sys.executable, "-m", "edgevision.bench.worker", "{not json"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("@@error ")]
    assert line and json.loads(line[0][8:])["type"] == "UsageError"


def test_progress_callback_sees_phases(model, monkeypatch):
    seen = []
    real = harness._run_worker

    def spy(job, on_progress=None):
        return real(job, lambda phase, done, total: seen.append((phase, done, total)))

    monkeypatch.setattr(harness, "_run_worker", spy)
    benchmark(model, BenchConfig(runs=3, warmup=1), progress=False, flops=False)
    phases = {p for p, _, _ in seen}
    assert {"load", "warmup", "timing", "end-to-end"} <= phases
    assert ("timing", 3, 3) in seen


@pytest.mark.slow
def test_registry_name_is_exported_for_onnxruntime():
    pytest.importorskip("torch")
    cfg = BenchConfig(runs=3, warmup=1, input_size=(64, 64))
    r = benchmark("deeplabv3plus_mobilenetv2", cfg, progress=False, stages=False)
    assert r.backend == "onnxruntime" and r.model == "deeplabv3plus_mobilenetv2"
    assert "exported" in r.meta["size_source"] and r.size_mb > 1
    assert r.gflops > 0 and r.params > 1_000_000


@pytest.mark.slow
def test_torch_backend_counts_flops_with_torch():
    pytest.importorskip("torch")
    cfg = BenchConfig(backend="torch", runs=2, warmup=1, input_size=(64, 64))
    r = benchmark("deeplabv3plus_mobilenetv2", cfg, progress=False, stages=False)
    assert r.backend == "torch" and r.meta["flops_source"] == "torch FlopCounterMode"
    assert r.meta["size_source"].startswith("estimate") and r.gflops > 0


def test_edgevision_error_is_base():
    assert issubclass(WorkerError, EdgeVisionError)


def test_conf_sets_the_end_to_end_threshold_and_counts_objects(model, tmp_path):
    """``--conf 0`` keeps every candidate (worst-case NMS + masks); the stages record how
    many objects that path returned. A semantic model refuses a score threshold."""
    pytest.importorskip("torch")
    from edgevision.export import export_onnx

    with pytest.raises(ConfigError, match="applies to detection and instance models"):
        benchmark(model, BenchConfig(runs=2, warmup=0, conf=0.0), progress=False, flops=False)
    with pytest.raises(ConfigError, match="conf must be in"):
        BenchConfig(conf=1.0)
    onnx_path = tmp_path / "yolact.onnx"
    export_onnx("yolact_mobilenetv2_320", onnx_path, input_size=(64, 64), class_names=["a"],
                width_mult=0.35, fpn_channels=16, proto_width=16, num_protos=4)  # fmt: skip
    objects = {}
    for conf in (0.0, 0.999):
        cfg = BenchConfig(runs=2, warmup=0, conf=conf)
        r = benchmark(onnx_path, cfg, progress=False, flops=False)
        objects[conf] = r.stages_ms["objects"]
    assert objects[0.0] > objects[0.999] >= 0
    # exported from a registry name: the file says untrained, and so does the table
    from edgevision.bench.report import provenance

    assert r.meta["engine"]["trained"] is False
    assert "Untrained (random-init) weights" in provenance([r]) and r.label in provenance([r])
