"""The sensitivity page (markdown or strict JSON) from a hand-made report (no measuring)."""

from __future__ import annotations

import json
import math

from edgevision.quantize.sensitivity import Score, SensitivityReport
from edgevision.reports.sensitivity import markdown, write_report


def _report() -> SensitivityReport:
    def score(name: str, kind: str, drop: float, latency: float | None = None) -> Score:
        return Score(name, kind, 30.0, 0.05, 0.99, drop=drop, latency_ms=latency)

    int8 = score("all", "config", 2.5)
    return SensitivityReport(
        model="tiny",
        drop_measure="miou",
        fp32_metric=61.234,
        all_int8=int8,
        components=[score("head", "component", 2.0), score("backbone", "component", 0.5)],
        all_but=[score("all but head", "all_but", 0.4)],
        layers=[],
        exclude=["head"],
        proposed=score("all but head", "all_but", 0.4),
        max_drop=1.0,
        searched=[score("fp32", "config", 0.0, 10.0), score("all but head", "config", 0.4, 6.0)],
        chosen=score("all but head", "config", 0.4, 6.0),
        notes=["a note"],
    )


def test_markdown_tables_in_order():
    text = markdown(_report(), command="edgevision quantize --analyze")
    assert text.startswith("# Quantization sensitivity: tiny\n\nWritten by `edgevision quantize")
    assert "FP32 mIoU: 61.23" in text and "(mIoU drop (pts))" in text
    order = ["## All INT8 and the proposal", "most sensitive first", "kept FP32", "## Search"]
    assert [text.index(t) for t in order] == sorted(text.index(t) for t in order)
    assert "Proposed FP32 components: head" in text and "Chosen: `all but head`" in text
    assert "| `all but head` | 30.0 | 0.0500 | 0.9900 | 0.40 | 6.00 |" in text
    assert text.endswith("Note: a note")


def test_write_report_markdown_or_strict_json(tmp_path):
    rep = _report()
    rep.all_int8.sqnr_db = math.inf
    write_report(rep, tmp_path / "s.md", "cmd")
    assert (tmp_path / "s.md").read_text() == markdown(rep, command="cmd")

    def no_constants(name):
        raise ValueError(name)

    write_report(rep, tmp_path / "s.json", "cmd")
    data = json.loads((tmp_path / "s.json").read_text(), parse_constant=no_constants)
    assert data["all_int8"]["sqnr_db"] == "inf" and data["exclude"] == ["head"]
