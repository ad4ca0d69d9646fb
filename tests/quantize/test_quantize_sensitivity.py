"""Sensitivity analysis and the measured search on a tiny model."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from edgevision.errors import ConfigError
from edgevision.export.metadata import read_metadata
from edgevision.quantize import QuantConfig, analyze
from edgevision.reports.sensitivity import write_report


@pytest.fixture(scope="module")
def calib(synth_images):
    return synth_images(seed=3, size=(64, 96), train=6, val=2)


@pytest.mark.slow
def test_analyze_ranks_components_and_layers(tiny_onnx, calib, tmp_path):
    rep = analyze(
        tiny_onnx,
        calib,
        QuantConfig(calib_size=2),
        top_k=3,
        max_drop=100.0,
        check_images=2,
        progress=False,
    )
    names = {s.name for s in rep.components}
    # the declared components, plus "other" for the nodes outside them (the output resize)
    assert names - {"other"} == {"backbone", "aspp", "decoder"}
    drops = [s.drop for s in rep.components]
    assert drops == sorted(drops, reverse=True)
    assert len(rep.layers) == 3 and all(s.kind == "layer" for s in rep.layers)
    assert {s.name for s in rep.all_but} == {f"all but {c}" for c in names}
    # budget of 100 points: all-INT8 is accepted, nothing excluded
    assert rep.exclude == [] and rep.proposed is rep.all_int8
    # a component quantized alone is no worse than everything quantized (SQNR, up to noise)
    assert max(s.sqnr_db for s in rep.components) >= rep.all_int8.sqnr_db - 1.0
    md = tmp_path / "sens.md"
    write_report(rep, md, "edgevision quantize --analyze")
    text = md.read_text()
    assert "most sensitive first" in text and "`backbone`" in text


def test_zero_budget_excludes_most_sensitive_first(tiny_onnx, calib, tmp_path):
    rep = analyze(
        tiny_onnx,
        calib,
        QuantConfig(calib_size=2),
        layers=False,
        max_drop=-0.0,
        check_images=2,
        progress=False,
    )
    if rep.all_int8.drop > 0:
        assert rep.exclude and rep.exclude[0] == rep.components[0].name
    else:
        assert rep.exclude == []
    js = tmp_path / "sens.json"
    write_report(rep, js, "edgevision quantize --analyze")

    def no_constants(name):
        raise ValueError(name)

    data = json.loads(js.read_text(), parse_constant=no_constants)  # strict JSON
    # 3 declared components + "other"
    assert data["model"] == "deeplabv3plus_mobilenetv2" and len(data["components"]) == 4


@pytest.mark.slow
def test_auto_search_writes_fastest_config_within_budget(tiny_onnx, calib, tmp_path):
    out = tmp_path / "auto.onnx"
    rep = analyze(
        tiny_onnx,
        calib,
        QuantConfig(calib_size=2),
        layers=False,
        max_drop=100.0,
        check_images=2,
        auto=True,
        out=out,
        bench_runs=3,
        progress=False,
    )
    assert rep.chosen is not None and rep.searched
    assert all(s.latency_ms is not None for s in rep.searched)
    ok = [s for s in rep.searched[1:] if s.drop <= 100.0]  # [0] is FP32
    assert rep.searched[0].name == "fp32"
    assert rep.chosen.latency_ms == min(s.latency_ms for s in ok)
    assert read_metadata(out)["edgevision.precision"] in ("int8", "mixed")


def test_analyze_needs_static_mode(tiny_onnx, calib):
    with pytest.raises(ConfigError, match="static"):
        analyze(tiny_onnx, calib, QuantConfig(mode="dynamic"), progress=False)


@pytest.fixture(scope="module")
def tiny_detector(calib, tmp_path_factory):
    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model
    from edgevision.train.detection import load_split

    names = load_split(calib, "train").class_names
    path = tmp_path_factory.mktemp("det") / "det.pt"
    return save_checkpoint(path, create_model("yolov5n", class_names=names, input_size=(64, 96)))


def test_detector_analysis_scores_box_ap_on_eval_data(tiny_detector, calib, tmp_path):
    """Detectors: several components, every output compared, the drop in box-AP points."""
    rep = analyze(
        tiny_detector,
        calib,
        QuantConfig(calib_size=2),
        eval_data=calib,
        layers=False,
        max_drop=100.0,
        check_images=2,
        progress=False,
    )
    assert rep.drop_measure == "box_ap" and rep.fp32_metric is not None
    assert {s.name for s in rep.components} == {"backbone", "neck", "head"}
    assert all(s.metric is not None and s.sqnr_db == s.sqnr_db for s in rep.components)
    md = tmp_path / "det.md"
    write_report(rep, md, "edgevision quantize --analyze")
    assert "box AP drop (pts)" in md.read_text()


def test_detector_analysis_needs_eval_data(tiny_detector, calib):
    with pytest.raises(ConfigError, match="need --eval-data"):
        analyze(tiny_detector, calib, QuantConfig(calib_size=2), layers=False, progress=False)


def test_output_error_takes_the_worst_of_several_outputs():
    import numpy as np

    from edgevision.quantize.ptq import output_error

    a = np.ones((2, 3, 4), np.float32)
    b = np.full((2, 5), 10.0, np.float32)
    e = output_error([a, b], [a, b * 1.1])  # first exact, second 10 % off
    assert e["rel_l2"] == pytest.approx(0.1, rel=1e-4)
    assert e["sqnr_db"] == pytest.approx(20.0, rel=1e-3)
    assert e["argmax_agreement"] != e["argmax_agreement"]  # NaN: not 4-D logits
    with pytest.raises(ValueError, match="same number"):
        output_error([a, b], [a])


@pytest.mark.slow
def test_instance_analysis_ranks_the_output_glue_as_other(calib, tmp_path, one_torch_thread):
    """YOLACT's output Concat/Softmax lie outside its components: the analysis scores them
    as "other" (on the shipped model, INT8 there alone collapses mask AP)."""
    import torch

    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model
    from edgevision.train.detection import load_split

    names = load_split(calib, "train").class_names
    torch.manual_seed(0)
    model = create_model(
        "yolact_mobilenetv2_320",
        class_names=names,
        input_size=(64, 96),
        width_mult=0.35, fpn_channels=16, proto_width=16, num_protos=4,
    )  # fmt: skip
    ckpt = save_checkpoint(tmp_path / "inst.pt", model)
    rep = analyze(
        ckpt,
        calib,
        QuantConfig(calib_size=2),
        eval_data=calib,
        layers=False,
        max_drop=100.0,
        check_images=2,
        progress=False,
    )
    assert rep.drop_measure == "mask_ap"
    names = {s.name for s in rep.components}
    assert "other" in names and {"backbone_lower", "head", "protonet"} <= names
    assert "all but other" in {s.name for s in rep.all_but}


def test_exclusions_take_other_by_either_name(tiny_detector, calib):
    """The search feeds full precision maps (keyed by mixed.OTHER) back as exclusions."""
    import tempfile
    from pathlib import Path

    from edgevision.export.components import OTHER
    from edgevision.quantize.sensitivity import _Bench

    with tempfile.TemporaryDirectory() as td:
        b = _Bench(
            tiny_detector, Path(td), QuantConfig(calib_size=2), calib, input_size=None,
            check_images=1, eval_data=calib, eval_split="val", eval_images=1, threads=1,
            progress=False,
        )  # fmt: skip
        e1, f1 = b.config_nodes(["head", OTHER])
        e2, f2 = b.config_nodes(["head", "other"])
    assert e1 == e2 and f1 == f2 and f1[OTHER] == "fp32" and f1["head"] == "fp32"
