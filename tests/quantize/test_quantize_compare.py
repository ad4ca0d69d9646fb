"""``edgevision compare``: four variants made, measured, tabulated; cache reuse; bad input;
the multi-head models (panoptic, depthseg) from a checkpoint and from an ONNX file."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402
from edgevision.errors import ConfigError, EdgeVisionError  # noqa: E402
from edgevision.quantize.compare import (  # noqa: E402
    CompareOptions,
    checkpoint_label,
    compare_modes,
)


@pytest.fixture(scope="module")
def synth(synth_images):
    return synth_images(seed=7, size=(64, 64), train=4, val=2)


@pytest.fixture(scope="module")
def tiny_ckpt(synth, tmp_path_factory):
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


FAST = dict(
    calib_size=2, qat_epochs=1, qat_batch_size=2, runs=2, blocks=2, warmup=0, reference=False
)


def test_cli_writes_both_tables_plot_and_json(synth, tiny_ckpt, tmp_path, one_torch_thread):
    md, js, work = tmp_path / "q.md", tmp_path / "q.json", tmp_path / "work"
    rc = main(
        [
            "compare", str(tiny_ckpt), "--data", str(synth), "--calib-size", "2",
            "--qat-batch-size", "2", "--runs", "2", "--blocks", "2", "--warmup", "0",
            "--work", str(work), "--md", str(md), "--json", str(js),
        ]
    )  # fmt: skip
    assert rc == 0
    text = md.read_text()
    assert "Table 2" in text and "Table 3" in text and "edgevision compare" in text
    for title in ("FP32", "QAT", "static PTQ", "dynamic PTQ"):
        assert f"| tiny | {title} |" in text
    assert md.with_suffix(".png").stat().st_size > 1000
    data = json.loads(js.read_text())
    (model,) = data["models"]
    assert list(model["results"]) == ["fp32", "qat", "static", "dynamic"]
    for mode, r in model["results"].items():
        assert 0.0 <= r["metrics"]["miou"] <= 1.0 and r["fps"] > 0
        assert r["precision"] == ("fp32" if mode == "fp32" else "int8")
    # INT8 files are far smaller than the FP32 one
    sizes = {m: r["size_mb"] for m, r in model["results"].items()}
    assert sizes["static"] < 0.6 * sizes["fp32"] and sizes["qat"] < 0.6 * sizes["fp32"]
    for mode in ("fp32", "qat", "static", "dynamic"):
        assert (work / "tiny" / f"{mode}.onnx").is_file()
    # the torch eager reference, timed end to end, and every variant's speed-up over it
    ref = model["reference"]
    assert ref["backend"] == "torch" and ref["stages_ms"]["total"] > 0
    assert "## End to end vs the usual way" in text
    assert "| tiny | reference: torch eager FP32, logits upsampled then argmax |" in text
    assert text.count("| tiny | ours: ONNX Runtime ") == 4


def test_variant_cache_follows_checkpoint_and_recipe(synth, tiny_ckpt, tmp_path, one_torch_thread):
    work = tmp_path / "work"
    logs: list[str] = []
    opts = CompareOptions(modes=("fp32", "static"), **FAST)
    compare_modes([tiny_ckpt], synth, work=work, options=opts, progress=False, log=logs.append)
    assert not any(" reused (" in x for x in logs)
    logs.clear()
    compare_modes([tiny_ckpt], synth, work=work, options=opts, progress=False, log=logs.append)
    assert sum(" reused (" in x for x in logs) == 2
    logs.clear()
    opts2 = CompareOptions(modes=("fp32", "static"), **{**FAST, "calib_size": 3})
    compare_modes([tiny_ckpt], synth, work=work, options=opts2, progress=False, log=logs.append)
    assert any("fp32 reused (" in x for x in logs) and any("making static" in x for x in logs)
    # calibration images from another folder: a new static file, the scored folder unchanged
    import shutil

    other = tmp_path / "calib"
    shutil.copytree(synth, other)
    logs.clear()
    opts3 = CompareOptions(modes=("fp32", "static"), calib_data=str(other), **FAST)
    (comp,) = compare_modes(
        [tiny_ckpt], synth, work=work, options=opts3, progress=False, log=logs.append
    )
    assert any("fp32 reused (" in x for x in logs) and any("making static" in x for x in logs)
    assert comp.results["static"]["metrics"]["miou"] >= 0
    with pytest.raises(EdgeVisionError, match="--calib-data"):
        compare_modes(
            [tiny_ckpt], synth, work=work, progress=False,
            options=CompareOptions(modes=("fp32",), calib_data=str(tmp_path / "none"), **FAST),
        )  # fmt: skip
    with pytest.raises(EdgeVisionError, match="nope"):
        compare_modes(
            [tiny_ckpt], synth, work=work, progress=False,
            options=CompareOptions(modes=("fp32",), calib_data=str(other), calib_split="nope",
                                   **FAST),
        )  # fmt: skip


def test_calibration_folder_per_model(synth, tiny_ckpt, tmp_path, one_torch_thread, capsys):
    """``--calib-data LABEL=DIR``: that model calibrates on its own folder (recorded in its
    variant's cache key), the others on the default; a label no model has is refused with
    one line before anything is made."""
    import shutil

    other = tmp_path / "calib"
    shutil.copytree(synth, other)
    twin = tmp_path / "twin.pt"
    shutil.copyfile(tiny_ckpt, twin)
    work = tmp_path / "work"
    opts = CompareOptions(
        modes=("fp32", "static"), calib_data_for={"twin": str(other)},
        calib_split_for={"twin": "val"}, **FAST,
    )  # fmt: skip
    compare_modes([tiny_ckpt, twin], synth, work=work, options=opts, progress=False)

    def calib_key(label):
        return json.loads((work / label / "variants.json").read_text())["static"]["key"]

    assert calib_key("twin")["calib_data"] == str(other.resolve())
    assert "calib_data" not in calib_key("tiny")  # the scored folder, as without the option
    assert calib_key("twin")["recipe"]["split"] == "val"
    assert calib_key("tiny")["recipe"]["split"] == "train"
    out = tmp_path / "q"
    rc = main(
        ["compare", str(tiny_ckpt), "--data", str(synth), "--modes", "fp32,static",
         "--calib-data", f"nosuch={other}", "--work", str(out / "w"), "--md", str(out / "q.md")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "no model labelled 'nosuch' (labels: tiny)" in err
    assert not (out / "w").exists() and not (out / "q.md").exists()
    rc = main(
        ["compare", str(tiny_ckpt), "--data", str(synth), "--calib-data", str(other),
         "--calib-data", str(synth), "--md", str(out / "q.md")]
    )  # fmt: skip
    assert rc == 2 and "--calib-data given twice for the default" in capsys.readouterr().err
    rc = main(
        ["compare", str(tiny_ckpt), "--data", str(synth), "--calib-split", "tiny=nope",
         "--modes", "fp32,static", "--calib-data", str(other), "--work", str(out / "w"),
         "--md", str(out / "q.md")]
    )  # fmt: skip
    assert rc == 2 and "nope" in capsys.readouterr().err and not (out / "w").exists()
    rc = main(
        [
            "compare",
            str(tiny_ckpt),
            "--data",
            str(synth),
            "--calib-split",
            "tiny=nope",
            "--modes",
            "fp32,static",
            "--work",
            str(out / "w"),
            "--md",
            str(out / "q.md"),
        ]
    )  # fmt: skip  (no --calib-data: the split of the scored folder is checked as early)
    assert rc == 2 and "nope" in capsys.readouterr().err and not (out / "w").exists()


def test_bad_input(tiny_ckpt, synth, tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown mode"):
        CompareOptions(modes=("fp32", "fp8"))
    assert CompareOptions(modes=("static",)).modes == ("fp32", "static")
    rc = main(["compare", str(tmp_path / "missing.pt"), "--data", str(synth)])
    assert rc == 2 and "model file not found" in capsys.readouterr().err
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"x")
    rc = main(["compare", str(onnx_file), "--data", str(synth)])
    assert rc == 2 and "not an ONNX file" in capsys.readouterr().err
    other = tmp_path / "m.txt"
    other.write_bytes(b"x")
    rc = main(["compare", str(other), "--data", str(synth)])
    assert rc == 2 and "not a checkpoint (.pt/.safetensors) or an FP32 .onnx" in (
        capsys.readouterr().err
    )
    rc = main(["compare", str(tiny_ckpt), "--data", str(tmp_path / "nodata")])
    assert rc == 2 and "nodata" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_openvino_rows_run_the_same_files(synth, tiny_ckpt, tmp_path, one_torch_thread):
    pytest.importorskip("openvino")
    from edgevision.reports.quantization import write_page

    work = tmp_path / "work"
    opts = CompareOptions(modes=("static", "ov_fp32", "ov_int8"), **FAST)
    (c,) = compare_modes([tiny_ckpt], synth, work=work, options=opts, progress=False)
    assert list(c.results) == ["fp32", "static", "ov_fp32", "ov_int8"]
    engines = {m: (r["backend"], r["precision"]) for m, r in c.results.items()}
    assert engines == {
        "fp32": ("onnxruntime", "fp32"),
        "static": ("onnxruntime", "int8"),
        "ov_fp32": ("openvino", "fp32"),
        "ov_int8": ("openvino", "int8"),
    }
    # the same files (no file of their own), scored alike
    assert sorted(p.name for p in (work / "tiny").glob("*.onnx")) == ["fp32.onnx", "static.onnx"]
    assert c.results["ov_fp32"]["size_mb"] == c.results["fp32"]["size_mb"]
    assert c.miou("ov_fp32") == pytest.approx(c.miou("fp32"), abs=0.01)
    assert c.miou("ov_int8") == pytest.approx(c.miou("static"), abs=0.05)
    md = write_page([c], tmp_path / "q.md", options=opts, command="edgevision compare")
    text = md.read_text()
    assert (
        "| tiny | OpenVINO FP32 |" in text and "| tiny | OpenVINO INT8 (static PTQ file) |" in text
    )
    assert "OpenVINO rows run the FP32 file" in text


def test_openvino_rows_bad_requests(synth, tiny_ckpt, tmp_path, monkeypatch):
    from edgevision.errors import BackendUnavailable
    from edgevision.runtime import base

    with pytest.raises(ConfigError, match="ov_int8 runs the static file"):
        CompareOptions(modes=("ov_int8",))
    work = tmp_path / "work"
    monkeypatch.setattr("edgevision.host.cpu_flags", lambda: ["avx2"])
    monkeypatch.setattr(base, "list_backends", lambda: {"onnxruntime": True, "openvino": True})
    with pytest.raises(ConfigError, match="no BF16 instructions"):
        compare_modes([tiny_ckpt], synth, work=work, options=CompareOptions(modes=("ov_bf16",)))
    monkeypatch.setattr(base, "list_backends", lambda: {"onnxruntime": True, "openvino": False})
    with pytest.raises(BackendUnavailable, match="edgevision\\[openvino\\]"):
        compare_modes([tiny_ckpt], synth, work=work, options=CompareOptions(modes=("ov_fp32",)))
    assert not work.exists()  # checked before any variant is made


def test_label_of_best_and_shipped_files():
    assert checkpoint_label("runs/ddr_cb/best.pt") == "ddr_cb"
    assert checkpoint_label("weights/ddr/ddr.safetensors") == "ddr"


SHAPES = ["background", "circle", "rectangle", "triangle", "star"]


@pytest.fixture(scope="module")
def multi_synth(tmp_path_factory):
    """Synthetic images with panoptic and depth truth (so PQ and depth metrics are scored)."""
    from edgevision.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("msynth") / "ds"
    cfg = SynthConfig(seed=7, image_size=(64, 64), train_images=4, val_images=2,
                      train_videos=0, val_videos=0, depth=True, panoptic=True)  # fmt: skip
    generate(out, cfg, progress=False)
    return out


def test_panoptic_checkpoint_and_depthseg_onnx(multi_synth, tmp_path, one_torch_thread):
    """A tiny untrained EfficientPS checkpoint gets every requested variant; a FastDepthSeg
    FP32 ONNX file gets FP32 and static PTQ, and QAT is reported as not made (it needs a
    checkpoint); both are scored by mIoU and by their own metrics; the page quotes the study."""
    from edgevision.checkpoint import save_checkpoint
    from edgevision.export import export_onnx
    from edgevision.registry import create_model
    from edgevision.reports.quantization import write_page

    torch.manual_seed(0)
    pan = create_model("efficientps_mobilenetv2", class_names=SHAPES, input_size=(64, 64),
                       thing_classes=SHAPES[1:], width_mult=0.35, fpn_channels=16,
                       head_channels=16)  # fmt: skip
    ckpt = save_checkpoint(tmp_path / "pan.pt", pan)
    fds = create_model("fastdepthseg_mobilenetv2", class_names=SHAPES, input_size=(64, 64),
                       width_mult=0.35, head_channels=8)  # fmt: skip
    onnx_file = tmp_path / "fds.onnx"
    export_onnx(fds, onnx_file)
    logs: list[str] = []
    opts = CompareOptions(modes=("fp32", "qat", "static"), **{**FAST, "blocks": 1})
    comps = compare_modes([ckpt, onnx_file], multi_synth, work=tmp_path / "w", options=opts,
                          progress=False, log=logs.append)  # fmt: skip
    p, d = comps
    assert (p.task, d.task) == ("panoptic", "depthseg")
    assert list(p.results) == ["fp32", "qat", "static"] and not p.skipped
    assert list(d.results) == ["fp32", "static"] and set(d.skipped) == {"qat"}
    assert any("fds: QAT not made" in x for x in logs)
    for c in comps:
        for r in c.results.values():
            assert 0.0 <= r["metrics"]["miou"] <= 1.0
    assert all(0.0 <= r["metrics"]["pq"] <= 1.0 for r in p.results.values())
    assert all(r["metrics"]["rmse"] > 0 for r in d.results.values())
    md = write_page(comps, tmp_path / "q.md", options=opts, command="edgevision compare")
    text = md.read_text()
    assert "| ours: pan (`efficientps_mobilenetv2`) |" in text
    assert "| *study: EfficientPS* | *72.3 / 4.3 MB / 23.5* | *68.7 / 2.15 MB / 45.9* |" in text
    assert "| *study: FastDepthSeg* | *-2.2 / 2.3 % / 42 %* | *-3.3 / 10.5 % / 14 %* |" in text
    assert "not made: ONNX input; QAT fine-tunes a checkpoint" in text
    assert "*panoptic segmentation* models, mIoU is the semantic mIoU" in text
    assert "## Task metrics of the multi-head models" in text and "| pan | QAT |" in text


def test_non_dense_model_is_refused_before_quantizing(synth, tmp_path, capsys):
    from edgevision.export import export_onnx

    det = tmp_path / "det.onnx"
    export_onnx("yolov5n", det, input_size=(64, 64))
    rc = main(["compare", str(det), "--data", str(synth), "--work", str(tmp_path / "w"),
               "--md", str(tmp_path / "q.md")])  # fmt: skip
    assert rc == 2 and "compare is for dense (segmentation) models" in capsys.readouterr().err
    assert not (tmp_path / "w" / "det" / "static.onnx").exists()
