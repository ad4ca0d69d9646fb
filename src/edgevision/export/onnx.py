"""Export a model to ONNX, simplify it with onnxslim, embed its spec, and check it.

The check runs the exported file in ONNX Runtime on two different input shapes and compares
with PyTorch; past the tolerance the export fails loudly and no file is left behind.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgevision.config import ExportConfig, ModelSpec
from edgevision.errors import BackendUnavailable, ExportError
from edgevision.export.metadata import embed_spec
from edgevision.io import CHECKPOINT_SUFFIXES, atomic_path
from edgevision.tasks import get_task
from edgevision.weights import resolve_weights

INPUT_NAME = "images"


@dataclass
class ExportReport:
    """What an export did: file, size, opset, the check's shapes and worst errors."""

    path: str
    model: str
    opset: int
    size_mb: float
    simplified: bool
    seconds: float
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_model(target: str | Path | nn.Module, **model_kwargs: Any) -> nn.Module:
    """A registry name, shipped-weights name, checkpoint path or ``nn.Module`` (with
    ``.spec``) -> eval-mode model.

    A registry name is the untrained architecture, initialised from seed 0 (so that two
    exports of a name are the same file) without touching the caller's random state."""
    target = resolve_weights(target)  # shipped weights by name -> their checkpoint
    if isinstance(target, nn.Module):
        if model_kwargs:
            raise ExportError("model keyword arguments apply to registry names only")
        model = target
    elif Path(str(target)).suffix.lower() in CHECKPOINT_SUFFIXES:
        if model_kwargs:
            raise ExportError("model keyword arguments apply to registry names, not checkpoints")
        from edgevision.checkpoint import load_model

        model = load_model(target)
    else:
        from edgevision.registry import create_model

        with torch.random.fork_rng():  # the same random init on every export of a name
            torch.manual_seed(0)
            model = create_model(str(target), **model_kwargs)
    if not isinstance(getattr(model, "spec", None), ModelSpec):
        raise ExportError("model has no .spec (ModelSpec); build it with create_model()")
    return model.eval()


def deploy_module(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """The module to trace and its output names (models may provide ``export_adapter()``;
    otherwise the model itself, with its task's output names)."""
    make = getattr(model, "export_adapter", None)
    if callable(make):
        adapter = make()
        return adapter, list(getattr(adapter, "output_names", ["output"]))
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    return model, list(get_task(spec.task).output_names)


def _check_shapes(spec: ModelSpec, cfg: ExportConfig) -> list[tuple[int, int, int]]:
    """(batch, H, W) pairs for the check: the spec size and a second, different one."""
    if cfg.check_shapes:
        return [(1, h, w) for h, w in cfg.check_shapes]
    h, w = spec.input_size
    second_batch = 2 if cfg.dynamic_batch else 1
    if cfg.dynamic_shape:
        h2, w2 = max(32, (h * 3 // 4) // 32 * 32), max(32, (w * 5 // 4) // 32 * 32)
        if (h2, w2) == (h, w):
            h2 += 32
        return [(1, h, w), (second_batch, h2, w2)]
    return [(1, h, w), (second_batch, h, w)]


def export_onnx(
    target: str | Path | nn.Module,
    out: str | Path,
    config: ExportConfig | None = None,
    *,
    input_size: tuple[int, int] | None = None,
    **model_kwargs: Any,
) -> ExportReport:
    """Export ``target`` to ``out`` (.onnx) and verify it.

    Args:
        target: registry name, checkpoint, or ``nn.Module`` with ``.spec``.
        out: destination ``.onnx`` path (written atomically, only after the check passed).
        config: export options (opset, dynamic axes, simplify, check tolerances).
        input_size: ``(H, W)`` to record in the spec and trace at (default: spec's).
        **model_kwargs: constructor overrides for a registry name (e.g. ``width_mult=0.5``).

    Raises:
        ExportError: tracing/simplification failed or ORT and PyTorch disagree past tolerance.
        BackendUnavailable: onnx / onnxruntime / onnxslim not installed.
    """
    cfg = config or ExportConfig()
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(
            f"ONNX export needs '{e.name}': pip install 'edgevision[onnx]'"
        ) from None
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"output must end in .onnx, got {out}")
    t0 = time.perf_counter()
    model = resolve_model(target, **model_kwargs)
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    if input_size is not None:
        spec = ModelSpec(**{**asdict(spec), "input_size": tuple(input_size)})
    module, output_names = deploy_module(model)
    h, w = spec.input_size
    dummy = torch.randn(1, 3, h, w)
    axes: dict[int, str] = {}
    if cfg.dynamic_batch:
        axes[0] = "batch"
    if cfg.dynamic_shape:
        axes.update({2: "height", 3: "width"})
    dynamic_axes = {INPUT_NAME: axes, **{n: dict(axes) for n in output_names}} if axes else None

    def trace(tmp: Path) -> None:
        try:
            torch_onnx_export(
                module,
                (dummy,),
                tmp,
                opset=cfg.opset,
                input_names=[INPUT_NAME],
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
        except Exception as e:  # tracing errors come in many types
            raise ExportError(
                f"torch.onnx.export failed for {spec.name}: {str(e).splitlines()[0]}"
            ) from None

    extra = {"edgevision.exported_by": "edgevision export"}
    if not isinstance(target, nn.Module):  # a registry name is the untrained architecture
        ckpt = (
            Path(resolve_weights(target)).suffix.lower() in CHECKPOINT_SUFFIXES
        )  # a shipped name too
        extra["edgevision.trained"] = "1" if ckpt else "0"
    return write_checked(out, trace, module, spec, cfg, output_names, extra, started=t0)


def torch_onnx_export(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    opset: int,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None,
    **kwargs: Any,
) -> None:
    """``torch.onnx.export`` of ``module(*args)`` to ``path`` with the TorchScript-based
    exporter (mature for CNNs, needs no onnxscript), without gradients or warnings."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            **kwargs,
        )


def write_checked(
    out: Path,
    trace: Callable[[Path], None],
    module: nn.Module,
    spec: ModelSpec,
    cfg: ExportConfig,
    check_outputs: list[str],
    metadata: dict[str, str],
    *,
    started: float,
) -> ExportReport:
    """Write the ONNX file ``out`` atomically and report on it.

    ``trace(tmp)`` writes the graph; it is then simplified (``cfg.simplify``), ``spec`` and
    ``metadata`` are embedded, the model is checked and saved, and (``cfg.check``) the
    outputs ``check_outputs`` are compared with ``module`` in ONNX Runtime. ``started`` is
    the ``time.perf_counter()`` of the export's start (the report's ``seconds``).
    """
    import onnx

    with atomic_path(out) as tmp:
        trace(tmp)
        proto = onnx.load(str(tmp))
        simplified = False
        if cfg.simplify:
            proto, simplified = simplify_onnx(proto)
        embed_spec(proto, spec, precision="fp32", **metadata)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        checks = check_onnx(module, tmp, spec, cfg, check_outputs) if cfg.check else []
    return ExportReport(
        path=str(out),
        model=spec.name,
        opset=cfg.opset,
        size_mb=out.stat().st_size / 2**20,
        simplified=simplified,
        seconds=time.perf_counter() - started,
        checks=checks,
    )


def simplify_onnx(proto: Any) -> tuple[Any, bool]:
    """``(onnxslim.slim(proto), True)``; one-line errors when onnxslim is missing or fails."""
    try:
        import onnxslim
    except ImportError:
        raise BackendUnavailable(
            "simplify needs onnxslim: pip install 'edgevision[onnx]' (or pass simplify=false)"
        ) from None
    try:
        return onnxslim.slim(proto), True
    except Exception as e:  # onnxslim failures should not be silent: report them
        raise ExportError(
            f"onnxslim failed: {str(e).splitlines()[0]} (retry with simplify=false)"
        ) from None


def check_onnx(
    module: nn.Module, path: Path, spec: ModelSpec, cfg: ExportConfig, output_names: list[str]
) -> list[dict[str, Any]]:
    """Compare ONNX Runtime with PyTorch on the check shapes; raise ExportError past tolerance."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    results = []
    for b, h, w in _check_shapes(spec, cfg):
        x = rng.standard_normal((b, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
        refs = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        got = sess.run(None, {INPUT_NAME: x})
        for name, r, g in zip(output_names, refs, got):
            r = r.numpy()
            if r.shape != g.shape:
                raise ExportError(
                    f"ONNX output {name!r} has shape {g.shape}, PyTorch {r.shape} at input {b}x3x{h}x{w}"
                )
            err = np.abs(r - g)
            tol = cfg.atol + cfg.rtol * np.abs(r)
            worst = float(err.max(initial=0.0))
            results.append({"input": [b, 3, h, w], "output": name, "max_abs_err": worst})
            if not np.all(err <= tol):
                raise ExportError(
                    f"ONNX Runtime and PyTorch disagree on {name!r} at input {b}x3x{h}x{w}: "
                    f"max abs error {worst:.3g} > atol {cfg.atol} + rtol {cfg.rtol}·|ref|"
                )
    return results
