"""Small rewrites of QDQ ONNX graphs shared by the quantizers and their checks."""

from __future__ import annotations

from typing import Any


def scalar_qdq_params(proto: Any) -> int:
    """Make per-tensor Q/DQ scales and zero points scalars (NNCF writes shape ``[1]``).

    ONNX Runtime fuses ``DQ → AveragePool → Q`` into ``QLinearAveragePool``, which refuses
    non-scalar scales ("Scale and Zero-point must be a scalar"); a ``[1]`` tensor means the
    same as a scalar to every other operator. Returns how many initializers were reshaped.
    """
    inits = {t.name: t for t in proto.graph.initializer}
    changed = 0
    for node in proto.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for name in node.input[1:3]:
            t = inits.get(name)
            if t is not None and list(t.dims) == [1]:
                del t.dims[:]
                changed += 1
    return changed
