"""The page of ``edgevision quantize --report``: FP32 vs the quantized model.

The bench harness's table of the two models (:func:`edgevision.bench.report.markdown`)
followed by the quantization record of a :class:`~edgevision.quantize.ptq.QuantResult`:
mode, calibration, types, sizes, output error and speed-up.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgevision.bench.report import markdown
from edgevision.errors import ConfigError
from edgevision.io import write_text_atomic
from edgevision.quantize.ptq import QuantResult

__all__ = ["write_report"]


def write_report(result: QuantResult, path: str | os.PathLike[str], *, command: str) -> Path:
    """Markdown table of FP32 vs quantized (bench harness results + output error), atomically.

    Raises:
        ConfigError: the result has no latency measurement (run with ``measure=True``).
    """
    if not result.bench:
        raise ConfigError("a report needs latency measurements (add --bench)")
    text = markdown(
        result.bench,
        title=f"Quantization: {result.model} ({result.mode})",
        written_by=command,
    )
    cfg = result.config
    lines = [
        "",
        "## Quantization",
        "",
        "| mode | method | calib images | act/weight | per-channel | FP32 MB | quant MB "
        "| size −% | SQNR dB | argmax agree | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    err = result.error
    lat = result.latency or {}
    lines.append(
        f"| {result.mode} | {cfg['method'] if result.mode == 'static' else '-'} "
        f"| {cfg['calib_size'] if result.mode == 'static' else '-'} "
        f"| {cfg['activation_type'] if result.mode == 'static' else 'u8'}/{cfg['weight_type']} "
        f"| {cfg['per_channel']} | {result.fp32_size_mb:.2f} | {result.size_mb:.2f} "
        f"| {100 * (1 - result.size_mb / result.fp32_size_mb):.1f} "
        f"| {err.get('sqnr_db', float('nan')):.1f} | {err.get('argmax_agreement', float('nan')):.4f} "
        f"| {lat.get('speedup', float('nan')):.2f}× |"
    )
    prec = (
        ", ".join(f"{k}={v}" for k, v in result.precision.items())
        if len(result.precision) > 1
        else "all int8"
    )
    lines += ["", f"Precision: {prec}", ""]
    lines += [f"Warning: {w}" for w in result.warnings]
    write_text_atomic(path, text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    return Path(path)
