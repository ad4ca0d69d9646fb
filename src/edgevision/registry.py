"""Model registry: ``@register_model``, ``create_model``, ``list_models``.

Lazy: :data:`MANIFEST` maps each built-in model name to the module that registers it, so
listing models imports nothing and creating one imports only its own module (and torch).
A duplicate name raises. Third-party code registers with the same decorator.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgevision.config import ModelSpec, Task
from edgevision.errors import ConfigError, ModelNotFoundError
from edgevision.tasks import get_task

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

# name -> module that registers it (kept in sync with the modules by tests/test_registry.py)
MANIFEST: dict[str, str] = {
    "deeplabv3plus_mobilenetv2": "edgevision.models.segmentation.deeplabv3plus",
    "ddrnet23_slim": "edgevision.models.segmentation.ddrnet",
    "espnet": "edgevision.models.segmentation.espnet",
    "liteseg_mobilenetv2": "edgevision.models.segmentation.liteseg",
    "yolov5n": "edgevision.models.detection.yolov5",
    "yolov5s": "edgevision.models.detection.yolov5",
    "yolo_ret_m075": "edgevision.models.detection.yolo_ret",
    "yolo_ret_m100": "edgevision.models.detection.yolo_ret",
    "yolo_ret_m140": "edgevision.models.detection.yolo_ret",
    "yolact_r50": "edgevision.models.instance.yolact",
    "yolact_r101": "edgevision.models.instance.yolact",
    "yolact_mobilenetv2": "edgevision.models.instance.yolact",
    "yolact_mobilenetv2_320": "edgevision.models.instance.yolact",
    "efficientps_mobilenetv2": "edgevision.models.panoptic.efficientps",
    "fastdepthseg_mobilenetv2": "edgevision.models.depthseg.fastdepthseg",
}


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture and the defaults of its :class:`ModelSpec`."""

    name: str
    factory: Callable[..., Any]
    task: Task
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    postprocess: str
    resize: str = "stretch"
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    description: str = ""
    components: tuple[str, ...] = field(default_factory=tuple)

    def default_spec(self, **model_kwargs: Any) -> ModelSpec:
        names = list(model_kwargs.pop("class_names", None) or self.class_names)
        return ModelSpec(
            name=self.name,
            task=self.task,
            class_names=names,
            input_size=tuple(model_kwargs.pop("input_size", None) or self.input_size),  # type: ignore[arg-type]
            mean=self.mean,
            std=self.std,
            resize=self.resize,  # type: ignore[arg-type]
            postprocess=self.postprocess,
            model_kwargs=model_kwargs,
        )


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    task: Task,
    input_size: tuple[int, int],
    class_names: Sequence[str],
    postprocess: str,
    resize: str = "stretch",
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53),
    std: tuple[float, float, float] = (58.395, 57.12, 57.375),
    components: Sequence[str] = (),
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model factory under ``name``.

    The factory takes keyword-only arguments, among them ``num_classes``, and returns an
    ``nn.Module``. ``components`` names the module prefixes that mixed precision may treat
    separately (``backbone``, ``neck``, ``head`` ...).

    Raises:
        ValueError: ``name`` is already registered.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered by {_REGISTRY[name].factory}")
        _REGISTRY[name] = ModelEntry(
            name=name,
            factory=fn,
            task=task,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            class_names=tuple(class_names),
            postprocess=postprocess,
            resize=resize,
            mean=mean,
            std=std,
            components=tuple(components),
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
        )
        return fn

    return deco


def list_models(pattern: str = "*", *, task: str | None = None) -> list[str]:
    """Sorted names matching the glob ``pattern`` (e.g. ``"yolo*"``), optionally by task.

    Without ``task`` nothing is imported; with it, the matching model modules are.
    """
    names = sorted(n for n in set(MANIFEST) | set(_REGISTRY) if fnmatch.fnmatchcase(n, pattern))
    if task is not None:
        want = get_task(task)
        names = [n for n in names if get_task(get_entry(n).task) is want]
    return names


def get_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` for ``name``, importing its module if needed."""
    if name not in _REGISTRY and name in MANIFEST:
        importlib.import_module(MANIFEST[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        from edgevision.weights import list_weights

        stem = name.split("_")[0]
        close = [n for n in list_models() if stem in n][:5]
        shipped = [n for n in list_weights() if stem in n][:5]
        hint = f"; similar: {', '.join(close)}" if close else ""
        if shipped:
            hint += f"; shipped weights: {', '.join(shipped)}"
        raise ModelNotFoundError(
            f"unknown model {name!r} (see 'edgevision models'){hint}"
        ) from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with keyword overrides; the result carries ``model.spec``.

    ``class_names=[...]`` sets the classes (and ``num_classes``); ``input_size=(H, W)`` sets
    the spec's input size. Other keywords go to the constructor and are recorded in
    ``spec.model_kwargs`` so a checkpoint can rebuild the same architecture.

    Raises:
        ModelNotFoundError: unknown name.
        ConfigError: a keyword the constructor does not accept, or of the wrong value.
    """
    entry = get_entry(name)
    # record every constructor argument (defaults included) so checkpoints rebuild exactly
    params = inspect.signature(entry.factory).parameters
    for pname, p in params.items():
        if pname != "num_classes" and p.default is not inspect.Parameter.empty:
            overrides.setdefault(pname, p.default)
    spec = entry.default_spec(**overrides)
    kwargs = dict(spec.model_kwargs)
    kwargs["num_classes"] = spec.num_classes
    try:
        model = entry.factory(**kwargs)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None
    model.spec = spec  # type: ignore[assignment]
    return model


def model_from_spec(spec: ModelSpec) -> nn.Module:
    """Rebuild the (untrained) architecture a spec describes."""
    model = create_model(
        spec.name,
        class_names=list(spec.class_names),
        input_size=spec.input_size,
        **spec.model_kwargs,
    )
    model.spec = spec  # type: ignore[assignment]
    return model
