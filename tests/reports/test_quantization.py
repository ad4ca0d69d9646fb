"""The quantization pages: ``edgevision compare``'s tables from fake measurements, and
``edgevision report calibration`` end to end."""

from __future__ import annotations

import pytest

from edgevision.cli.main import main
from edgevision.quantize.compare import CompareOptions, ModelComparison
from edgevision.reports.quantization import write_page

MACHINE = {"cpu": "Test CPU", "cores": 2, "usable_cores": 2, "platform": "Linux-test"}


def _result(mode: str, p50: float, miou: float, size_mb: float) -> dict:
    return {
        "label": mode,
        "model": "tiny",
        "backend": "onnxruntime",
        "precision": "fp32" if mode == "fp32" else "int8",
        "latency_ms": {"p50": p50},
        "fps": 1000.0 / p50,
        "size_mb": size_mb,
        "peak_rss_mb": 200.0 + size_mb,
        "metrics": {"miou": miou},
        "stages_ms": {"preprocess": 1.0, "inference": p50, "postprocess": 0.5, "total": p50 + 1.5},
        "meta": {"command": "edgevision compare tiny.pt", "machine": MACHINE,
                 "rss_baseline_mb": 190.0},
    }  # fmt: skip


def test_page_has_both_tables_the_e2e_table_and_a_plot(tmp_path):
    comp = ModelComparison(
        label="tiny",
        checkpoint="tiny.pt",
        model="deeplabv3plus_mobilenetv2",
        results={"fp32": _result("fp32", 10.0, 0.60, 8.0),
                 "static": _result("static", 12.0, 0.59, 2.0)},
        reference={"stages_ms": {"preprocess": 2.0, "inference": 20.0, "postprocess": 8.0,
                                 "total": 30.0}},
    )  # fmt: skip
    md = write_page(
        [comp], tmp_path / "q.md", options=CompareOptions(), command="edgevision compare"
    )
    text = md.read_text()
    assert "Written by `edgevision compare`" in text
    assert "| tiny | FP32 | 60.00 | 8.00 | 100.0 | 10.00 | 208 | 18 |" in text
    assert "| tiny | static PTQ | -1.00 | 75.0 % | 2.9 % | 33.3 % | 0.83× |" in text
    assert "| tiny | reference: torch eager FP32, logits upsampled then argmax |" in text
    assert "- tiny: static PTQ is slower than FP32 here (12.0 vs 10.0 ms p50)." in text
    assert md.with_suffix(".png").stat().st_size > 1000


@pytest.fixture(scope="module")
def synth(synth_images):
    return synth_images(seed=7, size=(64, 64), train=4, val=2)


@pytest.fixture(scope="module")
def tiny_ckpt(synth, tmp_path_factory):
    torch = pytest.importorskip("torch")
    from edgevision.checkpoint import save_checkpoint
    from edgevision.data.semantic import SemanticFolder
    from edgevision.registry import create_model

    torch.manual_seed(0)
    names = SemanticFolder(synth, "train").class_names
    model = create_model(
        "deeplabv3plus_mobilenetv2",
        width_mult=0.35,
        aspp_channels=16,
        class_names=names,
        input_size=(64, 64),
    )
    return save_checkpoint(tmp_path_factory.mktemp("cmp") / "tiny.pt", model)


def test_calibration_sweep_page(synth, tiny_ckpt, tmp_path, one_torch_thread, capsys):
    pytest.importorskip("onnxruntime")
    md = tmp_path / "calib.md"
    rc = main(["report", "calibration", str(tiny_ckpt), "--data", str(synth), "--sizes", "1,2,50",
               "--methods", "minmax,percentile", "--work", str(tmp_path / "w"),
               "--out", str(md)])  # fmt: skip
    assert rc == 0
    text = md.read_text()
    assert "| minmax |" in text and "| percentile |" in text and "4 images" in text
    assert "capped" in text  # 50 > the 4 training images
    assert md.with_suffix(".png").stat().st_size > 1000
    rc = main(["report", "calibration", str(tiny_ckpt), "--data", str(synth), "--methods",
               "kl", "--out", str(md)])  # fmt: skip
    assert rc == 2 and "unknown calibration method" in capsys.readouterr().err
