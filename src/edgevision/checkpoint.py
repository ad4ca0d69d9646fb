"""Checkpoints: ``state_dict`` + :class:`ModelSpec`, never pickled modules.

Two formats, chosen by suffix:

* ``.pt`` — ``torch.save`` of ``{"format", "spec" (JSON str), "state_dict", **extra}``;
  loaded with ``torch.load(weights_only=True)``. Extra entries (optimizer state, epoch, RNG)
  must be tensors / plain Python values; used by the trainer for resumable runs.
* ``.safetensors`` — weights only, the spec JSON in the file's metadata.

Writes are atomic: an interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgevision.config import ModelSpec
from edgevision.errors import CheckpointError, ConfigError, OutputError, first_line
from edgevision.io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

FORMAT = "edgevision-checkpoint/1"
SPEC_KEY = "edgevision.spec"


def save_checkpoint(
    path: str | Path, model: nn.Module, spec: ModelSpec | None = None, **extra: Any
) -> Path:
    """Save ``model``'s weights and spec to ``path`` atomically.

    Args:
        path: ``.pt``/``.pth`` or ``.safetensors``.
        model: the module; its ``spec`` attribute is used when ``spec`` is not given.
        spec: metadata to embed.
        **extra: additional plain entries (``.pt`` only), e.g. ``optimizer=...``, ``epoch=3``.
    """
    p = Path(path)
    spec = spec or getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise CheckpointError(f"cannot save {p}: model has no ModelSpec (pass spec=...)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if p.suffix == ".safetensors":
        if extra:
            raise CheckpointError(f"{p}: extra entries need a .pt checkpoint, got {sorted(extra)}")
        from safetensors.torch import save_file

        with atomic_path(p) as tmp:
            save_file(state, str(tmp), metadata={SPEC_KEY: spec.to_json(), "format": FORMAT})
    elif p.suffix in (".pt", ".pth"):
        save_torch_file({"format": FORMAT, "spec": spec.to_json(), "state_dict": state, **extra}, p)
    else:
        raise CheckpointError(
            f"unknown checkpoint suffix {p.suffix!r} (use .pt or .safetensors): {p}"
        )
    return p


def save_torch_file(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically: nothing partial is left on failure.

    Raises:
        OutputError: the write failed (a full disk, an I/O error: torch reports those as
            ``RuntimeError``, e.g. ``basic_ios::clear``), naming ``path``.
    """
    import shutil

    import torch

    p = Path(path)
    try:
        with atomic_path(p) as tmp:
            torch.save(obj, tmp)
    except RuntimeError as e:  # torch's stream writers; OSError is mapped by atomic_path
        free = shutil.disk_usage(p.parent).free if p.parent.is_dir() else None
        why = "no space left on device" if free is not None and free < (64 << 20) else None
        raise OutputError(f"cannot write {p}: {why or first_line(e)}") from None
    return p


def load_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU: tensors and plain Python values only.

    The one way this package reads a ``torch.save`` file (a test fails on any other
    ``torch.load``): a file that holds other Python objects (a pickle that could run code)
    is refused, never executed.

    Raises:
        CheckpointError: unreadable, corrupt, or not a plain-tensor pickle (saying why).
    """
    import pickle

    import torch

    p = Path(path)
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message: advice, then "WeightsUnpickler error: <reason>", then a link
        text = str(e)
        reason = text.split("WeightsUnpickler error:", 1)[-1].strip() if text else ""
        reason = (reason.split(". Please use")[0].splitlines() or [""])[0].strip()[:300]
        if reason.startswith("Unsupported global"):
            raise CheckpointError(
                f"refused {what} {p}: it holds Python objects other than tensors and plain "
                f"values, which could run code when loaded ({reason})"
            ) from None
        raise CheckpointError(
            f"cannot read {what} {p}: not a valid torch file ({reason or type(e).__name__})"
        ) from None
    except Exception as e:  # torch raises many types for corrupt or truncated files
        reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read {what} {p}: {reason}") from None


def load_checkpoint(path: str | Path, *, expect: str | None = None) -> tuple[ModelSpec, dict, dict]:
    """Load ``(spec, state_dict, extra)`` from a checkpoint with ``weights_only`` semantics.

    Args:
        path: checkpoint file.
        expect: if given, the registry name the checkpoint must be for.

    Raises:
        CheckpointError: missing, corrupt, not an edgevision checkpoint, or for another model.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    state: Any
    extra: dict[str, Any]
    try:
        if p.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            spec_json, extra = meta.get(SPEC_KEY), {}
        else:
            obj = load_torch_file(p)
            if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                raise CheckpointError(f"not an edgevision checkpoint (no '{FORMAT}' header): {p}")
            spec_json, state = obj.get("spec"), obj.get("state_dict")
            extra = {k: v for k, v in obj.items() if k not in ("format", "spec", "state_dict")}
    except CheckpointError:
        raise
    except Exception as e:  # torch/safetensors raise many types for corrupt files
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {p}: {reason}") from None
    if not spec_json or not isinstance(state, dict):
        raise CheckpointError(f"checkpoint has no model spec or weights: {p}")
    try:
        spec = ModelSpec.from_json(spec_json)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {p} has an invalid spec: {e}") from None
    if expect is not None and spec.name != expect:
        raise CheckpointError(f"checkpoint {p} is for model {spec.name!r}, not {expect!r}")
    return spec, state, extra


def load_model(path: str | Path, *, expect: str | None = None, strict: bool = True) -> nn.Module:
    """Rebuild the architecture from the embedded spec and load the weights (eval mode).

    Raises:
        CheckpointError: as :func:`load_checkpoint`, or weights that don't fit the architecture.
    """
    from edgevision.registry import model_from_spec

    spec, state, _ = load_checkpoint(path, expect=expect)
    model = model_from_spec(spec)
    missing, unexpected = _check_keys(model.state_dict(), state)
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"checkpoint {path} does not fit {spec.name!r}: {len(missing)} missing key(s) "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"checkpoint {path} does not fit {spec.name!r}: {detail}") from None
    return model.eval()


def _check_keys(expected: dict, got: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


def read_spec(path: str | Path) -> ModelSpec:
    """Only the spec of a checkpoint (``.pt`` loads the file; ``.safetensors`` reads the header)."""
    p = Path(path)
    if p.suffix == ".safetensors" and p.is_file():
        try:
            with open(p, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(n))
            return ModelSpec.from_json(header["__metadata__"][SPEC_KEY])
        except (ValueError, KeyError, ConfigError) as e:
            raise CheckpointError(f"cannot read spec from {p}: {e}") from None
    return load_checkpoint(p)[0]
