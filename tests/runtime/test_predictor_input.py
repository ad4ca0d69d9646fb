"""A model whose input is not an image batch is refused when its Predictor is made."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("dims", [["batch", 3, "hw"], ["b", 3, "t", "h", "w"], ["b", 1, "h", "w"]])
def test_input_that_is_not_nchw_rgb_is_one_line(tmp_path, dims):
    import onnx
    from onnx import TensorProto, helper

    from edgevision.config import ModelSpec
    from edgevision.errors import ModelFileError
    from edgevision.runtime import Predictor, load_engine

    g = helper.make_graph(
        [helper.make_node("Relu", ["images"], ["logits"])],
        "t",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, dims)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    spec = ModelSpec(
        name="t", task="semantic", class_names=["a", "b", "c"], input_size=(32, 32),
        postprocess="semantic_argmax",
    )  # fmt: skip
    m.metadata_props.add(key="edgevision.spec", value=spec.to_json())
    path = tmp_path / "bad.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ModelFileError, match=r"bad\.onnx: input .* is not an image batch"):
        Predictor(load_engine(path))


def test_path_input_bgr_flag_and_options_checked_at_construction(tmp_path, tiny_onnx):
    """A path is read; ``bgr=True`` takes OpenCV's order; ``conf`` on a semantic model and
    unknown options fail when the Predictor is made, not at the first image."""
    import numpy as np

    from edgevision.errors import ConfigError
    from edgevision.io import write_image
    from edgevision.runtime import Predictor, load_engine

    eng = load_engine(tiny_onnx)
    rgb = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    p = Predictor(eng)
    want = p(rgb).class_map
    assert (p(tmp_path / "a.png").class_map == want).all()
    assert (p(str(tmp_path / "a.png")).class_map == want).all()
    bgr = Predictor(eng, bgr=True)
    assert (bgr(np.ascontiguousarray(rgb[..., ::-1])).class_map == want).all()
    assert (bgr(tmp_path / "a.png").class_map == want).all()  # files are decoded as BGR then
    with pytest.raises(
        ConfigError, match="'conf' does not apply .*semantic_argmax.*takes: upsample"
    ):
        Predictor(eng, conf=0.3)
    with pytest.raises(ValueError, match="a path: read it first"):
        p(np.asarray("street.png"))
