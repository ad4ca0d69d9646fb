"""FP16 ONNX files for ONNX Runtime's CUDA (and TensorRT) execution provider.

The conversion is ONNX Runtime's own (``onnxruntime.transformers.float16``, shipped in the
``onnxruntime`` and ``onnxruntime-gpu`` wheels, the maintained successor of
onnxconverter-common's converter): float initializers and activations become float16,
``keep_io_types`` keeps the graph's inputs and outputs float32 (casts at the edges), so the
runtime's preprocessing and postprocessing are unchanged. Operators without float16 kernels
on the CUDA provider stay float32 (ONNX Runtime's default block list, plus
:data:`FP32_OPS`). The edgevision metadata travels with the file, its precision set to
``fp16``.

An FP16 file is for a GPU: ONNX Runtime's CPU provider lacks float16 kernels for most
operators (convolutions on x86). TensorRT does not need it: ``--backend tensorrt
--trt-precision fp16`` builds FP16 kernels from the FP32 file.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgevision.errors import ExportError, ModelFileError

__all__ = ["FP32_OPS", "convert_fp16"]

FP32_OPS: tuple[str, ...] = ("GridSample",)
"""Operators kept float32 besides ONNX Runtime's default block list: the feature warp
(GridSample: float32-only on the CUDA provider of older ONNX Runtime releases). Resize needs
nothing: the converter keeps its scales float32 itself."""


def convert_fp16(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    keep_ops: tuple[str, ...] = FP32_OPS,
) -> Path:
    """Write ``dst``: ``src`` with float32 weights and activations in float16.

    Args:
        src: an FP32 ``.onnx`` file with edgevision metadata.
        dst: the FP16 file to write (atomically; may not be ``src``).
        keep_ops: operator types left in float32 (with ONNX Runtime's default block list).

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.

    Raises:
        ModelFileError: ``src`` is missing, not ONNX, quantized already, or has no metadata.
        ExportError: the converter failed on the graph.
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from edgevision.export.metadata import PRECISION_KEY, SPEC_KEY
    from edgevision.io import atomic_path

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ModelFileError(f"model file not found: {src}")
    if dst.resolve() == src.resolve():
        raise ModelFileError(f"write the FP16 file next to the FP32 one, not over it: {src}")
    try:
        model = onnx.load(str(src))
    except Exception as e:  # onnx raises DecodeError and friends on a bad file
        raise ModelFileError(f"not an ONNX file: {src} ({type(e).__name__})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if SPEC_KEY not in meta:
        raise ModelFileError(f"{src} has no edgevision metadata ('{SPEC_KEY}')")
    precision = meta.get(PRECISION_KEY, "fp32")
    if precision != "fp32":
        raise ModelFileError(f"{src} is {precision}: convert an FP32 file to FP16")
    try:
        half = convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=sorted({*DEFAULT_OP_BLOCK_LIST, *keep_ops}),
        )
    except Exception as e:  # the converter's own errors (shape inference, unknown types)
        raise ExportError(f"FP16 conversion of {src} failed: {type(e).__name__}: {e}") from None
    for p in half.metadata_props:
        if p.key == PRECISION_KEY:
            p.value = "fp16"
            break
    else:
        half.metadata_props.add(key=PRECISION_KEY, value="fp16")
    with atomic_path(dst) as tmp:
        onnx.save(half, str(tmp))
    return dst
