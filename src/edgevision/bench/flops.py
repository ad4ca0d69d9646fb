"""FLOP and parameter counts of ONNX graphs and PyTorch modules.

Convention (the one papers use): **FLOPs = 2 × multiply-accumulates (MACs)** of the
convolution and matrix-multiply layers, for the given input shape. Cheap element-wise and
reduction ops (Add, Relu, Sigmoid, pooling, Resize ...) are counted separately in
:attr:`FlopCount.other_flops` (one FLOP per output element) and are *not* part of
:attr:`FlopCount.flops`, so numbers compare with published "GFLOPs" columns.

INT8 graphs count the same MACs as their float originals: in a QDQ graph the ``Conv`` reads
its weight from a ``DequantizeLinear`` whose shape is known, and ``QLinearConv`` /
``ConvInteger`` / ``QLinearMatMul`` / ``MatMulInteger`` are counted like ``Conv`` / ``MatMul``.

Only ``onnx`` (and optionally ``onnxruntime`` as a shape fallback) is needed for ONNX files;
:func:`torch_flops` imports torch lazily.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgevision.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch.nn as nn

__all__ = ["FlopCount", "onnx_flops", "onnx_params", "torch_flops"]

#: ops whose cost is MACs (counted in ``flops``), mapped to the input index of their weight
_CONV_OPS: dict[str, int] = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
_CONVT_OPS: dict[str, int] = {"ConvTranspose": 1}
#: matmul-like ops -> (index of A, index of B)
_MATMUL_OPS: dict[str, tuple[int, int]] = {
    "MatMul": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearMatMul": (0, 3),
}
#: element-wise / reduction ops counted as one FLOP per output element in ``other_flops``
_CHEAP_OPS = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Sqrt",
        "Exp",
        "Log",
        "Neg",
        "Abs",
        "Reciprocal",
        "Relu",
        "LeakyRelu",
        "PRelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Clip",
        "Elu",
        "Selu",
        "Gelu",
        "Mish",
        "Softplus",
        "Erf",
        "Max",
        "Min",
        "Sum",
        "Mean",
        "Softmax",
        "LogSoftmax",
        "BatchNormalization",
        "InstanceNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "Resize",
        "Upsample",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ArgMax",
    }
)
#: initializer inputs that are quantization parameters, not weights: op -> input indices
_QPARAM_INPUTS: dict[str, tuple[int, ...]] = {
    "QuantizeLinear": (1, 2),
    "DequantizeLinear": (1, 2),
    "QLinearConv": (1, 2, 4, 5, 6, 7),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "ConvInteger": (2, 3),
    "MatMulInteger": (2, 3),
    "QLinearAdd": (1, 2, 4, 5, 6, 7),
    "QLinearMul": (1, 2, 4, 5, 6, 7),
}
#: ONNX TensorProto data types counted as parameters (float, int8/uint8 weights, int32 bias)
_PARAM_DTYPES = frozenset({1, 2, 3, 6, 10, 11, 16})  # FLOAT UINT8 INT8 INT32 FLOAT16 DOUBLE BF16


@dataclass
class FlopCount:
    """Operation and parameter count of one forward pass at a fixed input shape.

    Attributes:
        flops: 2 × MACs of Conv / ConvTranspose / MatMul / Gemm (and their INT8 forms).
        other_flops: element-wise, normalisation, pooling and resize ops, one FLOP per output
            element (a rough lower bound; not included in ``flops``).
        params: number of weight elements (ONNX: float/int8/int32 initializers that are not
            quantization scales or zero points; torch: ``sum(p.numel())``).
        input_shape: the input shape counted, e.g. ``(1, 3, 320, 320)``.
        by_op: ``flops`` (and ``other_flops``) summed per op type, e.g. ``{"Conv": ...}``.
        uncounted: names of MAC-type nodes whose shapes could not be inferred (their cost is
            missing from ``flops``); empty when the count is complete.
    """

    flops: int
    other_flops: int
    params: int
    input_shape: tuple[int, ...]
    by_op: dict[str, int] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (``flops // 2``)."""
        return self.flops // 2

    @property
    def gflops(self) -> float:
        """``flops / 1e9`` (2 × MACs)."""
        return self.flops / 1e9


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------
def _load(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    p = Path(model)
    if not p.is_file():
        raise ModelFileError(f"ONNX file not found: {p}")
    try:
        return onnx.load(str(p))
    except Exception as e:  # onnx raises DecodeError / ValueError / OSError variants
        raise ModelFileError(f"not an ONNX file: {p} ({type(e).__name__})") from None


def _graph_inputs(m: onnx.ModelProto) -> list[Any]:
    inits = {i.name for i in m.graph.initializer}
    return [i for i in m.graph.input if i.name not in inits]


def _with_concrete_inputs(
    m: onnx.ModelProto, shapes: Mapping[str, Sequence[int]]
) -> onnx.ModelProto:
    import onnx

    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    for inp in _graph_inputs(m2):
        if inp.name not in shapes:
            continue
        want = list(shapes[inp.name])
        dims = inp.type.tensor_type.shape.dim
        if len(dims) != len(want):
            raise ModelFileError(
                f"input {inp.name!r} has rank {len(dims)}, got shape {tuple(want)} to count FLOPs"
            )
        for d, v in zip(dims, want):
            if d.HasField("dim_value") and d.dim_value != v:
                raise ModelFileError(
                    f"input {inp.name!r} has fixed shape "
                    f"{[x.dim_value or x.dim_param for x in dims]}, cannot count at {tuple(want)}"
                )
            d.Clear()
            d.dim_value = int(v)
    return m2


def _known_shapes(m: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Name -> concrete shape for every tensor whose shape is fully known."""
    out: dict[str, tuple[int, ...]] = {}
    for init in m.graph.initializer:
        out[init.name] = tuple(int(d) for d in init.dims)
    for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            out[vi.name] = tuple(int(d.dim_value) for d in dims)
    return out


def _shapes_from_onnxruntime(
    m: onnx.ModelProto, names: Sequence[str], shapes: Mapping[str, Sequence[int]]
) -> dict[str, tuple[int, ...]]:
    """Fallback: run the graph once on zeros with ``names`` as extra outputs to get shapes."""
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError:
        return {}
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    have = {o.name for o in m2.graph.output}
    for n in names:
        if n and n not in have:
            m2.graph.output.append(onnx.ValueInfoProto(name=n))
            have.add(n)
    dtypes = {1: np.float32, 10: np.float16, 7: np.int64, 6: np.int32, 2: np.uint8, 3: np.int8}
    feeds = {}
    for inp in _graph_inputs(m2):
        dt = dtypes.get(inp.type.tensor_type.elem_type, np.float32)
        feeds[inp.name] = np.zeros(tuple(shapes[inp.name]), dtype=dt)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(m2.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(list(have), feeds)
    except Exception:  # a fallback; the caller reports the nodes left uncounted
        return {}
    return {n: tuple(int(s) for s in np.shape(v)) for n, v in zip(list(have), outs)}


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def onnx_params(model: str | Path | onnx.ModelProto) -> int:
    """Number of weight elements in an ONNX graph.

    Counts initializers of float, float16, int8/uint8 (quantized weights) and int32
    (quantized biases) type, excluding quantization scales and zero points and int64
    shape constants. For a QDQ INT8 export this equals the float model's count.

    Args:
        model: path to a ``.onnx`` file or a loaded ``onnx.ModelProto``.

    Returns:
        Parameter count (elements, not bytes).

    Raises:
        ModelFileError: the file is missing or is not an ONNX model.
    """
    m = _load(model)
    qparams: set[str] = set()
    for node in m.graph.node:
        for i in _QPARAM_INPUTS.get(node.op_type, ()):
            if i < len(node.input):
                qparams.add(node.input[i])
    total = 0
    for init in m.graph.initializer:
        if init.name in qparams or init.data_type not in _PARAM_DTYPES:
            continue
        total += math.prod(init.dims) if len(init.dims) else 1
    # weights stored as Constant nodes (some exporters do that)
    for node in m.graph.node:
        if node.op_type == "Constant" and node.output[0] not in qparams:
            t = _attr(node, "value", None)
            if t is not None and getattr(t, "data_type", 0) in _PARAM_DTYPES and len(t.dims):
                n = math.prod(t.dims)
                if n > 1:
                    total += n
    return int(total)


def onnx_flops(
    model: str | Path | onnx.ModelProto,
    input_shape: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
) -> FlopCount:
    """Count FLOPs (= 2 × MACs) and parameters of an ONNX graph at a concrete input shape.

    Shapes come from ``onnx.shape_inference`` with the inputs fixed to ``input_shape``;
    where inference leaves a MAC-type node's shape unknown, the graph is run once on zeros
    with ONNX Runtime (when installed) to read them. Nodes still unknown are listed in
    :attr:`FlopCount.uncounted`.

    Per node (N = batch):

    - ``Conv`` / ``QLinearConv`` / ``ConvInteger``: ``2·N·Cout·Hout·Wout·(Cin/groups)·kh·kw``
    - ``ConvTranspose``: ``2·N·Cin·Hin·Win·(Cout/groups)·kh·kw``
    - ``MatMul`` (and INT8 forms): ``2·prod(output shape)·K``
    - ``Gemm``: ``2·M·N·K``

    Biases are not counted. Subgraphs (``If``/``Loop``) are ignored.

    Args:
        model: path to a ``.onnx`` file or a loaded ``onnx.ModelProto``.
        input_shape: the shape of the single image input, e.g. ``(1, 3, 320, 320)``, or a
            mapping ``{input_name: shape}``; ``None`` uses the graph's static shapes.

    Returns:
        The :class:`FlopCount`.

    Raises:
        ModelFileError: missing/invalid file, or a shape that contradicts the graph's.
    """
    import onnx

    m = _load(model)
    inputs = _graph_inputs(m)
    if input_shape is None:
        shapes: dict[str, tuple[int, ...]] = {}
        for inp in inputs:
            dims = inp.type.tensor_type.shape.dim
            if not all(d.HasField("dim_value") for d in dims):
                raise ModelFileError(
                    f"input {inp.name!r} has a dynamic shape; give input_shape to count FLOPs"
                )
            shapes[inp.name] = tuple(int(d.dim_value) for d in dims)
    elif isinstance(input_shape, Mapping):
        shapes = {k: tuple(int(x) for x in v) for k, v in input_shape.items()}
    else:
        if len(inputs) != 1:
            raise ModelFileError(
                f"model has {len(inputs)} inputs; give input_shape as {{name: shape}}"
            )
        shapes = {inputs[0].name: tuple(int(x) for x in input_shape)}
    fixed = _with_concrete_inputs(m, shapes)
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, strict_mode=False, data_prop=True)
    except Exception:  # shape inference is best effort; the fallback follows
        inferred = fixed
    known = _known_shapes(inferred)

    def needed(node: Any) -> list[str]:
        op = node.op_type
        if op in _CONV_OPS:
            return [node.input[_CONV_OPS[op]], node.output[0]]
        if op in _CONVT_OPS:
            return [node.input[0], node.input[_CONVT_OPS[op]]]
        if op in _MATMUL_OPS:
            a, b = _MATMUL_OPS[op]
            return [node.input[a], node.input[b], node.output[0]]
        if op == "Gemm":
            return [node.input[0], node.input[1], node.output[0]]
        return []

    missing = [n for node in m.graph.node for n in needed(node) if n not in known]
    if missing:
        known.update(_shapes_from_onnxruntime(fixed, missing, shapes))

    flops = other = 0
    by_op: dict[str, int] = {}
    uncounted: list[str] = []
    for node in m.graph.node:
        op = node.op_type
        names = needed(node)
        if names:
            if any(n not in known for n in names):
                uncounted.append(node.name or f"{op}:{node.output[0]}")
                continue
            macs = _node_macs(node, [known[n] for n in names])
            flops += 2 * macs
            key = {"ConvInteger": "Conv", "QLinearConv": "Conv"}.get(op, op)
            key = {"MatMulInteger": "MatMul", "QLinearMatMul": "MatMul"}.get(key, key)
            by_op[key] = by_op.get(key, 0) + 2 * macs
        elif op in _CHEAP_OPS and node.output and node.output[0] in known:
            n_out = math.prod(known[node.output[0]])
            other += n_out
            by_op[op] = by_op.get(op, 0) + n_out
    first = next(iter(shapes.values()), ())
    return FlopCount(
        flops=int(flops),
        other_flops=int(other),
        params=onnx_params(m),
        input_shape=tuple(first),
        by_op=by_op,
        uncounted=uncounted,
    )


def _node_macs(node: Any, shapes: list[tuple[int, ...]]) -> int:
    op = node.op_type
    if op in _CONV_OPS:
        w, y = shapes
        # weight (Cout, Cin/groups, k...), output (N, Cout, spatial...)
        return math.prod(y) * math.prod(w[1:])
    if op in _CONVT_OPS:
        x, w = shapes
        # input (N, Cin, spatial...), weight (Cin, Cout/groups, k...)
        return math.prod(x) * math.prod(w[1:])
    if op in _MATMUL_OPS:
        a, _b, y = shapes
        k = a[-1] if len(a) >= 1 else 1
        return math.prod(y) * k
    # Gemm: Y (M, N) = A' (M, K) · B' (K, N)
    a, _b, y = shapes
    trans_a = int(_attr(node, "transA", 0))
    k = a[0] if trans_a else a[-1]
    return math.prod(y) * k


# --------------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------------
def torch_flops(module: nn.Module, input_shape: Sequence[int]) -> FlopCount:
    """Count FLOPs (= 2 × MACs, PyTorch's ``FlopCounterMode`` convention) of a module.

    Runs one forward pass on zeros of ``input_shape`` under
    ``torch.utils.flop_counter.FlopCounterMode`` and ``torch.no_grad()``. It counts
    convolutions, matmuls and attention (2 × MACs each), matching :func:`onnx_flops`'s
    ``flops``; element-wise ops are not counted (``other_flops`` is 0).

    Args:
        module: the model (in eval mode for a meaningful count).
        input_shape: e.g. ``(1, 3, 320, 320)`` (NCHW float32).

    Returns:
        The :class:`FlopCount`; ``params`` is ``sum(p.numel() for p in module.parameters())``.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        p0 = next(module.parameters())
        device, dtype = p0.device, (p0.dtype if p0.is_floating_point() else torch.float32)
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    x = torch.zeros(tuple(int(s) for s in input_shape), device=device, dtype=dtype)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    by_op: dict[str, int] = {}
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        name = getattr(op, "__name__", str(op))
        by_op[name] = by_op.get(name, 0) + int(n)
    params = sum(int(p.numel()) for p in module.parameters())
    return FlopCount(
        flops=int(counter.get_total_flops()),
        other_flops=0,
        params=params,
        input_shape=tuple(int(s) for s in input_shape),
        by_op=by_op,
    )
