"""Comparison table, markdown and plot from fake result dicts (no measuring)."""

from __future__ import annotations

import json

import pytest

from edgevision.bench.harness import BenchResult, load_results
from edgevision.bench.report import (
    compare,
    flat_metrics,
    markdown,
    plot,
    primary_metric,
    write_markdown,
)
from edgevision.errors import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "usable_cores": 2, "platform": "Linux-test"}


def fake(label, p50, *, precision="fp32", metrics=None, size_mb=10.0, command=None, **kw):
    r = {
        "model": "deeplabv3plus_mobilenetv2",
        "label": label,
        "target": f"{label}.onnx",
        "task": "semantic",
        "backend": "onnxruntime",
        "precision": precision,
        "input": {"batch": 1, "height": 320, "width": 320},
        "threads": 2,
        "latency_ms": {
            "p50": p50,
            "p90": p50 * 1.1,
            "p99": p50 * 1.3,
            "mean": p50 * 1.02,
            "std": p50 * 0.05,
            "min": p50 * 0.9,
            "max": p50 * 1.4,
        },
        "fps": 1000 / (p50 * 1.02),
        "peak_rss_mb": 150.0,
        "size_mb": size_mb,
        "params": 2_680_000,
        "gflops": 4.3,
        "stages_ms": {"preprocess": 1.2, "inference": p50, "postprocess": 1.5, "total": p50 + 2.7},
        "metrics": metrics or {},
        "meta": {
            "command": command or f"edgevision bench {label}.onnx --json {label}.json",
            "machine": MACHINE,
            "versions": {"python": "3.11", "onnxruntime": "1.32.0"},
            "timestamp": "2025-01-01T00:00:00+00:00",
            "timed": "engine.run only",
            "runs": 50,
            "blocks": 5,
        },
    }
    r.update(kw)
    return r


def test_flat_and_primary_metric():
    det = {"bbox": {"AP": 0.3, "AP50": 0.5, "per_class_AP": {"car": 0.1}}, "num_images": 5}
    assert flat_metrics(det) == {"bbox/AP": 0.3, "bbox/AP50": 0.5}
    sem = {
        "miou": 0.6,
        "pixel_acc": 0.9,
        "num_pixels": 100,
        "per_class_iou": {"a": 0.5},
        "mean_acc": float("nan"),
        "x": None,
    }
    assert flat_metrics(sem) == {"miou": 0.6, "pixel_acc": 0.9}
    assert primary_metric([fake("a", 10, metrics=sem)]) == "miou"
    assert primary_metric([fake("a", 10), fake("b", 5, metrics=det)]) == "bbox/AP50"
    assert primary_metric([fake("a", 10, metrics={"weird": 1.0})]) == "weird"
    assert primary_metric([fake("a", 10)]) is None


def test_compare_table_text():
    rs = [
        fake("fp32", 40.0, metrics={"miou": 0.61}),
        fake("int8", 20.0, precision="int8", metrics={"miou": 0.60}),
    ]
    text = compare(rs)
    assert "fp32" in text and "int8" in text
    assert "2.00x" in text  # int8 is twice as fast as the first result
    assert "miou" in text and "0.6100" in text
    assert "Test CPU 9000" in text and "edgevision bench fp32.onnx" in text
    # BenchResult objects work too
    assert "int8" in compare([BenchResult.from_dict(r) for r in rs])


def test_clashing_labels_are_told_apart():
    rs = [fake("m", 40.0), fake("m", 20.0, precision="int8"), fake("m", 21.0, precision="int8")]
    text = compare(rs)
    assert "m (fp32)" in text
    assert "m (int8) #2" in text and "m (int8) #3" in text


def test_markdown_header_and_table(tmp_path):
    rs = [fake("fp32", 40.0, metrics={"miou": 0.61}), fake("int8", 20.0, precision="int8")]
    out = write_markdown(
        rs, tmp_path / "sub" / "t.md", written_by="edgevision bench --compare a.json b.json"
    )
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "# Benchmark results"
    assert "Measured by `edgevision bench fp32.onnx --json fp32.json`" in text
    assert "Test CPU 9000 (2 cores; Linux-test)" in text
    assert "Table written by `edgevision bench --compare a.json b.json`" in text
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 2 + len(rs)  # header, alignment, one row each
    assert table[0].count("|") == table[2].count("|")
    assert "| fp32 |" in table[2] and "| int8 |" in table[3]
    assert not list(tmp_path.glob("sub/.t.md*"))  # no temp file left behind
    assert markdown(rs, title=None).startswith("Measured by")


def test_markdown_warns_about_mixed_machines():
    other = fake("b", 10.0)
    other["meta"]["machine"] = {**MACHINE, "cpu": "Other CPU"}
    assert "different machines" in markdown([fake("a", 10.0), other])


@pytest.mark.parametrize("kind", ["accuracy", "size", "bars"])
def test_plot_writes_png(tmp_path, kind):
    if kind == "accuracy":
        rs = [
            fake("fp32", 40.0, metrics={"miou": 0.61}),
            fake("int8", 20.0, metrics={"miou": 0.6}),
            fake("none", 30.0),
        ]
    elif kind == "size":
        rs = [fake("fp32", 40.0), fake("int8", 20.0, size_mb=2.6)]
    else:
        rs = [fake("fp32", 40.0, size_mb=None), fake("int8", 20.0)]
    out = plot(rs, tmp_path / f"{kind}.png")
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kind}.png"]


def test_empty_and_bad_inputs(tmp_path):
    with pytest.raises(DataError):
        compare([])
    with pytest.raises(DataError):
        plot([], tmp_path / "x.png")


def test_load_results_single_list_and_errors(tmp_path):
    a, b = fake("a", 10.0), fake("b", 20.0)
    (tmp_path / "one.json").write_text(json.dumps(a))
    (tmp_path / "many.json").write_text(json.dumps([a, b]))
    rs = load_results([tmp_path / "one.json", tmp_path / "many.json"])
    assert [r.label for r in rs] == ["a", "a", "b"]
    assert rs[0].to_dict() == BenchResult.from_dict(a).to_dict()
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DataError, match="not a JSON file"):
        load_results([tmp_path / "bad.json"])
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match="missing"):
        load_results([tmp_path / "other.json"])
    with pytest.raises(DataError, match="not found"):
        load_results([tmp_path / "nope.json"])
