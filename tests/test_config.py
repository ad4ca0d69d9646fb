from __future__ import annotations

import pytest

from edgevision.config import (
    BenchConfig,
    ExportConfig,
    ModelSpec,
    apply_overrides,
    from_yaml,
    parse_size,
    to_yaml,
)
from edgevision.errors import ConfigError


def _spec(**kw):
    base = dict(name="m", task="semantic", class_names=["a", "b"], input_size=(64, 96))
    return ModelSpec(**{**base, **kw})


def test_yaml_round_trip_is_exact():
    cfg = BenchConfig(threads=4, input_size=(320, 320), providers=["cpu"], data="x")
    assert from_yaml(BenchConfig, to_yaml(cfg)) == cfg
    spec = _spec(extra={"run": {"epochs": 3}})
    assert from_yaml(ModelSpec, to_yaml(spec)) == spec
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_yaml_file_errors_name_the_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("threads: two\n")
    with pytest.raises(ConfigError, match=r"c\.yaml.*threads.*integer"):
        from_yaml(BenchConfig, p)
    p.write_text("nope: 1\n")
    with pytest.raises(ConfigError, match="unknown field.*nope"):
        from_yaml(BenchConfig, p)
    with pytest.raises(ConfigError, match="not found"):
        from_yaml(BenchConfig, tmp_path / "missing.yaml")


def test_overrides_are_type_checked():
    cfg = apply_overrides(BenchConfig(), ["threads=4", "input_size=320x480", "providers=[cuda]"])
    assert cfg.threads == 4 and cfg.input_size == (320, 480) and cfg.providers == ["cuda"]
    cfg = apply_overrides(ExportConfig(), ["simplify=false", "atol=1e-4"])
    assert cfg.simplify is False and cfg.atol == 1e-4
    assert apply_overrides(BenchConfig(input_size=(1, 1)), ["input_size=null"]).input_size is None


@pytest.mark.parametrize(
    "override, message",
    [
        ("threads", "malformed override"),
        ("=3", "empty key"),
        ("thread=3", "unknown config key 'thread'"),
        ("threads=2.5", "threads: expected an integer"),
        ("simplify=yes please", "simplify: expected true/false"),
        ("backend=tensorflow", "backend: must be one of"),
        ("input_size=320x", "input_size"),
        ("threads=0", "threads must be >= 1"),
    ],
)
def test_malformed_overrides_raise_one_clear_error(override, message):
    cfg = ExportConfig() if override.startswith("simplify") else BenchConfig()
    with pytest.raises(ConfigError, match=message):
        apply_overrides(cfg, [override])


def test_spec_validation():
    with pytest.raises(ConfigError, match="task"):
        _spec(task="classify")
    with pytest.raises(ConfigError, match="class_names"):
        _spec(class_names=[])
    with pytest.raises(ConfigError, match="input_size"):
        _spec(input_size=(0, 10))
    with pytest.raises(ConfigError, match="opset must be >= 17"):
        ExportConfig(opset=13)
    assert _spec().num_classes == 2


def test_parse_size():
    assert parse_size("320x480") == (320, 480)
    assert parse_size("256") == (256, 256)
    assert parse_size("360×480") == (360, 480)
    with pytest.raises(ConfigError):
        parse_size("big")
