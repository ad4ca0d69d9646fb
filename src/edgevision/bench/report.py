"""Comparison of benchmark results: terminal table, markdown table, accuracy-vs-latency plot.

Inputs are :class:`~edgevision.bench.harness.BenchResult` objects or their dicts (as read
from ``edgevision bench --json`` files by :func:`~edgevision.bench.harness.load_results`).
Everything written says which command and machine produced the numbers, so no table of
results is typed by hand.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from edgevision.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table


__all__ = [
    "compare",
    "comparison_table",
    "flat_metrics",
    "markdown",
    "plot",
    "primary_metric",
    "write_markdown",
]

#: preferred accuracy metrics, most preferred first (compared case- and punctuation-blind);
#: nested metrics are flattened with "/" (``{"bbox": {"AP50": x}}`` -> ``"bbox/AP50"``)
PREFERRED_METRICS = (
    "miou",
    "bbox/AP50",
    "segm/AP50",
    "bbox/AP",
    "segm/AP",
    "AP50",
    "mAP50",
    "AP",
    "mAP",
    "pixel_acc",
    "accuracy",
)
MAX_METRIC_COLUMNS = 3


def _as_dict(r: Any) -> dict[str, Any]:
    if isinstance(r, Mapping):
        return dict(r)
    to_dict = getattr(r, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    raise DataError(f"not a benchmark result: {type(r).__name__}")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _numeric(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def flat_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Numeric accuracy metrics, one level of nesting flattened with ``/``.

    Per-class tables (``per_class_*``) and counts (``num_*``) are left out; ``None``/NaN
    values are dropped. ``{"bbox": {"AP50": 0.5}, "miou": 0.6}`` ->
    ``{"bbox/AP50": 0.5, "miou": 0.6}``.
    """
    out: dict[str, float] = {}

    def keep(k: str, v: Any) -> bool:
        return (
            _numeric(v) and v == v and not k.startswith(("per_class", "num_"))  # v == v: not NaN
        )

    for k, v in (metrics or {}).items():
        if isinstance(v, Mapping) and not k.startswith("per_class"):
            out.update({f"{k}/{k2}": float(v2) for k2, v2 in v.items() if keep(k2, v2)})
        elif keep(k, v):
            out[k] = float(v)
    return out


def primary_metric(results: Sequence[Any]) -> str | None:
    """The accuracy metric to compare on: the first of :data:`PREFERRED_METRICS` present in
    any result (e.g. ``miou`` or ``bbox/AP50``), else the first numeric metric found."""
    keys: list[str] = []
    for r in map(_as_dict, results):
        keys += [k for k in flat_metrics(r.get("metrics")) if k not in keys]
    for pref in PREFERRED_METRICS:
        for k in keys:
            if _norm(k) == _norm(pref):
                return k
    return keys[0] if keys else None


def _metric_columns(rs: list[dict[str, Any]]) -> list[str]:
    first = primary_metric(rs)
    if first is None:
        return []
    cols = [first]
    for r in rs:
        for k in flat_metrics(r.get("metrics")):
            if k not in cols and len(cols) < MAX_METRIC_COLUMNS:
                cols.append(k)
    return cols


def _labels(rs: list[dict[str, Any]]) -> list[str]:
    """Display names; clashing ones get the fields that tell them apart, then an index."""
    base = [str(r.get("label") or r.get("model") or r.get("target") or "?") for r in rs]
    facts = [
        (
            str(r.get("backend", "?")),
            str(r.get("precision", "?")),
            _input_str(r.get("input")),
            f"{r.get('threads', '?')} thr",
        )
        for r in rs
    ]
    out = []
    for i, b in enumerate(base):
        group = [j for j, x in enumerate(base) if x == b]
        if len(group) == 1:
            out.append(b)
            continue
        varying = [k for k in range(4) if len({facts[j][k] for j in group}) > 1]
        out.append(f"{b} ({', '.join(facts[i][k] for k in varying)})" if varying else b)
    return [f"{x} #{i + 1}" if out.count(x) > 1 else x for i, x in enumerate(out)]


def _fmt(v: Any, nd: int = 2) -> str:
    """Number with ``nd`` decimals (3 significant digits when that would show 0)."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not _numeric(v):
        return str(v)
    if isinstance(v, int) and nd == 0:
        return f"{v:,}"
    if v != 0 and abs(v) < 10 ** (-nd) * 5:
        return f"{v:.3g}"
    return f"{v:,.{nd}f}"


def _input_str(inp: Any) -> str:
    if isinstance(inp, Mapping):
        s = f"{inp.get('height', '?')}x{inp.get('width', '?')}"
        b = inp.get("batch", 1)
        return s if b == 1 else f"{s} b{b}"
    return str(inp) if inp is not None else "-"


#: columns left out of the compact (narrow terminal) table
_WIDE_ONLY = frozenset({"backend", "threads", "mean±std ms", "pre/inf/post ms", "params M"})


def _rows(results: Sequence[Any], *, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and string cells shared by the terminal and markdown tables."""
    rs = [_as_dict(r) for r in results]
    if not rs:
        raise DataError("no benchmark results to compare")
    metric_cols = _metric_columns(rs)
    header = [
        "model",
        "backend",
        "precision",
        "input",
        "threads",
        "p50 ms",
        "p90 ms",
        "mean±std ms",
        "FPS",
        "speed vs first",
        "pre/inf/post ms",
        "peak RSS MiB",
        "size MiB",
        "params M",
        "GFLOPs",
        *metric_cols,
    ]
    p50_first = (rs[0].get("latency_ms") or {}).get("p50")
    rows = []
    for label, r in zip(_labels(rs), rs):
        lat = r.get("latency_ms") or {}
        p50 = lat.get("p50")
        speed = f"{p50_first / p50:.2f}x" if _numeric(p50_first) and _numeric(p50) and p50 else "-"
        st = r.get("stages_ms") or {}
        stages = (
            "/".join(_fmt(st.get(k), 1) for k in ("preprocess", "inference", "postprocess"))
            if st
            else "-"
        )
        if st and _numeric(st.get("objects")):
            stages += f" ({int(st['objects'])} obj)"

        params = r.get("params")
        mean, std = lat.get("mean"), lat.get("std")
        fps = r.get("fps")
        rows.append(
            [
                label,
                str(r.get("backend", "-")),
                str(r.get("precision", "-")),
                _input_str(r.get("input")),
                _fmt(r.get("threads"), 0),
                _fmt(p50),
                _fmt(lat.get("p90")),
                f"{_fmt(mean)}±{_fmt(std)}" if _numeric(mean) and _numeric(std) else "-",
                _fmt(fps, 1 if _numeric(fps) and fps < 100 else 0),
                speed,
                stages,
                _fmt(r.get("peak_rss_mb"), 0),
                _fmt(r.get("size_mb"), 2),
                _fmt(params / 1e6 if _numeric(params) else None, 2),
                _fmt(r.get("gflops"), 2),
                *[_fmt(flat_metrics(r.get("metrics")).get(k), 4) for k in metric_cols],
            ]
        )
    if compact:
        keep = [i for i, h in enumerate(header) if h not in _WIDE_ONLY]
        header = [header[i] for i in keep]
        rows = [[row[i] for i in keep] for row in rows]
    return header, rows


def comparison_table(
    results: Sequence[Any], *, title: str | None = None, compact: bool = False
) -> Table:
    """A ``rich.table.Table`` comparing results (first result = the speed reference).

    ``compact`` leaves out backend, threads, mean±std, per-stage times and params (for
    narrow terminals; the provenance line says backend and threads).
    """
    from rich.table import Table

    header, rows = _rows(results, compact=compact)
    table = Table(title=title, show_lines=False)
    for h in header:
        left = h in ("model", "backend", "precision", "input")
        table.add_column(h, justify="left" if left else "right", no_wrap=h == "model")
    for row in rows:
        table.add_row(*row)
    return table


def compare(results: Sequence[Any], *, width: int = 200) -> str:
    """The comparison table rendered as plain text (for logs; the CLI prints it in colour).

    Args:
        results: :class:`BenchResult` objects or their dicts.
        width: console width used for rendering.

    Returns:
        The table, one row per result, with a footer saying what was timed and where.
    """
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    console.print(comparison_table(results))
    console.print(provenance(results, markdown=False))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------
def _machine_str(m: Mapping[str, Any]) -> str:
    cores = m.get("usable_cores") or m.get("cores")
    return f"{m.get('cpu', '?')} ({cores} cores; {m.get('platform', '?')})"


def _versions_str(v: Mapping[str, Any]) -> str:
    keys = ("python", "numpy", "onnxruntime", "torch", "edgevision")
    return ", ".join(f"{k} {v[k]}" for k in keys if k in v)


def provenance(
    results: Sequence[Any], *, markdown: bool = True, written_by: str | None = None
) -> str:
    """Lines saying which command(s) and machine(s) produced ``results`` and what was timed."""
    rs = [_as_dict(r) for r in results]
    q = "`" if markdown else ""
    metas = [r.get("meta") or {} for r in rs]
    commands = list(dict.fromkeys(str(m["command"]) for m in metas if m.get("command")))
    machines = list(dict.fromkeys(_machine_str(m["machine"]) for m in metas if m.get("machine")))
    versions = list(dict.fromkeys(_versions_str(m["versions"]) for m in metas if m.get("versions")))
    stamps = sorted(str(m["timestamp"]) for m in metas if m.get("timestamp"))
    lines = []
    if commands:
        cmd = "; ".join(f"{q}{c}{q}" for c in commands)
        lines.append(f"Measured by {cmd}")
    else:
        lines.append("Measured by an unknown command")
    if machines:
        lines.append(f"on {' | '.join(machines)}")
    if len(machines) > 1:
        lines.append("(WARNING: results come from different machines; compare with care)")
    if versions:
        lines.append(f"with {' | '.join(versions)}")
    if stamps:
        span = stamps[0] if stamps[0] == stamps[-1] else f"{stamps[0]} .. {stamps[-1]}"
        lines.append(f"at {span}")
    text = " ".join(lines) + "."
    timed = next((m.get("timed") for m in metas if m.get("timed")), None)
    if timed:
        blocks = sorted({int(m.get("blocks", 1)) for m in metas})
        runs = sorted({int(m.get("runs", 0)) for m in metas})
        text += (
            f"\nLatency = {timed}; runs {'/'.join(map(str, runs))}"
            f" in {'/'.join(map(str, blocks))} block(s), each a fresh process."
            " pre/inf/post = p50 of the end-to-end Predictor path on a random image"
            " ((N obj) = detections it returned). Sizes and RSS in MiB;"
            " GFLOPs = 2 x MACs per image."
        )
    untrained = [
        label
        for label, m in zip(_labels(rs), metas)
        if (m.get("engine") or {}).get("trained") is False
    ]
    if untrained:
        text += (
            f"\nUntrained (random-init) weights, so speed and size only (their outputs and any "
            f"accuracy are meaningless): {', '.join(untrained)}."
        )
    if written_by:
        text += f"\nTable written by {q}{written_by}{q}."
    return text


# --------------------------------------------------------------------------------------------
# Markdown and plot
# --------------------------------------------------------------------------------------------
def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def markdown(
    results: Sequence[Any], *, title: str | None = None, written_by: str | None = None
) -> str:
    """The markdown table (with a header saying which command and machine produced it)."""
    header, rows = _rows(results)
    out = [f"# {title}", ""] if title else []
    out += [provenance(results, markdown=True, written_by=written_by).replace("\n", "\n\n"), ""]
    out.append("| " + " | ".join(map(_md_cell, header)) + " |")
    left = ("model", "backend", "precision", "input")
    out.append("|" + "|".join(":---" if h in left else "---:" for h in header) + "|")
    for row in rows:
        out.append("| " + " | ".join(map(_md_cell, row)) + " |")
    return "\n".join(out) + "\n"


def write_markdown(
    results: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    title: str | None = "Benchmark results",
    written_by: str | None = None,
) -> Path:
    """Write :func:`markdown` to ``path`` atomically; returns the path.

    Args:
        results: :class:`BenchResult` objects or their dicts.
        path: output ``.md`` file (parent folders are created).
        title: heading; ``None`` for none.
        written_by: the command writing the table (e.g. ``edgevision bench --compare ...``),
            added to the header next to the commands that measured the results.
    """
    from edgevision.io import write_text_atomic

    text = markdown(results, title=title, written_by=written_by)
    write_text_atomic(path, text)
    return Path(path)


def plot(results: Sequence[Any], path: str | os.PathLike[str]) -> Path:
    """Plot results to a PNG (matplotlib, Agg canvas; no display needed), atomically.

    With accuracy metrics: the primary metric (see :func:`primary_metric`) vs p50 latency,
    one labelled point per result (results without that metric are left out, and the title
    says so). Without metrics: FPS vs model size when every result has a size, else p50
    latency bars; the title says that no accuracy was available.

    Args:
        results: :class:`BenchResult` objects or their dicts.
        path: output ``.png`` path.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from edgevision.io import atomic_path

    rs = [_as_dict(r) for r in results]
    if not rs:
        raise DataError("no benchmark results to plot")
    labels = _labels(rs)
    metric = primary_metric(rs)
    fig = Figure(figsize=(8, 5.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)

    def p50(r: Mapping[str, Any]) -> float | None:
        v = (r.get("latency_ms") or {}).get("p50")
        return float(v) if _numeric(v) else None

    if metric is not None:
        pts = [
            (lab, x, flat_metrics(r.get("metrics"))[metric])
            for lab, r in zip(labels, rs)
            if metric in flat_metrics(r.get("metrics")) and (x := p50(r)) is not None
        ]
        for lab, x, y in pts:
            ax.scatter([x], [y], s=40, zorder=3)
            ax.annotate(lab, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set_xlabel("p50 latency, ms (engine.run; lower is better)")
        ax.set_ylabel(f"{metric} (higher is better)")
        left_out = len(rs) - len(pts)
        title = f"{metric} vs latency"
        if left_out:
            title += f" ({left_out} result(s) without {metric} not shown)"
    elif all(_numeric(r.get("size_mb")) and _numeric(r.get("fps")) for r in rs):
        for lab, r in zip(labels, rs):
            ax.scatter([r["size_mb"]], [r["fps"]], s=40, zorder=3)
            ax.annotate(
                lab,
                (r["size_mb"], r["fps"]),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize=8,
            )
        ax.set_xlabel("model size, MiB")
        ax.set_ylabel("FPS (higher is better)")
        title = "FPS vs model size (no accuracy metrics in these results)"
    else:
        ys = [p50(r) or 0.0 for r in rs]
        ax.barh(range(len(rs)), ys, zorder=3)
        ax.set_yticks(range(len(rs)), labels=labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("p50 latency, ms (engine.run; lower is better)")
        title = "p50 latency (no accuracy metrics in these results)"
    ax.grid(True, alpha=0.3, zorder=0)
    ax.set_title(title, fontsize=11)
    metas = [r.get("meta") or {} for r in rs]
    machines = list(dict.fromkeys(_machine_str(m["machine"]) for m in metas if m.get("machine")))
    if machines:
        fig.text(0.01, 0.01, "measured on " + " | ".join(machines), fontsize=7, alpha=0.7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
