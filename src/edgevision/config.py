"""Typed dataclass configs, their YAML form, and validated ``key=value`` overrides.

YAML is only the serialized form of a dataclass: :func:`to_yaml` / :func:`from_yaml`
round-trip exactly, and :func:`apply_overrides` checks every override against the field's
declared type (``input_size=320x320`` for a ``tuple[int, int]``, ``simplify=false`` for a
``bool`` ...). Unknown keys and values of the wrong type raise :class:`ConfigError` naming the
field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from edgevision.errors import ConfigError

T = TypeVar("T")

Task = Literal["detect", "semantic", "instance", "panoptic", "depthseg"]
ResizeMode = Literal["letterbox", "stretch"]
ColorOrder = Literal["RGB", "BGR"]

SPEC_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """Everything needed to run a model without its training code.

    Travels inside every checkpoint and every exported ONNX file (``metadata_props``), so
    preprocessing and postprocessing are fully determined by the model file.

    Attributes:
        name: registry name of the architecture, e.g. ``"deeplabv3plus_mobilenetv2"``.
        task: ``"detect"``, ``"semantic"`` or ``"instance"``.
        class_names: one name per output class, index = class id.
        input_size: network input ``(H, W)`` in pixels.
        mean: per-channel mean in the 0–255 pixel scale, in ``color_order``.
        std: per-channel std in the 0–255 pixel scale.
        color_order: channel order the network expects (``"RGB"`` or ``"BGR"``).
        resize: ``"letterbox"`` (keep aspect, pad with ``pad_value``) or ``"stretch"``.
        pad_value: letterbox padding value (0–255).
        ignore_index: label value ignored by losses and metrics (semantic tasks).
        postprocess: name of the numpy postprocessor in :mod:`edgevision.postprocess`.
        model_kwargs: constructor keyword arguments, so the architecture can be rebuilt.
        extra: free-form JSON-serialisable metadata (training run, dataset, metrics ...).
    """

    name: str
    task: Task
    class_names: list[str]
    input_size: tuple[int, int] = (512, 512)
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    color_order: ColorOrder = "RGB"
    resize: ResizeMode = "stretch"
    pad_value: int = 114
    ignore_index: int = 255
    postprocess: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = SPEC_FORMAT_VERSION

    def __post_init__(self) -> None:
        validate(self)
        h, w = self.input_size
        if h <= 0 or w <= 0:
            raise ConfigError(f"input_size must be positive, got {self.input_size}")
        if not self.class_names:
            raise ConfigError("class_names must not be empty")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"std must be positive, got {self.std}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"model spec is not valid JSON: {e}") from None
        return from_dict(cls, data)


@dataclass
class ExportConfig:
    """ONNX export options.

    Attributes:
        opset: ONNX opset (>= 17).
        dynamic_batch: export a symbolic batch dimension.
        dynamic_shape: export symbolic H and W (needed to check on a second input shape).
        simplify: run onnxslim on the exported graph.
        check: compare ONNX Runtime against PyTorch after export.
        check_shapes: input ``(H, W)`` sizes for the check; empty = spec size and a second,
            different size (when ``dynamic_shape``) or the spec size twice with two batches.
        atol: absolute tolerance of the check.
        rtol: relative tolerance of the check.
    """

    opset: int = 17
    dynamic_batch: bool = True
    dynamic_shape: bool = True
    simplify: bool = True
    check: bool = True
    check_shapes: list[tuple[int, int]] = field(default_factory=list)
    atol: float = 1e-3
    rtol: float = 1e-3

    def __post_init__(self) -> None:
        validate(self)
        if self.opset < 17:
            raise ConfigError(f"opset must be >= 17, got {self.opset}")


@dataclass
class BenchConfig:
    """Benchmark options (see :mod:`edgevision.bench`).

    Attributes:
        backend: ``"onnxruntime"`` (default: library callers compare files on one engine),
            ``"openvino"``, ``"torch"``, ``"tensorrt"``, or ``"auto"`` (``bench``'s default:
            the fastest CPU engine for each file on this host, measured and cached, see
            :mod:`edgevision.bench.choose`; files may then run on different engines).
        threads: intra-op threads (the edge box's core count; 2 here).
        input_size: ``(H, W)``; ``None`` = the model spec's input size.
        batch: batch size.
        runs: timed iterations.
        warmup: untimed iterations first.
        providers: ONNX Runtime execution providers (empty = CPU).
        data: dataset folder for accuracy (optional).
        split: dataset split for accuracy.
        max_images: cap on images used for accuracy (0 = all).
        trt_precision: TensorRT precision (``auto``, ``fp32``, ``fp16``, ``int8``).
        ov_precision: OpenVINO float precision hint (``f32``, ``bf16``, ``auto``).
        trt_layers: TensorRT per-component precision, ``"head=fp32,fpn=fp16"``.
        calib_data: image folder for TensorRT implicit INT8 calibration.
        conf: score threshold of the end-to-end (stages) path for detection and instance
            models (``None`` = the postprocessor's default); ``0`` keeps every candidate up
            to the postprocessor's ``max_det``, the worst case for NMS and mask assembly.
        semantic_reference: time the end-to-end stages of a semantic model "the usual way"
            (torch eager, logits upsampled bilinearly to the image size, then argmax; see
            :mod:`edgevision.bench.seg_reference`) instead of our Predictor path; backend
            ``torch`` only. The speed reference of the compression targets.
    """

    backend: Literal["auto", "onnxruntime", "openvino", "torch", "tensorrt"] = "onnxruntime"
    threads: int = 2
    input_size: tuple[int, int] | None = None
    batch: int = 1
    runs: int = 50
    warmup: int = 10
    providers: list[str] = field(default_factory=list)
    data: str | None = None
    split: str = "val"
    max_images: int = 0
    trt_precision: str = "auto"
    trt_layers: str | None = None
    calib_data: str | None = None
    ov_precision: Literal["f32", "bf16", "auto"] = "f32"
    conf: float | None = None
    semantic_reference: bool = False

    def __post_init__(self) -> None:
        validate(self)
        if self.semantic_reference and self.backend != "torch":
            raise ConfigError("semantic_reference times torch eager: it needs --backend torch")
        if self.conf is not None and not 0.0 <= self.conf < 1.0:
            raise ConfigError(f"conf must be in [0, 1), got {self.conf}")
        if self.trt_precision not in ("auto", "fp32", "fp16", "int8"):
            raise ConfigError(
                f"trt_precision must be auto, fp32, fp16 or int8, got {self.trt_precision!r}"
            )
        if self.backend != "tensorrt" and (
            self.trt_precision != "auto" or self.trt_layers or self.calib_data
        ):
            raise ConfigError("TensorRT options need --backend tensorrt")
        if self.backend != "openvino" and self.ov_precision != "f32":
            raise ConfigError("--ov-precision needs --backend openvino")
        for name in ("threads", "batch", "runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {self.warmup}")


# --------------------------------------------------------------------------------------------
# Generic dataclass <-> dict / YAML with type checking
# --------------------------------------------------------------------------------------------
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain dict of JSON/YAML-safe values (tuples become lists)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    return conv(cfg)  # type: ignore[no-any-return]


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and value types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown field(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def build_config(cls: type[T], base: T | None = None, /, **fields: Any) -> T:
    """``base`` (or ``cls()``'s defaults) with ``fields`` replaced, checked like YAML:
    an unknown field or a value of the wrong type is a one-line :class:`ConfigError`
    naming it (``benchmark_many(paths, runs=10)``, ``Model.quantize(mode="static")``).
    """
    if base is not None and not isinstance(base, cls):
        raise ConfigError(f"expected a {cls.__name__}, got {type(base).__name__}")
    if not fields:
        return base if base is not None else cls()
    data = to_dict(base) if base is not None else {}
    return from_dict(cls, {**data, **fields})


def validate(cfg: Any) -> None:
    """Check every field of dataclass instance ``cfg`` against its annotation, in place."""
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        object.__setattr__(cfg, f.name, _coerce(getattr(cfg, f.name), hints[f.name], f.name))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to type ``tp`` or raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: must be one of {', '.join(map(repr, args))}, got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where=f"{where}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = _parse_size(value, where)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (a,) = args or (Any,)
        return [_coerce(v, a, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)}")  # pragma: no cover


def _parse_size(text: str, where: str) -> list[int]:
    """Parse ``"320x480"``, ``"320,480"`` or ``"320"`` (square) into ``[H, W]``."""
    t = text.strip().lower().replace("×", "x")
    parts = t.replace(",", "x").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"{where}: expected a size like 320x480, got {text!r}") from None
    if len(nums) == 1 and "x" not in t and "," not in t:
        nums = nums * 2
    if len(nums) != 2:
        raise ConfigError(f"{where}: expected a size like 320x480, got {text!r}")
    return nums


def parse_size(text: str, where: str = "size") -> tuple[int, int]:
    """Public helper: ``"320x480"`` -> ``(320, 480)`` (H, W); raises ConfigError."""
    h, w = _parse_size(text, where)
    if h <= 0 or w <= 0:
        raise ConfigError(f"{where}: sizes must be positive, got {text!r}")
    return h, w


def to_yaml(cfg: Any) -> str:
    """Serialize a dataclass to YAML (the only serialized form of configs)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def from_yaml(cls: type[T], source: str | Path) -> T:
    """Load ``cls`` from a YAML file path or YAML text; types are checked."""
    text: str
    p = Path(source) if isinstance(source, Path) or "\n" not in str(source) else None
    if p is not None and p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        text = p.read_text()
        where = f"{p}: "
    else:
        text, where = str(source), ""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}invalid YAML: {str(e).splitlines()[0]}") from None
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Return a copy of dataclass ``cfg`` with ``key=value`` overrides applied and type-checked.

    Values are parsed as YAML scalars/lists (``runs=100``, ``providers=[CUDAExecutionProvider]``,
    ``simplify=false``), sizes also as ``320x480``. Nested fields use dots (``a.b=1``).

    Raises:
        ConfigError: malformed override, unknown key, or a value of the wrong type.
    """
    data = to_dict(cfg)
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"malformed override {ov!r}: expected key=value")
        key, raw = ov.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"malformed override {ov!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node: Any = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node:
                raise ConfigError(f"unknown config key {key!r} in override {ov!r}")
            node = node[p]
        if not isinstance(node, dict) or parts[-1] not in node:
            valid = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise ConfigError(f"unknown config key {key!r}; valid keys: {valid}")
        # sizes like 320x320 stay strings for YAML; tuple coercion parses them
        node[parts[-1]] = raw.strip() if isinstance(value, str) else value
    return from_dict(type(cfg), data)


# --------------------------------------------------------------------------------------------
# Per-component precision
# --------------------------------------------------------------------------------------------
PRECISIONS: tuple[str, ...] = ("int8", "fp16", "fp32")
"""Numeric precisions a model component can run at (quantization, TensorRT layers)."""


def parse_precision(text: str) -> tuple[dict[str, str], str | None]:
    """Parse ``"backbone=int8,head=fp32"`` into ``({component: precision}, default)``.

    The special key ``default`` (or ``*``) sets the precision of unnamed components.

    Raises:
        ConfigError: malformed item, unknown precision, or a component named twice.
    """
    out: dict[str, str] = {}
    default: str | None = None
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip().lower()
        if not sep or not key or not value:
            raise ConfigError(f"malformed precision item {item!r}: not COMPONENT=PRECISION")
        if value not in PRECISIONS:
            raise ConfigError(
                f"unknown precision {value!r} for {key!r} (choose from {', '.join(PRECISIONS)})"
            )
        if key in ("default", "*"):
            default = value
            continue
        if key in out:
            raise ConfigError(f"component {key!r} is named twice in --precision")
        out[key] = value
    if not out and default is None:
        raise ConfigError(f"empty precision specification {text!r}")
    return out, default
