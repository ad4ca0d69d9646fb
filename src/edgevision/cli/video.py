"""``edgevision video``: YolactEdge video mode over videos or a folder of frames.

Runs a ``yolact_*`` checkpoint per frame and/or in video mode (keyframes + FeatFlowNet +
partial feature transform) and prints time per frame, the keyframe fraction and, on a
YouTube-VIS-layout dataset, per-frame box/mask AP. Torch is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevision.cli.common import (
    add_backend_args,
    add_command,
    add_precision_args,
    check_outputs,
    command_line,
    nonneg_int,
    pick,
    positive_int,
    propagate_value,
)
from edgevision.tasks import get_task


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "video", run)
    p.add_argument(
        "weights",
        metavar="WEIGHTS",
        help="checkpoint (.pt/.safetensors), registry name, or a component folder "
        "('edgevision export --components'; runs in ONNX Runtime or OpenVINO, each part at "
        "its precision)",
    )
    add_backend_args(
        p,
        auto="ONNX Runtime for a component folder or with --providers, torch for a "
        "checkpoint; onnxruntime or openvino with a checkpoint exports its components to a "
        "temporary folder first, and --providers cuda or tensorrt,cuda runs every component "
        "graph on the GPU at the precision of its file",
        engine_alias=True,
    )
    p.add_argument(
        "--ov-precision",
        choices=["f32", "bf16", "auto"],
        default="f32",
        help="with --backend openvino: the float components' precision hint (INT8 components "
        "run INT8; auto: OpenVINO's default for this CPU)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder or frame folder")
    p.add_argument("--split", default="val", help="split of a YouTube-VIS layout (default: val)")
    p.add_argument(
        "--keyframes",
        default=None,
        metavar="POLICY",
        help="fixed:K | adaptive[:MAX] | none (default: the default path's, fixed:2)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="compare with FP32 per-frame mode (first row), the default path (marked "
        "'default') and the adaptive keyframe policy",
    )
    p.add_argument(
        "--warp-protos",
        action="store_true",
        help="warp the keyframe prototypes on non-keyframes instead of running ProtoNet (faster)",
    )
    p.add_argument(
        "--propagate",
        nargs="?",
        const="featflownet",
        default=None,
        type=propagate_value,
        metavar="FLOW",
        help="on non-keyframes warp the keyframe's final masks with the flow instead of the "
        "heads: FLOW featflownet (the flag alone: backbone to C3 + FeatFlowNet) or dis "
        "(OpenCV's DIS optical flow on the frames, preset ultrafast: no network on "
        "non-keyframes; dis:fast, dis:medium: slower, more accurate presets); none: the "
        "partial feature transform; a dis flow + redetect[:PREC] (e.g. dis:medium+redetect:mixed) "
        "also runs the detector without ProtoNet on non-keyframes (on engine PREC, else the "
        "precision policy's) and fuses its boxes with the propagated masks by IoU "
        "(default: the default path's, dis:medium)",
    )
    add_precision_args(p)
    p.add_argument(
        "--precision-sweep",
        action="store_true",
        help="compare FP32 per-frame mode with the asked mode at each loaded precision "
        "(fixed:fp32, fixed:mixed, fixed:int8) and with --precision-policy adaptive (or the "
        "asked policy)",
    )
    p.add_argument(
        "--warp-error",
        action="store_true",
        help="diagnose: relative error of warped P4/P5/prototypes vs computed ones, with zero, "
        "FeatFlowNet and ground-truth flow, and each flow's endpoint error against the truth "
        "(synthetic videos with flow; torch checkpoint)",
    )
    p.add_argument("--threads", type=positive_int, default=2, help="engine threads (default: 2)")
    p.add_argument(
        "--max-frames", type=nonneg_int, default=0, metavar="N", help="stop after N frames (0: all)"
    )
    p.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --compare: alternate the modes N times and report median times (default 1)",
    )
    p.add_argument("--conf", type=float, default=0.05, help="score threshold (default: 0.05)")
    p.add_argument("--json", metavar="FILE", help="also write the runs as JSON")
    p.add_argument(
        "--md", metavar="FILE", help="also write the table (with command and machine) as markdown"
    )


_ENGINE_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def video_modes(args: argparse.Namespace, available: set[str]) -> tuple[list[Any], int | None]:
    """The modes to run and the index of the default path among them (``None`` if absent).

    Without ``--compare``: the mode the flags ask for, each flag not given taken from
    :func:`~edgevision.video.modes.default_mode`. With ``--compare``: FP32 per-frame
    first (per frame at the model's own precision when no FP32 engine is loaded), the default
    path, the asked mode when it differs, and that mode with adaptive keyframes.
    """
    from dataclasses import replace

    from edgevision.video.modes import PER_FRAME, default_mode, resolve_mode
    from edgevision.video.precision import PRECISIONS

    default = default_mode(tuple(available))
    asked = resolve_mode(args.keyframes, args.propagate, args.precision_policy, available)
    if getattr(args, "precision_sweep", False):
        first = PER_FRAME if "fp32" in available else replace(PER_FRAME, precision="")
        sweep = [replace(asked, precision=f"fixed:{p}") for p in PRECISIONS if p in available]
        adaptive = asked if asked.precision.startswith("adaptive") else None
        modes = [first, *sweep, adaptive or replace(asked, precision="adaptive")]
        return modes, next((i for i, m in enumerate(modes) if m == default), None)
    if not args.compare:
        return [asked], (0 if asked == default else None)
    first = PER_FRAME if "fp32" in available else replace(PER_FRAME, precision="")
    modes = [first, default]
    if asked != default:
        modes.append(asked)
    if asked.keyframes != "adaptive":
        modes.append(replace(asked, keyframes="adaptive"))
    return modes, 1


def _on(providers: list[str]) -> str:
    """`` on cuda, cpu`` for the engine line when providers were asked for."""
    return f" on {', '.join(providers)}" if providers else ""


def run(args: argparse.Namespace) -> int:
    """Run an instance model on video: per-frame vs keyframe video mode (YolactEdge).

    Run a yolact_* checkpoint (or registry name, untrained) over DATA: a dataset folder with
    annotations/ytvis_SPLIT.json + videos/SPLIT (AP is computed) or a folder of frames.
    --keyframes picks the policy: fixed:K (a keyframe every K frames), adaptive[:MAX] (new
    keyframe on large motion, a large warp residual with DIS flow, or a confidence drop) or
    none (per-frame); --precision-policy picks the engine precision per frame among the
    component folders of --precision-engines. Flags not given take the default path's
    values (DIS medium propagation, fixed:2, mixed INT8 keyframes when such an engine is
    given). --compare runs FP32 per-frame mode first and marks the default path's row.
    """
    from pathlib import Path

    from edgevision.config import parse_size
    from edgevision.errors import ConfigError, require_dir
    from edgevision.video.keyframes import parse_keyframes
    from edgevision.video.precision import parse_precision

    if args.keyframes is not None:
        parse_keyframes(args.keyframes)  # fail fast on a bad policy
    if args.precision_policy is not None:
        parse_precision(args.precision_policy)
    small = parse_size(args.small_input, "--small-input") if args.small_input else None
    require_dir(args.data, "data folder")
    check_outputs(args, "json", "md")
    import tempfile

    from edgevision.io import CHECKPOINT_SUFFIXES, write_json_atomic
    from edgevision.video.ort import COMPONENT_BACKENDS, ComponentSet, is_component_folder
    from edgevision.weights import resolve_weights

    args.weights = resolve_weights(args.weights)  # shipped weights by name -> checkpoint
    tmp = tempfile.TemporaryDirectory(prefix="edgevision-video-")
    folder = Path(args.weights) if is_component_folder(args.weights) else None
    from edgevision.runtime.base import check_backend

    if args.backend == "tensorrt":
        raise ConfigError(
            "video mode runs its component graphs in onnxruntime, openvino or torch, not "
            "tensorrt; on an NVIDIA GPU: --backend onnxruntime --providers tensorrt,cuda"
        )
    engine = check_backend(args.backend, args.providers)  # one line when a GPU stack is missing
    if engine == "auto":
        engine = "onnxruntime" if folder is not None else "torch"
    if folder is not None and engine == "torch":
        raise ConfigError(
            f"{args.weights} is a component folder: it runs with --backend onnxruntime or openvino"
        )
    if args.ov_precision != "f32" and engine != "openvino":
        raise ConfigError("--ov-precision applies to --backend openvino only")
    if Path(args.weights).is_dir() and folder is None:
        raise ConfigError(
            f"{args.weights}: not a component folder (no backbone_lower.onnx ... warp.onnx)"
        )
    model: Any = None
    if folder is None:
        import torch

        torch.set_num_threads(args.threads)
        if Path(args.weights).suffix.lower() in CHECKPOINT_SUFFIXES:
            from edgevision.checkpoint import load_model

            model = load_model(args.weights)
        else:
            from edgevision.registry import create_model

            model = create_model(args.weights, video=True)
        if getattr(model, "spec", None) is None or not get_task(model.spec.task).video:
            raise ConfigError(f"{args.weights}: not an instance (yolact_*) model")
        if engine in COMPONENT_BACKENDS:
            from edgevision.export.yolact import export_components

            folder = Path(tmp.name)
            export_components(model, folder)
    if folder is not None:
        model = ComponentSet(
            folder,
            threads=args.threads,
            providers=args.providers,
            backend=engine,
            ov_precision=args.ov_precision,
        )
    engine_text = (
        f"{_ENGINE_NAMES[engine]} components{_on(args.providers)} "
        f"({', '.join(f'{k} {v}' for k, v in model.precision.items())})"
        if folder is not None
        else "torch eager (CPU)"
    )
    if engine == "openvino":
        engine_text += f", float hint {args.ov_precision}"
    if args.warp_error:
        if folder is not None or getattr(model, "flownet", None) is None:
            raise ConfigError("--warp-error needs a torch checkpoint with FeatFlowNet")
        from edgevision.video.evaluate import warp_error

        errs = warp_error(model, args.data, split=args.split)
        info = errs.pop("info")
        print(
            f"relative L2 error of warped vs computed features, {int(info['pairs'])} frame "
            f"pairs up to 4 apart (mean ground-truth motion {info['flow_input_px']:.1f} input px):"
        )
        for name, e in errs.items():
            feats = ", ".join(f"{k} {e[k]:.3f}" for k in ("p4", "p5", "protos"))
            print(f"  {name:>12} flow: {feats}")
        print(
            "flow endpoint error vs the truth (input px, at stride 8; valid = visible in "
            f"both frames, {100 * info['valid_fraction']:.0f} % of pixels):"
        )
        for name, e in errs.items():
            print(f"  {name:>12} flow: all {e['epe_px']:.2f} px, valid {e['epe_valid_px']:.2f} px")
        return 0
    from edgevision.video.evaluate import compare_modes

    if args.precision_engines and folder is None:
        raise ConfigError(
            "--precision-engines needs components (--backend onnxruntime or openvino)"
        )
    engines = [model.sibling(e) for e in args.precision_engines or []]
    available = {model.level if folder is not None else "fp32", *(e.level for e in engines)}
    if small is not None:
        if folder is None:
            raise ConfigError("--small-input needs components (--backend onnxruntime or openvino)")
        available.add("small")
    if engines:
        engine_text += "; other precisions: " + ", ".join(
            f"{e.level} {e.folder} ({', '.join(f'{k} {v}' for k, v in e.precision.items())})"
            for e in engines
        )
    modes, default_index = video_modes(args, available)
    runs = compare_modes(
        model,
        args.data,
        tuple(modes),
        reuse_protos=args.warp_protos,
        conf_threshold=args.conf,
        engines=engines or None,
        small_input=small,
        **pick(args, "rounds", "split", "max_frames"),
    )
    if default_index is not None:
        runs[default_index].default = True
    base = runs[0].ms_per_frame
    lines = [
        "| mode | frames | keyframe % | precision share | ms/frame | ms key | ms non-key | "
        "speed-up | mask AP | box AP |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        share = ", ".join(f"{k} {100 * v:.0f} %" for k, v in r.precision_share.items())
        lines.append(
            f"| {r.mode.label()}{' (default)' if r.default else ''} | {r.frames} | "
            f"{100 * r.keyframe_fraction:.0f} | {share} | {r.ms_per_frame:.1f} | "
            f"{_fmt(r.ms_keyframe)} | {_fmt(r.ms_non_keyframe)} | {base / r.ms_per_frame:.2f}x | "
            f"{_fmt(r.mask_ap, '.4f')} | {_fmt(r.box_ap, '.4f')} |"
        )
    stage_lines = [
        f"stage ms/frame ({r.mode.label()}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r.stage_ms.items())
        for r in runs
    ]
    print("\n".join(lines))
    print("\n".join(stage_lines), file=sys.stderr)
    if args.md:
        import platform

        from edgevision.io import write_text_atomic

        cmd = command_line(args)
        head = [
            f"Written by `{cmd}` on {platform.machine()} / {platform.processor() or platform.system()}, "
            f"{args.threads} thread(s), {engine_text}. Times are per frame, "
            f"preprocessing to InstanceMasks; median of {args.rounds} alternating round(s); speed-up is "
            "relative to the first row.",
            "",
        ]
        body = head + lines + ["", *[f"- {x}" for x in stage_lines], ""]
        write_text_atomic(args.md, "\n".join(body))
        print(f"wrote {args.md}")
    if args.json:
        write_json_atomic(
            args.json,
            {
                "weights": str(args.weights),
                "engine": engine_text,
                "threads": args.threads,
                "runs": [r.to_dict() for r in runs],
            },
        )
        print(f"wrote {args.json}")
    return 0
