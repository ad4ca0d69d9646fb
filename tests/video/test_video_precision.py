"""Per-frame precision policies (VideoIQ-style): parsing, the adaptive choice, sessions that
switch between ONNX Runtime component folders of different precision, the default path."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import ConfigError
from edgevision.video.modes import PER_FRAME, VideoMode, default_mode, resolve_mode
from edgevision.video.precision import (
    AdaptivePrecision,
    FixedPrecision,
    change_fraction,
    folder_precision,
    parse_precision,
)


def test_parse_precision():
    assert parse_precision("fixed:mixed") == FixedPrecision("mixed")
    assert parse_precision("adaptive") == AdaptivePrecision()
    assert parse_precision("adaptive:0.02,0.1") == AdaptivePrecision(0.02, 0.1)
    assert parse_precision("adaptive:0.02,0.1").describe() == "adaptive:0.02,0.1"
    pol = parse_precision("adaptive:0.02,0.1:small,mixed")
    assert pol == AdaptivePrecision(0.02, 0.1, tiers=("mixed", "small"))
    assert pol.describe() == "adaptive:0.02,0.1:mixed,small" and pol.needs() == ("mixed", "small")
    assert parse_precision("adaptive:mixed,small").low == 0.01
    for bad in ("fixed:fp16", "fixed", "adaptive:0.1", "adaptive:0.2,0.1", "often",
                "adaptive:mixed,tiny", "adaptive:0.1,0.2:mixed:small"):  # fmt: skip
        with pytest.raises(ConfigError):
            parse_precision(bad)


def test_adaptive_choice_follows_change_and_confidence():
    class R:
        def __init__(self, scores):
            self.scores = np.asarray(scores, np.float32)

    pol = AdaptivePrecision(low=0.01, high=0.05, min_score=0.5)
    three = ("fp32", "mixed", "int8")
    assert pol.choose(three, None) == "fp32"  # first frame: the most accurate
    assert [pol.choose(three, c) for c in (0.0, 0.02, 0.2)] == ["int8", "mixed", "fp32"]
    assert pol.choose(("fp32", "mixed"), 0.0) == "mixed"  # as far as engines are loaded
    pol.observe(R([0.3]))  # unsure result: one step more accurate
    assert [pol.choose(three, c) for c in (0.0, 0.02, 0.2)] == ["mixed", "fp32", "fp32"]
    pol.observe(R([0.9, 0.2]))
    assert pol.choose(three, 0.0) == "int8"
    pol.observe(R([]))
    assert pol.choose(three, 0.0) == "mixed"
    # tiers: only those engines, most accurate first
    tiered = AdaptivePrecision(low=0.01, high=0.05, min_score=0.0, tiers=("mixed", "small"))
    four = ("fp32", "mixed", "int8", "small")
    assert [tiered.choose(four, c) for c in (None, 0.0, 0.02, 0.2)] == [
        "mixed", "small", "small", "mixed"
    ]  # fmt: skip


def test_folder_precision_and_change_fraction():
    assert folder_precision({"a": "fp32", "b": "fp32"}) == "fp32"
    assert folder_precision({"a": "int8", "b": "int8"}) == "int8"
    assert folder_precision({"a": "int8", "warp": "fp32"}) == "int8"  # GridSample stays FP32
    assert folder_precision({"a": "int8", "b": "fp32"}) == "mixed"
    a = np.zeros((40, 60), np.uint8)
    b = a.copy()
    assert change_fraction(a, b) == 0.0
    b[:20] = 200  # half the rows
    assert change_fraction(b, a) == pytest.approx(0.5)


def test_default_mode_and_resolution():
    assert default_mode() == VideoMode("fixed:2", "dis:medium", "fixed:fp32")
    assert default_mode({"fp32", "mixed"}).precision == "fixed:mixed"
    assert default_mode({"int8"}).precision == "fixed:int8"
    assert resolve_mode(None, None, None) == default_mode()
    assert resolve_mode("fixed:5", "none", "adaptive") == VideoMode("fixed:5", False, "adaptive")
    assert PER_FRAME.label() == "per-frame, fixed:fp32"
    assert default_mode().label() == "fixed:2, dis:medium, fixed:fp32"


def _frames():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    other = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    return [base, base, base, other, other]


def test_session_switches_engines(fp32_and_mixed):
    from edgevision.video.ort import ComponentSet, OrtVideoSession

    fp32, mixed = fp32_and_mixed
    assert ComponentSet(mixed, threads=1).level == "mixed"
    kw = dict(keyframes="none", threads=1, conf_threshold=0.0, max_det=10)
    frames = _frames()
    # fixed:mixed through the FP32 folder + engines = the mixed folder on its own
    a = OrtVideoSession(fp32, engines=[mixed], precision="fixed:mixed", **kw)
    b = OrtVideoSession(mixed, **kw)
    for f in frames:
        ra, rb = a(f), b(f)
        assert a.last.precision == b.last.precision == "mixed"
        np.testing.assert_array_equal(ra.scores, rb.scores)
    # adaptive: the first frame and a changed scene on FP32, repeated frames on the cheap one
    ad = OrtVideoSession(fp32, engines=[mixed], precision=AdaptivePrecision(min_score=0.0), **kw)
    seen = []
    for f in frames:
        ad(f)
        seen.append(ad.last.precision)
    assert seen == ["fp32", "mixed", "mixed", "fp32", "mixed"]
    assert ad.counts["precision_fp32"] == 2 and ad.counts["precision_mixed"] == 3
    # combined with keyframes and DIS propagation: only keyframes run a network
    kp = OrtVideoSession(fp32, engines=[mixed], precision="fixed:mixed", threads=1,
                         keyframes="fixed:2", propagate="dis:medium")  # fmt: skip
    for f in frames:
        kp(f)
    assert kp.counts["precision_mixed"] == kp.counts["keyframes"] == 3
    assert kp.counts["propagate"] == 2
    with pytest.raises(ConfigError, match="needs an engine at int8"):
        OrtVideoSession(fp32, engines=[mixed], precision="fixed:int8", **kw)
    # the small engine: the mixed graphs at a smaller input, masks still in frame pixels
    sm = OrtVideoSession(fp32, engines=[mixed], precision="fixed:small", small_input=(32, 32),
                         **kw)  # fmt: skip
    big = OrtVideoSession(mixed, **kw)
    ra, rb = sm(frames[0]), big(frames[0])
    assert sm.last.precision == "small" and ra.masks.shape[1:] == frames[0].shape[:2]
    assert ra.scores.shape != rb.scores.shape or not np.allclose(ra.scores, rb.scores)
    assert sm.available == ("fp32", "mixed", "small")
    with pytest.raises(ConfigError, match="multiples of 32"):
        OrtVideoSession(fp32, small_input=(40, 40), **kw)
    with pytest.raises(ConfigError, match="smaller input needs DIS propagation"):
        OrtVideoSession(fp32, small_input=(32, 32), keyframes="fixed:2", threads=1)
    with pytest.raises(ConfigError, match="two mixed engines"):
        OrtVideoSession(fp32, engines=[mixed, mixed], **kw)


def test_run_video_reports_precision_share(fp32_and_mixed, video_set):
    from edgevision.video.evaluate import compare_modes

    fp32, mixed = fp32_and_mixed
    runs = compare_modes(
        str(fp32),
        video_set,
        (PER_FRAME, VideoMode("fixed:2", "dis:medium", "fixed:mixed")),
        engines=[mixed],
        conf_threshold=0.0,
    )
    assert runs[0].precision_share == {"fp32": 1.0}
    assert runs[1].precision_share == {"mixed": 0.5, "none": 0.5}
    assert runs[1].precision == "fixed:mixed" and runs[1].propagate == "dis:medium"


def test_cli_default_row_and_precision_sweep(fp32_and_mixed, video_set, tmp_path, capsys):
    import json

    from edgevision.cli.main import main

    fp32, mixed = fp32_and_mixed
    base = ["video", str(fp32), "--data", str(video_set), "--threads", "1",
            "--precision-engines", str(mixed)]  # fmt: skip
    assert main([*base, "--compare", "--json", str(tmp_path / "c.json")]) == 0
    runs = json.loads((tmp_path / "c.json").read_text())["runs"]
    # FP32 per frame first; with a mixed engine loaded the default keyframes run on it
    assert (runs[0]["keyframes"], runs[0]["precision"]) == ("none", "fixed:fp32")
    assert [r["default"] for r in runs] == [i == 1 for i in range(len(runs))]
    assert runs[1]["precision"] == "fixed:mixed" and runs[1]["propagate"] == "dis:medium"
    assert main([*base, "--precision-sweep", "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "other precisions: mixed" not in out  # the engines are in --md/--json only
    sweep = json.loads((tmp_path / "s.json").read_text())
    assert [r["precision"] for r in sweep["runs"]] == [
        "fixed:fp32", "fixed:fp32", "fixed:mixed", "adaptive:0.01,0.04"
    ]  # fmt: skip
    assert [r["default"] for r in sweep["runs"]] == [False, False, True, False]
    assert "other precisions: mixed" in sweep["engine"]
    assert main([*base[:-2], "--precision-engines", str(tmp_path)]) == 2
    assert "not a component folder" in capsys.readouterr().err
    # --small-input adds the small engine to the sweep
    assert main([*base, "--small-input", "32x32", "--precision-sweep", "--json",
                 str(tmp_path / "m.json")]) == 0  # fmt: skip
    runs = json.loads((tmp_path / "m.json").read_text())["runs"]
    assert [r["precision"] for r in runs][-2:] == ["fixed:small", "adaptive:0.01,0.04"]
    assert main([*base, "--small-input", "big"]) == 2
    assert "--small-input" in capsys.readouterr().err
