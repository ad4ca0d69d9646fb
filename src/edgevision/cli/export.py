"""``edgevision export``: registry name or checkpoint -> checked ONNX file with metadata (or
an OpenVINO IR made from it: ``-o FILE.xml``)."""

from __future__ import annotations

import argparse
from typing import Any

from edgevision.cli.common import (
    add_command,
    add_overrides,
    check_outputs,
    nonneg_float,
    positive_int,
)
from edgevision.tasks import get_task


def parse_model_args(items: list[str]) -> dict[str, Any]:
    """``["width_mult=0.5", ...]`` -> ``{"width_mult": 0.5}`` (values parsed as YAML scalars)."""
    import yaml

    from edgevision.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed model argument {item!r}: expected key=value")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"malformed value in model argument {item!r}") from None
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "export", run)
    p.add_argument(
        "target",
        help="shipped weights name, registry model name or checkpoint (.pt/.safetensors); "
        "an .onnx file with -o FILE.xml",
    )
    p.add_argument(
        "-o",
        "--out",
        required=True,
        help="output .onnx path; FILE.xml: an OpenVINO IR (+ FILE.bin) made from the checked "
        "ONNX export, metadata in its rt_info; a folder with --components",
    )
    p.add_argument(
        "--components",
        action="store_true",
        help="yolact_* models: one ONNX graph per component (backbone_lower ... featflownet) "
        "into the folder OUT, for video mode in ONNX Runtime and per-component precision",
    )
    p.add_argument(
        "--fp16",
        action="store_true",
        help="write an FP16 graph for ONNX Runtime's CUDA/TensorRT provider (--providers "
        "cuda): the checked FP32 export converted, inputs and outputs kept float32; an .onnx "
        "TARGET is converted as it is. Per-component FP16 of a component folder: 'edgevision "
        "quantize FOLDER --precision head=fp16,...'",
    )
    p.add_argument("--input", metavar="HxW", help="input size to record and trace at")
    p.add_argument("--opset", type=positive_int, default=17)
    p.add_argument("--static-batch", action="store_true", help="fixed batch dimension")
    p.add_argument("--static-shape", action="store_true", help="fixed height and width")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime check")
    p.add_argument("--atol", type=nonneg_float, default=1e-3)
    p.add_argument("--rtol", type=nonneg_float, default=1e-3)
    add_overrides(
        p,
        "--model-arg",
        "-m",
        help="constructor override for a registry name, e.g. -m width_mult=0.5",
    )
    p.add_argument("--json", metavar="FILE", help="write the export report as JSON")


def run(args: argparse.Namespace) -> int:
    """Export a model to ONNX and check it against PyTorch.

    Export a registry model (random init) or a checkpoint to ONNX (opset >= 17), simplify it
    with onnxslim, embed its ModelSpec in metadata_props, and check it in ONNX Runtime against
    PyTorch on two input shapes. Fails (no file written) past tolerance. With ``-o FILE.xml``
    the checked ONNX graph (or an ``.onnx`` target) is converted to an OpenVINO IR.
    """
    import contextlib
    import tempfile
    from pathlib import Path

    from edgevision.config import ExportConfig, parse_size
    from edgevision.export import export_onnx
    from edgevision.io import ONNX_SUFFIXES, OPENVINO_SUFFIXES, write_json_atomic

    if args.components:
        check_outputs(args, "json", folders=("out",))
    else:
        check_outputs(args, "out", "json")
    cfg = ExportConfig(
        opset=args.opset,
        dynamic_batch=not args.static_batch,
        dynamic_shape=not args.static_shape,
        simplify=not args.no_simplify,
        check=not args.no_check,
        atol=args.atol,
        rtol=args.rtol,
    )
    size = parse_size(args.input, "--input") if args.input else None
    to_ir = Path(args.out).suffix.lower() in OPENVINO_SUFFIXES
    if args.fp16 and (args.components or to_ir):
        from edgevision.errors import ConfigError

        raise ConfigError(
            "--fp16 writes one .onnx file; for components use 'edgevision quantize FOLDER "
            "--precision COMP=fp16', for OpenVINO its own precision hints"
        )
    if args.components:
        return _export_components(args.target, args.out, size, args.opset, args.model_arg)
    if args.fp16:
        return _to_fp16(args, cfg, size)
    if to_ir and Path(args.target).suffix.lower() in ONNX_SUFFIXES:
        return _to_ir(args.target, args.out)
    with tempfile.TemporaryDirectory() if to_ir else contextlib.nullcontext() as tmp:
        onnx_out = Path(tmp) / f"{Path(args.out).stem}.onnx" if tmp else args.out
        report = export_onnx(
            args.target, onnx_out, cfg, input_size=size, **parse_model_args(args.model_arg)
        )
        _report(report, "the ONNX graph (temporary)" if to_ir else str(report.path))
        if to_ir:
            _to_ir(report.path, args.out)
    if args.json:
        write_json_atomic(args.json, report.to_dict())
    return 0


def _to_fp16(args: argparse.Namespace, cfg: Any, size: Any) -> int:
    """``--fp16``: convert an .onnx target, or the checked FP32 export of a model."""
    import tempfile
    from pathlib import Path

    from edgevision.export import export_onnx
    from edgevision.export.fp16 import convert_fp16
    from edgevision.io import ONNX_SUFFIXES, write_json_atomic

    if Path(args.target).suffix.lower() in ONNX_SUFFIXES:
        out = convert_fp16(args.target, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / f"{Path(args.out).stem}.onnx"
            report = export_onnx(
                args.target, fp32, cfg, input_size=size, **parse_model_args(args.model_arg)
            )
            _report(report, "the FP32 graph (temporary)")
            out = convert_fp16(report.path, args.out)
            if args.json:
                write_json_atomic(args.json, {**report.to_dict(), "fp16": str(out)})
    print(f"wrote {out} (FP16, {out.stat().st_size / 1e6:.2f} MB, float32 inputs/outputs)")
    return 0


def _to_ir(onnx_path: Any, out: str) -> int:
    from edgevision.export.openvino import export_openvino

    xml = export_openvino(onnx_path, out)
    size = (xml.stat().st_size + xml.with_suffix(".bin").stat().st_size) / 1e6
    print(f"wrote {xml} + {xml.with_suffix('.bin').name} (OpenVINO IR, {size:.2f} MB)")
    return 0


def _report(report: Any, what: str) -> None:
    print(
        f"wrote {what} ({report.size_mb:.2f} MB, opset {report.opset}, "
        f"{'simplified' if report.simplified else 'not simplified'}, {report.seconds:.1f} s)"
    )
    for c in report.checks:
        shape = "x".join(map(str, c["input"]))
        print(f"  check {shape}: {c['output']} max |onnx - torch| = {c['max_abs_err']:.2e}")


def _export_components(
    target: str, out: str, size: tuple[int, int] | None, opset: int, model_args: list[str]
) -> int:
    from pathlib import Path

    from edgevision.errors import ConfigError
    from edgevision.export.yolact import export_components
    from edgevision.io import CHECKPOINT_SUFFIXES
    from edgevision.weights import resolve_weights

    target = resolve_weights(target)  # shipped weights by name -> their checkpoint
    if Path(target).suffix.lower() in CHECKPOINT_SUFFIXES:
        from edgevision.checkpoint import load_model

        model, trained = load_model(target), True
    else:
        from edgevision.registry import create_model

        kw = {"video": True, **parse_model_args(model_args)}  # the flow network for video mode
        model, trained = create_model(target, **kw), False
    spec = getattr(model, "spec", None)
    if spec is None or not get_task(spec.task).video:
        raise ConfigError(f"{target}: --components is for yolact_* (instance) models")
    parts = export_components(model, out, input_size=size, opset=opset, trained=trained)
    for p in parts:
        print(f"  {p.name:15s} {p.path} (max |onnx - torch| {p.max_abs_err:.1e})")
    print(f"wrote {len(parts)} components to {out}")
    return 0
