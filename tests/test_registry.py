from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from edgevision import registry
from edgevision.errors import ConfigError, ModelNotFoundError


def test_listing_is_lazy():
    code = (
        "import sys; from edgevision.registry import list_models; n = list_models(); "
        "assert n, n; assert 'torch' not in sys.modules, 'list_models imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_manifest_matches_registrations():
    pytest.importorskip("torch")
    for name, module in registry.MANIFEST.items():
        importlib.import_module(module)
        assert name in registry._REGISTRY, f"{module} does not register {name}"
    assert set(registry._REGISTRY) >= set(registry.MANIFEST)


def test_glob_and_task_filter():
    names = registry.list_models("deeplab*")
    assert "deeplabv3plus_mobilenetv2" in names
    assert registry.list_models("zzz*") == []
    pytest.importorskip("torch")
    assert "deeplabv3plus_mobilenetv2" in registry.list_models(task="semantic")
    assert "deeplabv3plus_mobilenetv2" not in registry.list_models(task="detect")


def test_duplicate_name_raises():
    @registry.register_model(
        "_test_dup",
        task="semantic",
        input_size=(8, 8),
        class_names=["a"],
        postprocess="semantic_argmax",
    )
    def f(*, num_classes: int = 1):  # pragma: no cover - never built
        raise AssertionError

    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register_model(
                "_test_dup",
                task="semantic",
                input_size=(8, 8),
                class_names=["a"],
                postprocess="semantic_argmax",
            )(f)
    finally:
        registry._REGISTRY.pop("_test_dup")


def test_unknown_model_and_bad_kwarg():
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'"):
        registry.create_model("nope")
    pytest.importorskip("torch")
    with pytest.raises(ConfigError, match="deeplabv3plus_mobilenetv2"):
        registry.create_model("deeplabv3plus_mobilenetv2", wings=2)


def test_create_model_records_full_spec():
    pytest.importorskip("torch")
    m = registry.create_model(
        "deeplabv3plus_mobilenetv2",
        width_mult=0.35,
        aspp_channels=16,
        class_names=["x", "y", "z"],
        input_size=(32, 48),
    )
    assert m.spec.class_names == ["x", "y", "z"]
    assert m.spec.input_size == (32, 48)
    # defaults are recorded too, so a checkpoint rebuilds the same architecture
    assert m.spec.model_kwargs == {"width_mult": 0.35, "aspp_channels": 16, "output_stride": 16}
    rebuilt = registry.model_from_spec(m.spec)
    assert [k for k in rebuilt.state_dict()] == [k for k in m.state_dict()]
