"""YOLACT export adapter: every component graph loads on its own and the parts compose to the
model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from edgevision.registry import create_model  # noqa: E402

TINY = {
    "width_mult": 0.35,
    "fpn_channels": 16,
    "proto_width": 16,
    "num_protos": 4,
    "flow_width": 16,
}


def test_components_compose_to_the_full_model(tmp_path, one_torch_thread):
    from edgevision.export.metadata import read_metadata
    from edgevision.export.yolact import export_components

    m = create_model(
        "yolact_mobilenetv2_320", class_names=["a", "b"], input_size=(64, 64), video=True, **TINY
    )
    parts = {p.name: p for p in export_components(m, tmp_path, input_size=(64, 64))}
    assert set(parts) == {
        "backbone_lower",
        "backbone_upper",
        "fpn",
        "fpn_partial",
        "fpn_extra",
        "protonet",
        "head",
        "warp",
        "featflownet",
    }
    assert read_metadata(parts["protonet"].path)["edgevision.component"] == "protonet"
    run = {
        n: ort.InferenceSession(str(p.path), providers=["CPUExecutionProvider"])
        for n, p in parts.items()
    }
    x = np.random.default_rng(0).standard_normal((1, 3, 96, 64)).astype(np.float32)  # another size
    (c3,) = run["backbone_lower"].run(None, {"images": x})
    c4, c5 = run["backbone_upper"].run(None, {"c3": c3})
    p3, p4, p5, p6, p7, t4 = run["fpn"].run(None, {"c3": c3, "c4": c4, "c5": c5})
    heads = [run["head"].run(None, {"p": p}) for p in (p3, p4, p5, p6, p7)]
    loc = np.concatenate([h[0] for h in heads], 1)
    (protos,) = run["protonet"].run(None, {"p3": p3})
    with torch.no_grad():
        ref = [o.numpy() for o in m.export_adapter()(torch.from_numpy(x))]
    assert np.allclose(loc, ref[0], atol=1e-4) and np.allclose(protos, ref[3], atol=1e-4)
    # the partial transform with zero flow reproduces P3 from C3 and the (unwarped) T4
    (t4w,) = run["warp"].run(
        None, {"feat": t4, "flow": np.zeros((1, 2, *t4.shape[-2:]), np.float32)}
    )
    (p3b,) = run["fpn_partial"].run(None, {"c3": c3, "t4": t4w})
    assert np.allclose(p3b, p3, atol=1e-4)
    from edgevision.models.flow.warp import warp

    fl = np.random.default_rng(1).standard_normal((1, 2, *p4.shape[-2:])).astype(np.float32)
    (w4,) = run["warp"].run(None, {"feat": p4, "flow": fl})
    assert np.allclose(w4, warp(torch.from_numpy(p4), torch.from_numpy(fl)).numpy(), atol=1e-4)
    flows = run["featflownet"].run(None, {"key_c3": c3, "cur_c3": c3})
    assert [f.shape[-2:] for f in flows] == [c3.shape[-2:], p4.shape[-2:], p5.shape[-2:]]
