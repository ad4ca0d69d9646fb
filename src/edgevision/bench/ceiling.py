"""The machine's measured convolution throughput on its best engine (the "ceiling").

Latency targets are stated as a fraction of what this CPU can do. Rather than trust a
datasheet peak, :func:`conv_ceiling` times chains of 3×3 convolutions (the layer type that
dominates the segmentation and detection networks here) on every CPU engine and precision
this host has, and keeps the best:

- ONNX Runtime (CPU provider): FP32, and the same chain as a QDQ INT8 file;
- OpenVINO: ``f32``, ``bf16`` (only where the CPU has BF16 instructions, ``avx512_bf16`` or
  ``amx_bf16``: elsewhere OpenVINO would emulate it) and the QDQ INT8 file.

Throughput is counted as 2 × MACs per second (GFLOP/s for the float engines, giga integer
ops per second for INT8), the best run of a few shapes, so a model's achieved GFLOP/s can be
put next to the best any installed engine reaches on the same machine, on the same day.
The INT8 chain is quantized by ONNX Runtime's ``quantize_static`` (QDQ, U8 activations, S8
per-channel weights: the project's static INT8 format), so INT8 needs ``onnxruntime``
installed even for the OpenVINO row. Engines are timed one after another in this process,
each session released before the next is made (ONNX Runtime's spinning pool ends with it).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.host import BF16_FLAGS

__all__ = ["Ceiling", "EngineCeiling", "ceiling_plan", "conv_ceiling"]

# (channels, height, width): stride-1 3×3 convs at the feature sizes of a 360×480 input
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((32, 90, 120), (64, 45, 60), (128, 23, 30))

# (engine, precision) in the order they are timed; precision names as in ModelSpec files
VARIANTS: tuple[tuple[str, str], ...] = (
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
)
# OpenVINO inference-precision hint per variant (an INT8 file runs INT8 at the f32 hint)
_OV_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


@dataclass
class EngineCeiling:
    """One engine and precision's best 3×3-conv throughput.

    Attributes:
        engine: ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``.
        gops_per_s: best over the shapes, giga ops (2 × MACs) per second.
        per_shape: ``"CxHxW" -> G op/s`` (best run of each shape).
    """

    engine: str
    precision: str
    gops_per_s: float
    per_shape: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"openvino int8"``: engine and precision."""
        return f"{self.engine} {self.precision}"


@dataclass
class Ceiling:
    """Result of :func:`conv_ceiling`: the best engine's throughput and every engine's.

    Attributes:
        gops_per_s: the ceiling, the best of :attr:`engines`, giga ops (2 × MACs) per second.
        engine: the engine that reached it.
        precision: its precision (``"fp32"``, ``"bf16"``, ``"int8"``).
        threads: intra-op threads used.
        per_shape: ``"CxHxW" -> G op/s`` of the best engine.
        engines: every measured engine and precision, in the order timed.
        skipped: ``"engine precision" -> why`` for the variants this host cannot run.
        method: what was timed.
    """

    gops_per_s: float
    engine: str
    precision: str
    threads: int
    per_shape: dict[str, float] = field(default_factory=dict)
    engines: list[EngineCeiling] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the engines as a list of dicts)."""
        return asdict(self)

    def summary(self) -> str:
        """One line: the ceiling and its engine, every engine's figure, what was skipped."""
        each = ", ".join(f"{e.label} {e.gops_per_s:.0f}" for e in self.engines)
        text = (
            f"{self.gops_per_s:.0f} G op/s on {self.engine} {self.precision} "
            f"(per engine, G op/s: {each}; {self.method}; per shape of the best: "
            + ", ".join(f"{k} {v:.0f}" for k, v in self.per_shape.items())
            + ")"
        )
        if self.skipped:
            text += "; not measured: " + ", ".join(f"{k} ({v})" for k, v in self.skipped.items())
        return text


def ceiling_plan(
    have: dict[str, bool] | None = None, flags: Sequence[str] | None = None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The ``(engine, precision)`` variants this host can time, and why the others are not.

    Args:
        have: backend name -> installed (default:
            :func:`edgevision.runtime.base.list_backends`).
        flags: CPU flags (default: :func:`edgevision.host.cpu_flags`).

    Returns:
        ``(variants, skipped)``: variants in :data:`VARIANTS` order; ``"engine precision" ->
        reason`` for the rest.
    """
    if have is None:
        from edgevision.runtime.base import list_backends

        have = list_backends()
    if flags is None:
        from edgevision.host import cpu_flags

        flags = cpu_flags()
    run: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for engine, precision in VARIANTS:
        if not have.get(engine):
            why = f"{engine} is not installed"
        elif precision == "int8" and not have.get("onnxruntime"):
            why = "the INT8 chain is quantized by onnxruntime, which is not installed"
        elif precision == "bf16" and not BF16_FLAGS & set(flags):
            why = "no BF16 instructions (avx512_bf16 or amx_bf16) on this CPU"
        else:
            run.append((engine, precision))
            continue
        skipped[f"{engine} {precision}"] = why
    return run, skipped


def _chain(c: int, h: int, w: int, depth: int) -> tuple[Any, int]:
    """An FP32 ONNX ``ModelProto`` of ``depth`` 3×3 ``C -> C`` convs + ReLU, and its ops."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(
        (rng.standard_normal((c, c, 3, 3)) * 0.05).astype(np.float32), "w"
    )
    bias = numpy_helper.from_array(np.zeros(c, np.float32), "b")
    nodes, prev = [], "x"
    for i in range(depth):
        nodes.append(helper.make_node("Conv", [prev, "w", "b"], [f"y{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"y{i}"], [f"r{i}"]))
        prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "conv_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, c, h, w])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model, depth * 2 * c * c * 9 * h * w


def _quantize(model: Any, x: np.ndarray, out: Path) -> Path:
    """``model`` as a QDQ INT8 file (ONNX Runtime's ``quantize_static``, min-max on ``x``)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class _Once(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"x": x}])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    root = logging.getLogger()  # the quantizer's pre-processing advice goes to the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(
            model,
            out,
            _Once(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)
    return out


def _runner(engine: str, precision: str, path: Path, threads: int) -> Callable[[Any], Any]:
    """A call running ``path`` on ``engine`` (compiled as its backend module does)."""
    if engine == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return lambda x: sess.run(None, {"x": x})
    import openvino as ov

    from edgevision.runtime.openvino import compile_config

    compiled = ov.Core().compile_model(
        str(path), "CPU", compile_config(threads, _OV_HINT[precision])
    )
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def _best_seconds(run: Callable[[Any], Any], x: np.ndarray, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        run(x)
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        run(x)
        best = min(best, time.perf_counter() - t)
    return best


def conv_ceiling(
    threads: int = 2,
    *,
    shapes: Sequence[tuple[int, int, int]] = DEFAULT_SHAPES,
    depth: int = 8,
    runs: int = 20,
    warmup: int = 5,
    have: dict[str, bool] | None = None,
    flags: Sequence[str] | None = None,
) -> Ceiling:
    """Measure the best 3×3-convolution throughput of every CPU engine and precision here.

    Args:
        threads: intra-op threads (the target's core count).
        shapes: ``(C, H, W)`` of the stride-1 ``C -> C`` 3×3 convolutions timed.
        depth: convolutions chained per run.
        runs: timed runs per shape and engine (the fastest counts: a ceiling, not a
            typical value).
        warmup: untimed runs first.
        have: installed backends (default: detected; see :func:`ceiling_plan`).
        flags: CPU flags (default: this CPU's).

    Returns:
        A :class:`Ceiling` naming the engine and precision of the best throughput.

    Raises:
        BackendUnavailable: neither ONNX Runtime nor OpenVINO is installed.
    """
    plan, skipped = ceiling_plan(have, flags)
    if not plan:
        from edgevision.errors import BackendUnavailable

        raise BackendUnavailable(
            "the conv ceiling needs ONNX Runtime or OpenVINO: pip install 'edgevision[onnx]'"
        )
    per: dict[tuple[str, str], dict[str, float]] = {v: {} for v in plan}
    with tempfile.TemporaryDirectory(prefix="edgevision-ceiling-") as tmp:
        for c, h, w in shapes:
            model, ops = _chain(c, h, w, depth)
            x = np.random.default_rng(1).random((1, c, h, w), dtype=np.float32)
            files = {"fp32": Path(tmp) / f"chain_{c}x{h}x{w}.onnx"}
            files["fp32"].write_bytes(model.SerializeToString())
            if any(p == "int8" for _, p in plan):
                files["int8"] = _quantize(model, x, Path(tmp) / f"chain_{c}x{h}x{w}_int8.onnx")
            for engine, precision in plan:
                run = _runner(engine, precision, files.get(precision, files["fp32"]), threads)
                best = _best_seconds(run, x, runs, warmup)
                del run  # release the session (and its thread pool) before the next
                per[(engine, precision)][f"{c}x{h}x{w}"] = round(ops / best / 1e9, 1)
    engines = [EngineCeiling(e, p, max(v.values()), v) for (e, p), v in per.items()]
    top = max(engines, key=lambda e: e.gops_per_s)
    return Ceiling(
        gops_per_s=top.gops_per_s,
        engine=top.engine,
        precision=top.precision,
        threads=threads,
        per_shape=dict(top.per_shape),
        engines=engines,
        skipped=skipped,
        method=(
            f"chains of {depth} 3x3 convs + ReLU (INT8: QDQ by ONNX Runtime's "
            f"quantize_static), best of {runs} runs per shape, {threads} threads"
        ),
    )
