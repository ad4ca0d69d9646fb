"""YOLACT export adapter: component-wise ONNX export of YOLACT / YolactEdge (so each part can run at its own precision).

:func:`export_components` writes one ONNX graph per component into a folder, each with the
model spec in its metadata (``edgevision.component`` names the part) and each checked against
PyTorch in ONNX Runtime:

============================  ==========================================  =======================
file                          inputs                                      outputs
============================  ==========================================  =======================
``backbone_lower.onnx``       ``images`` (N, 3, H, W)                     ``c3``
``backbone_upper.onnx``       ``c3``                                      ``c4``, ``c5``
``fpn.onnx``                  ``c3``, ``c4``, ``c5``                      ``p3`` … ``p7``, ``t4``
``fpn_partial.onnx``          ``c3``, ``t4`` (warped)                     ``p3``
``fpn_extra.onnx``            ``p5``                                      ``p6``, ``p7``
``protonet.onnx``             ``p3``                                      ``protos``
``head.onnx``                 ``p`` (one level)                           ``loc``, ``conf``, ``coef``
``featflownet.onnx``          ``key_c3``, ``cur_c3``                      ``flow8/16/32``
``warp.onnx``                 ``feat``, ``flow``                          ``warped`` (GridSample)
============================  ==========================================  =======================

All spatial axes are dynamic. ``head.onnx`` returns raw class logits (softmax after
concatenating the levels, as :class:`~edgevision.models.instance.yolact.YolactExport` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgevision.errors import ExportError
from edgevision.export.metadata import embed_spec
from edgevision.export.onnx import torch_onnx_export
from edgevision.io import atomic_path
from edgevision.models.flow.warp import warp

__all__ = ["ComponentExport", "export_components"]


@dataclass
class ComponentExport:
    """One exported component: file, names and the check's worst error."""

    name: str
    path: Path
    inputs: list[str]
    outputs: list[str]
    max_abs_err: float


class _Fn(nn.Module):
    def __init__(self, model: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.fn = fn
        self.training = False

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.fn(self.model, *xs)


def _fpn_full(
    m: Any, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    t3, t4, t5 = m.fpn.top_down(c3, c4, c5)
    ps = [m.fpn.smooth_level(i, t) for i, t in enumerate((t3, t4, t5))]
    return (*ps, *m.fpn.extra(ps[2]), t4)


def export_components(
    model: nn.Module,
    out_dir: str | Path,
    *,
    input_size: tuple[int, int] | None = None,
    opset: int = 17,
    trained: bool | None = None,
) -> list[ComponentExport]:
    """Export every component of a ``yolact_*`` model to ``out_dir`` (see module docstring).

    ``trained`` (when known) is recorded as ``edgevision.trained`` (``"1"``/``"0"``) in every
    file, so a runtime can say that an untrained architecture's outputs are meaningless.

    Raises:
        ExportError: a component fails to export or disagrees with PyTorch (atol 1e-3).
    """
    import onnx
    import onnxruntime as ort

    m: Any = model.eval()
    spec = m.spec
    h, w = input_size or spec.input_size
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        x = torch.randn(1, 3, h, w)
        c3 = m.lower(x)
        c4, c5 = m.upper(c3)
        pyr = _fpn_full(m, c3, c4, c5)
    parts: list[tuple[str, Callable[..., Any], tuple[torch.Tensor, ...], list[str], list[str]]] = [
        ("backbone_lower", lambda mm, a: mm.lower(a), (x,), ["images"], ["c3"]),
        ("backbone_upper", lambda mm, a: mm.upper(a), (c3,), ["c3"], ["c4", "c5"]),
        ("fpn", _fpn_full, (c3, c4, c5), ["c3", "c4", "c5"], ["p3", "p4", "p5", "p6", "p7", "t4"]),
        ("fpn_partial", lambda mm, a, b: mm.fpn.p3_from(a, b), (c3, pyr[5]), ["c3", "t4"], ["p3"]),
        ("fpn_extra", lambda mm, a: tuple(mm.fpn.extra(a)), (pyr[2],), ["p5"], ["p6", "p7"]),
        ("protonet", lambda mm, a: mm.protonet(a), (pyr[0],), ["p3"], ["protos"]),
        ("head", lambda mm, a: mm.head(a), (pyr[0],), ["p"], ["loc", "conf", "coef"]),
        (
            "warp",
            lambda mm, a, b: warp(a, b),
            (pyr[1], torch.randn(1, 2, *pyr[1].shape[-2:])),
            ["feat", "flow"],
            ["warped"],
        ),
    ]
    if getattr(m, "flownet", None) is not None:
        parts.append(
            (
                "featflownet",
                lambda mm, a, b: tuple(mm.flownet(a, b)),
                (c3, c3 + 0.1 * torch.randn_like(c3)),
                ["key_c3", "cur_c3"],
                ["flow8", "flow16", "flow32"],
            )
        )
    results = []
    so = ort.SessionOptions()
    so.log_severity_level = 3
    for name, fn, args, ins, outs in parts:
        mod = _Fn(m, fn)
        path = out / f"{name}.onnx"
        axes = {
            n: {0: "batch", 2: f"{n}_h", 3: f"{n}_w"}
            for n in ins + outs
            if n not in ("loc", "conf", "coef", "protos")
        }
        if name == "warp":  # any feature map: FPN levels and (transposed) prototypes
            for n in ("feat", "warped"):
                axes[n][1] = f"{n}_c"
        with atomic_path(path) as tmp:
            try:
                torch_onnx_export(
                    mod,
                    args,
                    tmp,
                    opset=opset,
                    input_names=ins,
                    output_names=outs,
                    dynamic_axes=axes,
                )
            except Exception as e:  # tracing errors come in many types
                raise ExportError(f"component {name}: {str(e).splitlines()[0]}") from None
            proto = onnx.load(str(tmp))
            extra = {"edgevision.component": name}
            if trained is not None:
                extra["edgevision.trained"] = "1" if trained else "0"
            embed_spec(proto, spec, precision="fp32", **extra)
            onnx.save(proto, str(tmp))
            sess = ort.InferenceSession(str(tmp), so, providers=["CPUExecutionProvider"])
            got = sess.run(None, {n: a.numpy() for n, a in zip(ins, args)})
            with torch.no_grad():
                ref = mod(*args)
            refs = [ref] if isinstance(ref, torch.Tensor) else list(ref)
            err = max(float(np.abs(r.numpy() - g).max(initial=0.0)) for r, g in zip(refs, got))
            if not err <= 1e-3 + 1e-3 * max(float(r.abs().max()) for r in refs):
                raise ExportError(f"component {name}: ONNX Runtime and PyTorch differ by {err:.3g}")
        results.append(ComponentExport(name, path, ins, outs, err))
    return results
