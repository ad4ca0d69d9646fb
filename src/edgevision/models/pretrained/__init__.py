"""Import public pretrained checkpoints into edgevision models.

One converter per published checkpoint family, each a mapping table
(:class:`~edgevision.models.pretrained.core.Source`):

========================== ================================================= ==================
source                     files                                             our models
========================== ================================================= ==================
``torchvision-mobilenetv2`` torchvision ImageNet MobileNetV2                  every MobileNetV2
                                                                             backbone
``resnet``                 torchvision / timm ImageNet ResNet-18/34/50/101   ``yolact_r50/101``
``ddrnet23-slim``          official DDRNet-23-slim (ImageNet, Cityscapes)    ``ddrnet23_slim``
``yolact``                 official YOLACT / YolactEdge ``.pth``             ``yolact_*``
``yolov5``                 Ultralytics YOLOv5 v6+ state dict                 ``yolov5n/s``
========================== ================================================= ==================

Files are read with ``torch.load(weights_only=True)``
(:func:`edgevision.checkpoint.load_torch_file`) or safetensors: a pickled module is refused,
never run. :func:`import_weights` fills a model and returns an
:class:`~edgevision.models.pretrained.core.ImportReport`; it refuses (one-line
:class:`~edgevision.errors.CheckpointError`) a file that fills under 95 % of the model's
backbone tensors. :func:`convert` writes the filled model as an edgevision checkpoint (the
report in its spec's ``extra["pretrained"]``), which ``edgevision train --pretrained`` takes
as well as the original file. Nothing here downloads anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgevision.config import ModelSpec
from edgevision.errors import CheckpointError
from edgevision.models.pretrained import ddrnet, imagenet, yolact, yolov5  # noqa: F401 (registers)
from edgevision.models.pretrained.core import (
    MIN_BACKBONE_MATCH,
    ImportReport,
    Rule,
    Site,
    Source,
    get_source,
    list_sources,
    map_state,
    register_source,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "MIN_BACKBONE_MATCH",
    "ImportReport",
    "Rule",
    "Site",
    "Source",
    "convert",
    "detect_source",
    "get_source",
    "import_weights",
    "list_sources",
    "map_state",
    "read_weights",
    "register_source",
]

_CONTAINERS = ("state_dict", "model", "model_state", "net")
"""Keys under which training scripts nest the state dict (``{"state_dict": {...}, "epoch": 3}``)."""


def _is_state(obj: Any) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelSpec | None]:
    """The tensors of a checkpoint file, and its spec when it is an edgevision checkpoint.

    Accepts a plain state dict (``.pth``/``.pt``/``.bin``), one nested under ``state_dict``,
    ``model``, ``model_state`` or ``net``, a ``.safetensors`` file, or an edgevision
    checkpoint. A ``module.`` prefix on every name (``DataParallel``) is removed.

    Raises:
        CheckpointError: missing, unreadable, a pickled module (refused), or no tensors.
    """
    from edgevision.checkpoint import FORMAT, SPEC_KEY, load_checkpoint, load_torch_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"pretrained weights not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except Exception as e:  # safetensors raises several types for bad files
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise CheckpointError(f"cannot read pretrained weights {p}: {reason}") from None
        if SPEC_KEY in meta:
            spec, state, _ = load_checkpoint(p)
            return dict(state), spec
        return _strip_module(state, p), None
    try:
        obj = load_torch_file(p, what="pretrained weights")
    except CheckpointError as e:
        if "refused" in str(e):
            raise CheckpointError(
                f"{e}; save its state_dict() first (README: 'Pretrained weights')"
            ) from None
        raise
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        spec, state, _ = load_checkpoint(p)
        return dict(state), spec
    if not _is_state(obj) and isinstance(obj, Mapping):
        inner = [obj[k] for k in _CONTAINERS if _is_state(obj.get(k))]
        obj = inner[0] if inner else obj
    if not _is_state(obj):
        raise CheckpointError(
            f"{p} holds no state dict (a mapping of names to tensors, possibly under "
            f"{', '.join(repr(k) for k in _CONTAINERS)})"
        )
    return _strip_module(dict(obj), p), None


def _strip_module(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    if not state:
        raise CheckpointError(f"{path} holds no tensors")
    if all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def detect_source(keys: set[str] | list[str], file: str = "") -> Source:
    """The one registered source whose signature names all appear in ``keys``.

    Raises:
        CheckpointError: none or several recognise the names (say ``--from``).
    """
    hits = [get_source(n) for n in list_sources() if get_source(n).recognises(keys)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(list_sources())
    if not hits:
        first = ", ".join(sorted(keys)[:3])
        raise CheckpointError(
            f"{file or 'weights'}: not a checkpoint of a known source (names like {first}); "
            f"known sources: {known}"
        )
    raise CheckpointError(
        f"{file or 'weights'}: matches several sources ({', '.join(s.name for s in hits)}); "
        "name one with --from"
    )


def _edgevision_source(spec: ModelSpec) -> Source:
    """Identity mapping for an edgevision checkpoint; its backbone is that of the source it was
    converted from (``spec.extra["pretrained"]["source"]``), else the whole model."""
    recorded = (spec.extra or {}).get("pretrained", {})
    origin = recorded.get("source") if isinstance(recorded, dict) else None
    if isinstance(origin, str) and origin in list_sources():
        finder = get_source(origin).site
    else:

        def finder(model: nn.Module) -> Site | None:
            return Site({"": ""})

    return Source(
        name=f"edgevision ({spec.name})",
        title=f"edgevision checkpoint of {spec.name}",
        where="edgevision convert / edgevision train",
        backbone=f"{spec.name} backbone",
        signature=(),
        rules=(Rule(r"(.+)", r"\1"),),
        site=finder,
    )


def import_weights(
    model: nn.Module,
    path: str | Path,
    *,
    source: str | None = None,
    minimum: float = MIN_BACKBONE_MATCH,
) -> ImportReport:
    """Fill ``model`` in place from a pretrained checkpoint file.

    Args:
        model: the model (its ``spec`` names it in messages; an edgevision checkpoint must be
            for the same registry name).
        path: the file: a source checkpoint or an edgevision checkpoint (``convert``'s output).
        source: the source's name (:func:`list_sources`); ``None`` = recognise it by its
            tensor names.
        minimum: least filled fraction of the backbone's tensors.

    Returns:
        The :class:`ImportReport` (matched / missing / shape-mismatched / unused tensors).

    Raises:
        CheckpointError: unreadable file, unknown source, a model without such a backbone, a
            checkpoint of another model, or under ``minimum`` of the backbone filled (the
            model is then left unchanged).
        ConfigError: an unknown ``source`` name.
    """
    p = Path(path)
    spec = getattr(model, "spec", None)
    name = getattr(spec, "name", type(model).__name__)
    state, ev_spec = read_weights(p)
    if ev_spec is not None:
        if ev_spec.name != name:
            raise CheckpointError(f"{p} is a checkpoint of {ev_spec.name!r}, not of {name!r}")
        src = _edgevision_source(ev_spec)
    else:
        src = get_source(source) if source else detect_source(set(state), str(p))
    tensors, report = map_state(src, state, model, file=str(p), model_name=name)
    report.check(minimum)
    model.load_state_dict(tensors, strict=False)
    return report


def convert(
    src: str | Path,
    out: str | Path,
    *,
    model: str,
    source: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Convert a public checkpoint into an edgevision checkpoint of registry model ``model``.

    The model is built with its defaults (and ``model_kwargs``), filled by
    :func:`import_weights`, and saved with its spec; ``spec.extra["pretrained"]`` records
    the source, the file's name and SHA-256, and the report's counts. Tensors the file does
    not fill keep the model's initialisation (seeded: the same output every run).

    Args:
        src: the public checkpoint.
        out: the edgevision checkpoint to write (``.pt`` or ``.safetensors``).
        model: registry name.
        source: source name, or ``None`` to recognise it.
        model_kwargs: constructor overrides.

    Returns:
        The :class:`ImportReport`.

    Raises:
        CheckpointError: as :func:`import_weights`, or an ``out`` of another suffix;
            nothing is written then.
        ConfigError: an unknown ``source`` or model keyword.
        ModelNotFoundError: an unknown ``model``.
    """
    import hashlib

    import torch

    from edgevision.checkpoint import save_checkpoint
    from edgevision.registry import create_model

    if Path(out).suffix not in (".pt", ".pth", ".safetensors"):
        raise CheckpointError(f"{out}: an edgevision checkpoint is .pt or .safetensors")
    if source is not None:
        get_source(source)  # an unknown name fails before any work
    torch.manual_seed(0)
    net = create_model(model, **dict(model_kwargs or {}))
    report = import_weights(net, src, source=source)
    digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()
    spec: ModelSpec = net.spec  # type: ignore[assignment]
    spec.extra = {
        **(spec.extra or {}),
        "pretrained": {**report.to_dict(), "file": Path(src).name, "sha256": digest},
    }
    save_checkpoint(out, net, spec)
    return report
