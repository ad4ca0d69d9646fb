from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgevision.config import ExportConfig  # noqa: E402
from edgevision.errors import ExportError, ModelFileError  # noqa: E402
from edgevision.export import export_onnx, read_spec  # noqa: E402
from edgevision.export.metadata import read_metadata  # noqa: E402
from edgevision.registry import create_model  # noqa: E402


def test_export_embeds_metadata_and_checks_two_shapes(tmp_path):
    rep = export_onnx(
        "deeplabv3plus_mobilenetv2",
        tmp_path / "m.onnx",
        input_size=(64, 64),
        width_mult=0.35,
        aspp_channels=16,
    )
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["task"] == "semantic" and meta["input_size"] == "64x64"
    spec = read_spec(tmp_path / "m.onnx")
    assert spec.model_kwargs["width_mult"] == 0.35 and spec.input_size == (64, 64)
    shapes = {tuple(c["input"]) for c in rep.checks}
    assert len(shapes) == 2 and all(c["max_abs_err"] < 1e-3 for c in rep.checks)
    model = onnx.load(tmp_path / "m.onnx")
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert rep.simplified
    # a registry name is the untrained architecture: marked so, and the same init each time
    assert meta["edgevision.trained"] == "0"
    torch.manual_seed(123)  # another global random state: the init does not follow it
    export_onnx("deeplabv3plus_mobilenetv2", tmp_path / "m2.onnx", input_size=(64, 64),
                width_mult=0.35, aspp_channels=16)  # fmt: skip

    def weights(p):
        return [onnx.numpy_helper.to_array(t) for t in onnx.load(p).graph.initializer]

    w1, w2 = weights(tmp_path / "m.onnx"), weights(tmp_path / "m2.onnx")
    assert len(w1) == len(w2) and all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_shipped_weights_by_name_are_marked_trained(tmp_path):
    """``export espnet_camvid`` exports the shipped checkpoint: the bench report must not
    call its numbers those of random weights."""
    cfg = ExportConfig(check=False, simplify=False)
    export_onnx("espnet_camvid", tmp_path / "e.onnx", cfg, input_size=(64, 64))
    assert read_metadata(tmp_path / "e.onnx")["edgevision.trained"] == "1"


class _Drifts(torch.nn.Module):
    """Behaves differently in ONNX than in eager mode (a Python-side branch on a tensor)."""

    def __init__(self, spec):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)
        self.spec = spec

    def forward(self, x):
        y = self.conv(x)
        # traced with the dummy's width; at another width eager and ONNX diverge
        return y * float(x.shape[-1])


def test_mismatch_fails_loudly_and_leaves_no_file(tmp_path):
    spec = create_model("deeplabv3plus_mobilenetv2", width_mult=0.35, aspp_channels=16).spec
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="disagree"):
        export_onnx(_Drifts(spec), out, ExportConfig(simplify=False))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_errors(tmp_path):
    with pytest.raises(ExportError, match=r"\.onnx"):
        export_onnx("deeplabv3plus_mobilenetv2", tmp_path / "m.txt")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(ModelFileError, match="not an ONNX file"):
        read_spec(junk)


SHAPES = ["background", "circle", "rectangle", "triangle", "star"]
TINY_MULTI = {
    "efficientps_mobilenetv2": {
        "thing_classes": SHAPES[1:], "width_mult": 0.35, "fpn_channels": 16, "head_channels": 16,
    },
    "fastdepthseg_mobilenetv2": {"width_mult": 0.35, "head_channels": 8, "max_depth": 80.0},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TINY_MULTI))
def test_panoptic_and_depthseg_export_then_evaluate_with_their_metrics(name, tmp_path):
    """Several outputs, each checked on two shapes; the file alone runs the task's
    postprocess, and ``evaluate`` adds PQ / depth metrics on synthetic truth."""
    from edgevision.data.synth import SynthConfig, generate
    from edgevision.evaluate.api import evaluate
    from edgevision.runtime import Predictor, load_engine
    from edgevision.tasks import get_task

    model = create_model(name, class_names=SHAPES, input_size=(64, 80), **TINY_MULTI[name])
    rep = export_onnx(model, tmp_path / "m.onnx")
    task = get_task(model.spec.task)
    assert {c["output"] for c in rep.checks} == set(task.output_names)
    assert len({tuple(c["input"]) for c in rep.checks}) == 2
    assert read_spec(tmp_path / "m.onnx").model_kwargs == model.spec.model_kwargs | {
        k: list(v) for k, v in model.spec.model_kwargs.items() if isinstance(v, tuple)
    }
    data = tmp_path / "synth"
    cfg = SynthConfig(seed=1, image_size=(64, 80), train_images=0, val_images=2,
                      train_videos=0, val_videos=0, write_mp4=False, depth=True, panoptic=True)  # fmt: skip
    generate(data, cfg, progress=False)
    report = evaluate(Predictor(load_engine(tmp_path / "m.onnx")), data, "val", progress=False)
    m = report.metrics
    assert 0 <= m["miou"] <= 1
    if task.eval_headline == "pq":
        assert m["pq_images"] == 2 and 0 <= m["pq"] <= 1 and report.headline == m["pq"]
        assert set(m["per_class_pq"]) == set(SHAPES)
    else:
        assert m["depth_images"] == 2 and m["rmse"] > 0 and 0 <= m["delta1"] <= 1
    assert "PQ" in report.table() or "depth RMSE" in report.table()
    # a split selector reads its base split's truth and counts only the images it scored:
    # image 1 becomes sequence "other", its truth renamed with it
    import json

    for sub, ext in (
        ("images", ".jpg"),
        ("labels", ".png"),
        ("depth", ".npy"),
        ("panoptic", ".png"),
    ):
        (data / sub / "val" / f"val_00001{ext}").rename(data / sub / "val" / f"other_00001{ext}")
    ann_file = data / "annotations/panoptic_val.json"
    ann = json.loads(ann_file.read_text())
    for a in ann["annotations"]:
        a["file_name"] = a["file_name"].replace("val_00001", "other_00001")
    ann_file.write_text(json.dumps(ann))
    (data / "val.txt").write_text("val_00000\nother_00001\n")
    key = "pq_images" if task.eval_headline == "pq" else "depth_images"
    engine = load_engine(tmp_path / "m.onnx")
    assert evaluate(Predictor(engine), data, "val", progress=False).metrics[key] == 2
    sel = evaluate(Predictor(engine), data, "val:val", progress=False)
    assert sel.num_images == 1 and sel.metrics[key] == 1
    # no scored image has that truth: no such metrics (not NaN rows)
    (data / "depth/val/val_00000.npy").unlink()
    (data / "panoptic/val/val_00000.png").unlink()
    ann["annotations"] = [a for a in ann["annotations"] if "val_00000" not in a["file_name"]]
    ann_file.write_text(json.dumps(ann))
    assert key not in evaluate(Predictor(engine), data, "val:val", progress=False).metrics
