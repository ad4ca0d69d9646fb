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
