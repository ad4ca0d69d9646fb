"""``edgevision quantize --report``'s page from a fake quantization result (no measuring)."""

from __future__ import annotations

import pytest

from edgevision.errors import ConfigError
from edgevision.quantize.ptq import QuantResult
from edgevision.reports.ptq import write_report

MACHINE = {"cpu": "Test CPU", "cores": 2, "usable_cores": 2, "platform": "Linux-test"}


def _bench(label: str, precision: str, p50: float) -> dict:
    return {
        "label": label,
        "model": "tiny",
        "backend": "onnxruntime",
        "precision": precision,
        "latency_ms": {"p50": p50},
        "meta": {"command": "edgevision quantize tiny.onnx", "machine": MACHINE},
    }


def _result(**kw) -> QuantResult:
    base = dict(
        path="tiny_int8.onnx",
        model="tiny",
        mode="static",
        config={"method": "minmax", "calib_size": 8, "activation_type": "u8",
                "weight_type": "s8", "per_channel": True},
        precision={"default": "int8"},
        nodes={"total": 10, "quantized_ops": 6, "excluded": 0},
        size_mb=2.0,
        fp32_size_mb=8.0,
        error={"sqnr_db": 31.5, "argmax_agreement": 0.9912},
        latency={"fp32_ms": 10.0, "quant_ms": 5.0, "speedup": 2.0},
        bench=[_bench("fp32", "fp32", 10.0), _bench("int8", "int8", 5.0)],
    )  # fmt: skip
    return QuantResult(**{**base, **kw})


def test_page_has_bench_table_and_quantization_row(tmp_path):
    md = write_report(_result(), tmp_path / "q.md", command="edgevision quantize --report q.md")
    text = md.read_text()
    assert text.startswith("# Quantization: tiny (static)")
    assert "Table written by `edgevision quantize --report q.md`." in text
    assert (
        "| static | minmax | 8 | u8/s8 | True | 8.00 | 2.00 | 75.0 | 31.5 | 0.9912 | 2.00× |"
        in text
    )
    assert "Precision: all int8" in text


def test_page_needs_latency_measurements(tmp_path):
    with pytest.raises(ConfigError, match="latency"):
        write_report(_result(bench=[]), tmp_path / "q.md", command="x")
