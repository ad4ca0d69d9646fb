"""The torch eager "usual way" segmentation reference: logits upsampled, then argmax."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.bench.seg_reference import TorchLogitsReference  # noqa: E402
from edgevision.config import BenchConfig  # noqa: E402
from edgevision.errors import ConfigError  # noqa: E402


def _engine(name="ddrnet23_slim", **kw):
    from edgevision.registry import create_model
    from edgevision.runtime.torch import TorchEngine

    torch.manual_seed(0)
    return TorchEngine(create_model(name, **kw), threads=1)


def test_labels_are_the_argmax_of_bilinearly_upsampled_logits(one_torch_thread):
    import torch.nn.functional as F

    eng = _engine(input_size=(64, 96))
    ref = TorchLogitsReference(eng)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    labels, st = ref.timed(image)
    assert labels.shape == (64, 96)
    assert set(st) == {"preprocess", "inference", "postprocess"}
    assert all(v > 0 for v in st.values())
    # the same label map by hand: normalise, network, upsample all logits, argmax
    spec = eng.spec
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = eng.runner(x)
        logits = logits["out"] if isinstance(logits, dict) else logits
    assert logits.shape[-2:] != (64, 96)  # the network's output is coarser: upsampling matters
    want = F.interpolate(logits, size=(64, 96), mode="bilinear", align_corners=False).argmax(1)
    assert np.array_equal(labels, want[0].numpy())


def test_reference_needs_torch_and_a_semantic_model():
    with pytest.raises(ConfigError, match="backend torch"):
        BenchConfig(semantic_reference=True)
    assert BenchConfig(backend="torch", semantic_reference=True).semantic_reference

    class _Ort:
        backend = "onnxruntime"
        spec = _engine().spec

    with pytest.raises(ConfigError, match="backend torch"):
        TorchLogitsReference(_Ort())
    with pytest.raises(ConfigError, match="semantic"):
        TorchLogitsReference(_engine("yolo_ret_m075"))
