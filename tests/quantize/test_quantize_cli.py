"""``edgevision quantize`` command: outputs, one-line errors with exit 2, no partial files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from edgevision.cli.main import main


@pytest.fixture(scope="module")
def calib(synth_images):
    return synth_images(seed=3, size=(64, 96), train=6, val=2)


def test_help_explains_types(capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "U8 activations" in out and "--calib-size" in out and "--precision" in out


def test_static_cli_writes_model_and_json(tiny_onnx, calib, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    js = tmp_path / "q.json"
    rc = main(
        [
            "quantize",
            str(tiny_onnx),
            "-o",
            str(out),
            "--calib-data",
            str(calib),
            "--calib-size",
            "2",
            "--precision",
            "aspp=fp32",
            "--json",
            str(js),
            "--quiet",
        ]
    )
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "wrote" in text and "SQNR" in text and "aspp=fp32" in text
    rec = json.loads(js.read_text())
    assert rec["precision"]["aspp"] == "fp32" and rec["mode"] == "static"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--calib-data", "{missing}"], "calibration folder not found"),
        (["--calib-data", "{empty}"], "no images in calibration folder"),
        (["--calib-data", "{calib}", "--calib-size", "999"], "fewer than --calib-size"),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "neck=fp32"],
            "unknown component 'neck'",
        ),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp=int3"],
            "unknown precision 'int3'",
        ),
        (
            ["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp"],
            "malformed precision item",
        ),
        (["--calib-data", "{calib}", "--calib-size", "2", "--precision", "aspp=fp16"], "fp16"),
        ([], "needs calibration images"),
        (["--mode", "qat"], "needs --train-data"),
        (["--mode", "qat", "--train-data", "{calib}"], "not an ONNX file"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_onnx, calib, tmp_path, capsys, extra, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    subs = {"{missing}": str(tmp_path / "nope"), "{empty}": str(empty), "{calib}": str(calib)}
    args = [subs.get(a, a) for a in extra]
    out = tmp_path / "never.onnx"
    rc = main(["quantize", str(tiny_onnx), "-o", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert err.startswith("edgevision quantize: error:")
    assert not out.exists()


def test_missing_model_file_exit_2(tmp_path, calib, capsys):
    rc = main(
        [
            "quantize",
            str(tmp_path / "no.onnx"),
            "-o",
            str(tmp_path / "o.onnx"),
            "--calib-data",
            str(calib),
        ]
    )
    assert rc == 2
    assert "not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shapes_seg(tmp_path_factory, synth_images):
    """A tiny untrained DeepLabV3+ on the synthetic shape classes (so the synthetic val split
    scores it) and its dataset: ``(fp32.onnx, dataset folder)``.

    Its class logits are nearly tied (classifier weights ×0.01, every bias 5), so INT8's
    output step flips the argmax of many pixels: NNCF's first INT8 model is outside a small
    budget and its accuracy restorer must rank and revert quantizers.
    """
    import torch

    from edgevision.data.synth import SEMANTIC_CLASSES
    from edgevision.export import export_onnx
    from edgevision.registry import create_model

    torch.manual_seed(0)
    model = create_model(
        "deeplabv3plus_mobilenetv2",
        class_names=list(SEMANTIC_CLASSES),
        input_size=(64, 96),
        width_mult=0.35,
        aspp_channels=32,
    ).eval()
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        classifier.weight.mul_(0.01)
        classifier.bias.fill_(5.0)
    out = tmp_path_factory.mktemp("acc-control") / "seg.onnx"
    export_onnx(model, out)
    return out, synth_images(seed=5, size=(64, 96), train=4, val=3)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_nncf_accuracy_control_end_to_end(shapes_seg, tmp_path, capsys, backend):
    """``--engine nncf --max-drop``: a QDQ file that the scoring engine runs, the FP32 and
    INT8 mIoU that NNCF was given equal to the project's own evaluation of both files on
    that engine (``--control-backend``), the INT8 file within the budget there, and the mode
    and engine named in the JSON, the file and the printout."""
    pytest.importorskip("nncf")
    if backend == "openvino":
        pytest.importorskip("openvino")
    from edgevision.evaluate import evaluate
    from edgevision.export.metadata import read_metadata
    from edgevision.quantize.ptq import QUANT_KEY
    from edgevision.runtime import Predictor, load_engine

    fp32, data = shapes_seg
    out, js = tmp_path / "ac.onnx", tmp_path / "ac.json"
    budget = 0.01
    rc = main(
        ["quantize", str(fp32), "-o", str(out), "--engine", "nncf", "--max-drop", str(budget),
         "--calib-data", str(data), "--calib-size", "4", "--json", str(js), "--quiet",
         "--control-backend", backend]
    )  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert f"accuracy control (nncf, --max-drop 0.01, scored on {backend}): miou FP32" in text
    assert res_backend(js) == backend
    res = json.loads(js.read_text())
    ac = res["accuracy_control"]
    assert res["config"]["max_drop"] == budget and ac["max_drop"] == budget
    # FP32, INT8, then candidates with quantizer groups reverted (the restorer ran)
    assert ac["images"] == 3 and ac["split"] == "val" and ac["models_scored"] > 3, ac
    rec = json.loads(read_metadata(out)[QUANT_KEY])
    assert rec["tool"] == "nncf" and rec["accuracy_control"] == ac
    assert res["mode"] == "static" and res["nodes"]["quantized_ops"] > 10  # QDQ INT8
    assert load_engine(out, backend="onnxruntime").precision == "int8"

    def miou(path):
        p = Predictor(load_engine(path, backend=backend))
        return 100 * evaluate(p, data, "val", progress=False).headline

    assert ac["fp32"] == pytest.approx(miou(fp32), abs=1e-6)
    assert ac["int8"] == pytest.approx(miou(out), abs=1e-6)
    assert ac["drop"] == pytest.approx(ac["fp32"] - ac["int8"], abs=1e-6)
    assert ac["drop"] <= budget + 1e-6
    # the fully quantized model came first; what NNCF reverted is visible in the file
    assert ac["int8_initial"] is not None and ac["reverted"] >= 0
    # the restorer ran (models_scored > 3): the all-INT8 model was over budget, and the
    # returned one has fewer quantizers than it
    assert ac["fp32"] - ac["int8_initial"] > budget and ac["reverted"] > 0, ac
    assert f"before control: all-INT8 miou {ac['int8_initial']:.2f}" in text


def res_backend(js):
    return json.loads(js.read_text())["accuracy_control"]["backend"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max-drop", "1"], "--max-drop (accuracy control) needs --engine nncf"),
        (["--control-backend", "openvino"], "--control-backend chooses the engine"),
        (["--max-drop", "1", "--mode", "dynamic"], "needs --engine nncf --mode static"),
        (["--max-drop", "0", "--engine", "nncf"], "max_drop must be > 0"),
    ],
)
def test_max_drop_config_errors_are_one_line_exit_2(
    tiny_onnx, calib, tmp_path, capsys, extra, message
):
    out = tmp_path / "never.onnx"
    rc = main(
        ["quantize", str(tiny_onnx), "-o", str(out), "--calib-data", str(calib), "--quiet", *extra]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()
