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
    assert "`val` split through" in text  # no data folder given: no sequences named


def test_page_names_the_sequences_it_scored(tmp_path):
    """With the data folder, the page says which street sequences the split holds (an
    in-sequence val is visible as such)."""
    for name in ("0016E5_00001", "0016E5_00002", "0001TP_00001"):
        (tmp_path / "d" / "images" / "val").mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / "images" / "val" / f"{name}.png").write_bytes(b"")
    comp = ModelComparison(
        label="tiny", checkpoint="tiny.pt", model="deeplabv3plus_mobilenetv2",
        results={"fp32": _result("fp32", 10.0, 0.60, 8.0)},
    )  # fmt: skip
    md = write_page(
        [comp], tmp_path / "q.md", options=CompareOptions(), command="c", data=tmp_path / "d"
    )
    assert "`val` split (sequences: 0001TP 1, 0016E5 2) through" in md.read_text()


def test_page_names_each_models_calibration_folder(tmp_path):
    comp = ModelComparison(
        label="tiny", checkpoint="tiny.pt", model="deeplabv3plus_mobilenetv2",
        results={"fp32": _result("fp32", 10.0, 0.60, 8.0)},
    )  # fmt: skip
    opts = CompareOptions(
        calib_split="train-0006R0", calib_data="camvid",
        calib_data_for={"tiny": "runs/mix"}, calib_split_for={"tiny": "train"},
    )  # fmt: skip
    text = write_page([comp], tmp_path / "q.md", options=opts, command="c").read_text()
    where = "of `camvid` (per model: `tiny`: `train` of `runs/mix`)"
    assert f"calibration on 100 `train-0006R0` images {where}" in text
    assert f"batch 8) on `train-0006R0` {where}" in text
    # no default folder: the others use the scored folder (said in words, not as a path)
    opts = CompareOptions(calib_split_for={"tiny": "train-0006R0"})
    text = write_page([comp], tmp_path / "q.md", options=opts, command="c").read_text()
    assert "`train` images (per model: `tiny`: `train-0006R0` of the scored folder)" in text


def test_study_shaped_tables_quote_the_study_beside_ours(tmp_path):
    """Tables 2 and 3 in the study's shape: one row per model, a cell per mode, the study's
    row under each architecture it has (ESPNet: none), skipped modes said so."""
    from edgevision.reports.field_study import STUDY, study_row
    from edgevision.reports.quantization import study_table2, study_table3

    fp32 = _result("fp32", 10.0, 0.60, 8.0)
    ddr = ModelComparison(
        label="ddr", checkpoint="ddr.pt", model="ddrnet23_slim", task="semantic",
        results={"fp32": fp32, "qat": _result("qat", 5.0, 0.58, 2.0),
                 "static": {**_result("static", 4.0, 0.55, 2.4), "peak_rss_mb": 201.0}},
    )  # fmt: skip
    esp = ModelComparison(
        label="esp", checkpoint="esp.onnx", model="espnet", task="semantic",
        results={"fp32": fp32, "static": _result("static", 4.0, 0.59, 2.0)},
        skipped={"qat": "ONNX input; QAT fine-tunes a checkpoint"},
    )  # fmt: skip
    t2 = study_table2([ddr, esp])
    assert t2[0] == "| model | FP32 | QAT | static PTQ |"
    assert t2[2] == (
        "| ours: ddr (`ddrnet23_slim`) | 60.0 / 8.00 MB / 100.0 | 58.0 / 2.00 MB / 200.0 "
        "| 55.0 / 2.40 MB / 250.0 |"
    )
    assert t2[3] == (
        "| *study: DDRNet* | *78.2 / 7.5 MB / 82.7* | *73.4 / 3.75 MB / 160.2* "
        "| *71.0 / 3.2 MB / 185.3* |"
    )
    assert t2[4].startswith("| ours: esp (`espnet`) | 60.0 / 8.00 MB / 100.0 | not made: ONNX")
    assert len(t2) == 5  # the study has no ESPNet row
    t3 = study_table3([ddr, esp])
    assert t3[0] == "| model | QAT | static PTQ |"
    # model RSS 18 MiB (fp32) -> 12 MiB (qat, 202 - 190) = 33 % less; static: 201 - 190 = 11
    assert t3[2] == "| ours: ddr (`ddrnet23_slim`) | -2.0 / 75.0 % / 33 % | -5.0 / 70.0 % / 39 % |"
    assert t3[3] == "| *study: DDRNet* | *-3.3 / 9.7 % / 44 %* | *-3.3 / 13.3 % / 22 %* |"
    assert [study_row(n).name for n in ("liteseg_mobilenetv2", "efficientps_mobilenetv2",
            "fastdepthseg_mobilenetv2", "deeplabv3plus_mobilenetv2")] == [
        "LiteSeg", "EfficientPS", "FastDepthSeg", "DeepLab V3+"]  # fmt: skip
    assert study_row("espnet") is None and len(STUDY) == 5
    text = write_page(
        [ddr, esp], tmp_path / "q.md", options=CompareOptions(), command="edgevision compare"
    ).read_text()
    assert "shape)" in text and "004_5cf3244c05509ab7.txt" in text
    assert "semantic mIoU of the class map" not in text  # semantic models only
    assert "## Task metrics" not in text


def test_multi_head_models_say_what_their_miou_is(tmp_path):
    pan = ModelComparison(
        label="eps", checkpoint="eps.pt", model="efficientps_mobilenetv2", task="panoptic",
        results={"fp32": _result("fp32", 10.0, 0.60, 8.0)},
    )  # fmt: skip
    pan.results["fp32"]["metrics"] = {"miou": 0.6, "pq": 0.512, "sq": 0.8, "rq": 0.64}
    text = write_page(
        [pan], tmp_path / "q.md", options=CompareOptions(), command="edgevision compare"
    ).read_text()
    assert "For *panoptic segmentation* models, mIoU is the semantic mIoU" in text
    assert "| model | mode | mIoU | PQ | SQ | RQ |" in text
    assert "| eps | FP32 | 60.00 | 51.2 | 80.0 | 64.0 |" in text


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
