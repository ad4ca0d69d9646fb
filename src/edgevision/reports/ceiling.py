"""The machine's measured FP32 convolution throughput in ONNX Runtime (the "ceiling").

Latency targets are stated as a fraction of what this CPU can do. Rather than trust a
datasheet peak, :func:`conv_ceiling` times a chain of 3×3 convolutions (the layer type that
dominates the segmentation and detection networks here) in ONNX Runtime's CPU provider at a
given thread count and returns the best GFLOP/s (FLOPs = 2 × MACs) over a few shapes, so a
model's achieved GFLOP/s can be put next to the best the same runtime reaches on the same
machine, on the same day.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Ceiling", "conv_ceiling"]

# (channels, height, width): stride-1 3×3 convs at the feature sizes of a 360×480 input
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((32, 90, 120), (64, 45, 60), (128, 23, 30))


@dataclass
class Ceiling:
    """Result of :func:`conv_ceiling`.

    Attributes:
        gflops_per_s: best throughput over the shapes, GFLOP/s (2 × MACs per second).
        threads: intra-op threads used.
        per_shape: ``"CxHxW" -> GFLOP/s`` (best run of each shape).
        method: what was timed.
    """

    gflops_per_s: float
    threads: int
    per_shape: dict[str, float] = field(default_factory=dict)
    method: str = ""


def _chain(c: int, h: int, w: int, depth: int) -> tuple[bytes, int]:
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
    return model.SerializeToString(), depth * 2 * c * c * 9 * h * w


def conv_ceiling(
    threads: int = 2,
    *,
    shapes: Sequence[tuple[int, int, int]] = DEFAULT_SHAPES,
    depth: int = 8,
    runs: int = 20,
    warmup: int = 5,
) -> Ceiling:
    """Measure ONNX Runtime's best FP32 3×3-convolution throughput on this machine.

    Args:
        threads: intra-op threads (the target's core count).
        shapes: ``(C, H, W)`` of the stride-1 ``C -> C`` 3×3 convolutions timed.
        depth: convolutions chained per run.
        runs: timed runs per shape (the fastest counts: a ceiling, not a typical value).
        warmup: untimed runs first.

    Returns:
        A :class:`Ceiling`.
    """
    import onnxruntime as ort

    per: dict[str, float] = {}
    for c, h, w in shapes:
        model, flops = _chain(c, h, w, depth)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).random((1, c, h, w), dtype=np.float32)
        for _ in range(warmup):
            sess.run(None, {"x": x})
        best = float("inf")
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, {"x": x})
            best = min(best, time.perf_counter() - t)
        per[f"{c}x{h}x{w}"] = round(flops / best / 1e9, 1)
        del sess
    return Ceiling(
        gflops_per_s=max(per.values()),
        threads=threads,
        per_shape=per,
        method=(
            f"ONNX Runtime CPU FP32, chains of {depth} 3x3 convs + ReLU, best of {runs} runs "
            f"per shape, {threads} threads"
        ),
    )
