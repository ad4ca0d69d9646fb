"""The page of ``edgevision quantize --analyze [--auto] --report``: ranked sensitivities.

Markdown tables (or strict JSON) of a :class:`~edgevision.quantize.sensitivity.SensitivityReport`:
all INT8 and the proposal, each component quantized alone and kept FP32 alone, the most
sensitive layers, the proposed FP32 components and, with ``--auto``, the searched
configurations with their latency.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from edgevision.io import json_safe, write_text_atomic
from edgevision.quantize.sensitivity import Score, SensitivityReport

__all__ = ["markdown", "write_report"]

_METRIC_NAMES = {"miou": "mIoU", "box_ap": "box AP", "mask_ap": "mask AP"}


def markdown(report: SensitivityReport, *, command: str | None = None) -> str:
    """The report as markdown tables (written by ``edgevision quantize --analyze``)."""
    metric = _METRIC_NAMES.get(report.drop_measure, report.drop_measure)
    unit = f"{metric} drop (pts)" if report.drop_measure != "argmax" else "changed px (%)"
    lines = [f"# Quantization sensitivity: {report.model}", ""]
    if command:
        lines += [f"Written by `{command}`.", ""]
    if report.fp32_metric is not None:
        lines += [f"FP32 {metric}: {report.fp32_metric:.2f}", ""]
    lines += [
        f"Accuracy budget: {report.max_drop} ({unit}). Output error is measured on the "
        "calibration images against the FP32 model in ONNX Runtime.",
        "",
    ]

    def table(title: str, rows: list[Score], lat: bool = False) -> None:
        nonlocal lines
        head = ["quantized", "SQNR dB", "rel L2", "argmax agree", unit]
        if lat:
            head.append("p50 ms")
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        for s in rows:
            cells = [
                f"`{s.name}`",
                f"{s.sqnr_db:.1f}",
                f"{s.rel_l2:.4f}",
                "-" if math.isnan(s.argmax_agreement) else f"{s.argmax_agreement:.4f}",
                f"{s.drop:.2f}",
            ]
            if lat:
                cells.append("-" if s.latency_ms is None else f"{s.latency_ms:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    table("All INT8 and the proposal", [report.all_int8, report.proposed])
    table("One component quantized (rest FP32), most sensitive first", report.components)
    table("One component kept FP32 (rest INT8)", report.all_but)
    if report.layers:
        table(f"Top {len(report.layers)} layers quantized alone", report.layers)
    lines += [
        f"Proposed FP32 components: {', '.join(report.exclude) if report.exclude else 'none'}",
        "",
    ]
    if report.searched:
        table("Search (--auto): explored configurations", report.searched, lat=True)
        if report.chosen is not None:
            lines += [f"Chosen: `{report.chosen.name}`", ""]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def write_report(report: SensitivityReport, path: str | os.PathLike[str], command: str) -> None:
    """Write the report as markdown (``.md``) or JSON (anything else), atomically."""
    p = Path(path)
    if p.suffix.lower() == ".md":
        write_text_atomic(p, markdown(report, command=command))
    else:
        write_text_atomic(p, json.dumps(json_safe(report.to_dict()), indent=2) + "\n")
