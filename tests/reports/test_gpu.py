"""The GPU page (``edgevision report gpu``) on bench JSON that ``edgevision bench --json``
really wrote (on this CPU), and ``scripts/gpu_check.sh``'s no-GPU exit."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgevision.reports.gpu import engine_label, targets

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_check.sh"


def _ev(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "edgevision", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        **kw,
    )


def test_engine_label_from_the_result_not_the_plan():
    assert engine_label({"backend": "tensorrt"}) == "TensorRT"
    cuda = {"backend": "onnxruntime", "meta": {"providers": ["CUDAExecutionProvider", "CPU"]}}
    assert engine_label(cuda) == "ORT CUDA EP"
    assert engine_label({"backend": "onnxruntime", "meta": {"providers": []}}) == "ORT CPU"
    trt_ep = {"backend": "onnxruntime", "meta": {"providers": ["TensorrtExecutionProvider"]}}
    assert engine_label(trt_ep) == "ORT TensorRT EP"


def test_targets_from_rows():
    def res(prec: str, fps: float, total: float | None = None) -> dict:
        return {"backend": "tensorrt", "precision": prec, "fps": fps, "stages_ms": {"total": total}}

    rows = [
        {"model": "ddrnet23_slim", "result": res("fp32", 100.0)},
        {"model": "ddrnet23_slim", "result": res("fp16", 250.0)},
        {"model": "ddrnet23_slim", "result": res("int8", 300.0)},
        {"model": "yolact_mobilenetv2", "result": res("int8", 400.0, total=8.0)},
    ]
    t = targets(rows)
    assert t[0]["value"] == pytest.approx(2.5)
    assert t[1]["value"] == pytest.approx(1.2)
    assert t[2]["value"] == pytest.approx(125.0)  # end to end: 1000 / 8 ms, not engine FPS
    assert all(x["value"] is None for x in targets(rows[1:2]))


@pytest.fixture
def results(tmp_path: Path, tiny_onnx: Path) -> Path:
    """A gpu_check results folder whose one measured row is a real CPU bench of the tiny
    model (the engine that ran is taken from its JSON) and one skipped row."""
    d = tmp_path / "gpu_check"
    (d / "bench").mkdir(parents=True)
    out = d / "bench" / "tiny.cuda.fp32.json"
    cmd = ["bench", str(tiny_onnx), "--backend", "onnxruntime", "--runs", "5", "--warmup", "1"]
    r = _ev([*cmd, "--quiet", "--json", str(out)])
    assert r.returncode == 0, r.stderr
    rows = [
        {"model": "tiny", "engine": "CUDA EP", "precision": "fp32", "json": "bench/tiny.cuda.fp32.json", "command": " ".join(cmd)},
        {"model": "tiny", "engine": "TensorRT", "precision": "fp16", "command": "x", "error": "backend 'tensorrt' needs TensorRT | pip install tensorrt"},
    ]  # fmt: skip
    (d / "rows.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    return d


def test_report_page_from_real_bench_json(results: Path, tmp_path: Path):
    page = tmp_path / "gpu.md"
    r = _ev(["report", "gpu", str(results), "--out", str(page)])
    assert r.returncode == 2 and "no GPU recorded" in r.stderr and not page.exists()
    assert len([ln for ln in r.stderr.splitlines() if "error" in ln]) == 1

    (results / "gpu.txt").write_text("a GPU line the test wrote (fake)\n")
    r = _ev(["report", "gpu", str(results), "--out", str(page)])
    assert r.returncode == 0, r.stderr
    bench = json.loads((results / "bench" / "tiny.cuda.fp32.json").read_text())
    text = page.read_text()
    assert "a GPU line the test wrote (fake)" in text and "edgevision report gpu" in text
    measured = next(ln for ln in text.splitlines() if ln.startswith("| tiny | ORT CPU | fp32 |"))
    assert f"| {bench['latency_ms']['p50']:.3f} | {bench['fps']:.1f} |" in measured
    e2e = 1000.0 / bench["stages_ms"]["total"]
    assert f"| {e2e:.1f} |" in measured
    skipped = next(ln for ln in text.splitlines() if ln.startswith("| tiny | TensorRT | fp16 |"))
    assert "skipped: backend 'tensorrt' needs TensorRT \\| pip install tensorrt" in skipped
    assert text.count("| not measured |") == 3  # no DDRNet / YOLACT rows here
    data = json.loads(page.with_suffix(".json").read_text())
    assert data["rows"][0]["result"]["fps"] == bench["fps"]


def _fake_bin(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text(f"#!/bin/sh\n{body}\n")
    f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return d


def test_gpu_check_without_gpu_is_one_line_and_fails_fast(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run(
        ["/bin/bash", str(SCRIPT), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={"PATH": str(empty), "HOME": str(tmp_path)},
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "gpu_check: no NVIDIA GPU here (nvidia-smi not found); run it on a CUDA machine"
    ]
    assert r.stdout == "" and not (tmp_path / "out").exists()


def test_gpu_check_with_a_driver_that_fails(tmp_path: Path):
    """nvidia-smi present but no driver (a container without the GPU passed through)."""
    msg = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    fake = _fake_bin(tmp_path, "nvidia-smi", f'echo "{msg}"; exit 9')
    r = subprocess.run(
        ["/bin/bash", str(SCRIPT), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"gpu_check: nvidia-smi found no usable GPU: {msg}"]
    assert not (tmp_path / "out").exists()
