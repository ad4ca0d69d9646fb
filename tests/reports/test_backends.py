"""``edgevision report backends``: every engine/precision row, the host line, errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402
from edgevision.reports.backends import plan_variants  # noqa: E402


def test_plan_follows_installed_engines_and_cpu_flags():
    both = {"onnxruntime": True, "openvino": True}
    labels = [v.label for v in plan_variants(both, ["avx512_vnni"], nncf=True)]
    assert "OpenVINO bf16" not in labels and "OpenVINO INT8 (NNCF PTQ)" in labels
    assert labels[0] == "ONNX Runtime FP32"
    assert "OpenVINO bf16" in [v.label for v in plan_variants(both, ["amx_bf16"], nncf=False)]
    no_nncf = plan_variants(both, [], nncf=False)
    assert all(v.file != "int8_nncf" for v in no_nncf)
    assert [v.backend for v in plan_variants({"onnxruntime": True}, [], nncf=False)] == [
        "onnxruntime",
        "onnxruntime",
    ]


def test_report_rows_for_every_variant(
    synth_images, tmp_path, capsys, one_torch_thread, monkeypatch
):
    """Every variant that runs gets a row; one an engine rejects is listed with its reason
    (here the NNCF file on ONNX Runtime, made to fail in the short pre-run)."""
    import edgevision.bench.harness as harness
    from edgevision.checkpoint import save_checkpoint
    from edgevision.errors import EdgeVisionError

    real = harness.benchmark_variants

    def flaky(variants, **kw):
        for f, c in variants:
            if c.runs == 2 and c.backend == "onnxruntime" and "int8_nncf" in str(f):
                raise EdgeVisionError("benchmark of x failed: QLinearConv: input zero point")
        return real(variants, **kw)

    monkeypatch.setattr(harness, "benchmark_variants", flaky)
    from edgevision.data.semantic import SemanticFolder
    from edgevision.registry import create_model

    data = synth_images(seed=3, size=(64, 96), train=6, val=2)
    names = SemanticFolder(data, "train").class_names
    torch.manual_seed(0)
    model = create_model(
        "deeplabv3plus_mobilenetv2", num_classes=len(names), class_names=tuple(names),
        input_size=(48, 64), width_mult=0.35, aspp_channels=16,
    ).eval()  # fmt: skip
    ckpt = save_checkpoint(tmp_path / "tiny.safetensors", model)
    out = tmp_path / "backends.md"
    rc = main(
        ["report", "backends", str(ckpt), "--data", f"tiny={data}", "--runs", "3",
         "--blocks", "1", "--calib-images", "4", "--out", str(out), "--work", str(tmp_path / "w")]
    )  # fmt: skip
    assert rc == 0
    res = json.loads(out.with_suffix(".json").read_text())
    variants = [r["variant"] for r in res["rows"]]
    assert variants[0] == "ONNX Runtime FP32" and "ONNX Runtime INT8 (ORT PTQ)" in variants
    assert len(variants) == len(set(variants)) >= 2
    if any("NNCF" in v for v in variants):  # nncf installed: its ORT row failed on purpose
        assert "ONNX Runtime INT8 (NNCF PTQ)" not in variants
        assert [f["variant"] for f in res["failed"]] == ["ONNX Runtime INT8 (NNCF PTQ)"]
        assert "did not run" in out.read_text() and "zero point" in out.read_text()
    for r in res["rows"]:
        assert r["p50_ms"] > 0 and r["images"] == 2 and 0 <= r["metric"] <= 1
    page = out.read_text()
    assert res["meta"]["machine"]["cpu"] in page and "report backends" in page
    assert page.count("| tiny |") == len(variants)
    assert "wrote" in capsys.readouterr().out


def test_report_needs_a_dataset_per_model(tiny_onnx, tmp_path, capsys):
    rc = main(["report", "backends", str(tiny_onnx), "--data", f"other={tmp_path}"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "no dataset for" in err and len(err.strip().splitlines()) == 1
