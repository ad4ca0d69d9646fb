"""OpenVINO IR from our ONNX files, with the edgevision metadata in the IR's ``rt_info``.

:func:`export_openvino` converts an exported ``.onnx`` (FP32, or a QDQ INT8 file, which stays
INT8) with ``openvino.convert_model`` and writes ``OUT.xml`` + ``OUT.bin`` with
``openvino.save_model``. Weights keep their precision (no FP16 compression unless asked), so
the IR runs as the ONNX file does. The ONNX metadata (the :class:`~edgevision.config.ModelSpec`,
precision, version) goes into ``rt_info`` under ``edgevision``
(:func:`~edgevision.export.metadata.read_metadata` reads it back from the ``.xml``), so an IR
needs no side files either: ``edgevision.load("m.xml")`` runs it on the ``openvino`` backend.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgevision.errors import BackendUnavailable, ConfigError, ModelFileError
from edgevision.export.metadata import IR_SECTION, SPEC_KEY, read_metadata
from edgevision.io import OPENVINO_SUFFIXES

__all__ = ["export_openvino"]


def export_openvino(
    onnx_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    compress_to_fp16: bool = False,
) -> Path:
    """Convert an edgevision ONNX file to an OpenVINO IR.

    Args:
        onnx_path: an ``.onnx`` file with edgevision metadata (``edgevision export``).
        out: the ``.xml`` path; the weights go to the ``.bin`` beside it. Both are written
            to a temporary folder first and moved into place together.
        compress_to_fp16: store float weights as FP16 (half the size; OpenVINO computes in
            its inference precision either way).

    Returns:
        The ``.xml`` path.

    Raises:
        BackendUnavailable: OpenVINO is not installed.
        ConfigError: ``out`` does not end in ``.xml``.
        ModelFileError: a missing file, no edgevision metadata, or a graph OpenVINO refuses.
    """
    try:
        import openvino as ov
    except ImportError:
        raise BackendUnavailable(
            "export to OpenVINO needs the 'openvino' package: pip install 'edgevision[openvino]'"
        ) from None
    src, dest = Path(onnx_path), Path(out)
    if dest.suffix.lower() not in OPENVINO_SUFFIXES:
        raise ConfigError(f"an OpenVINO IR is written as FILE.xml (+ FILE.bin), got {dest}")
    meta = read_metadata(src)
    if SPEC_KEY not in meta:
        raise ModelFileError(f"{src} has no edgevision metadata ('{SPEC_KEY}')")
    try:
        model = ov.convert_model(str(src))
    except Exception as e:  # OpenVINO raises RuntimeError/OpConversionFailure, long messages
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(f"OpenVINO cannot convert {src}: {first}") from None
    for key, value in meta.items():
        model.set_rt_info(value, [IR_SECTION, key])
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".ov-") as tmp:
        xml = Path(tmp) / dest.name
        ov.save_model(model, str(xml), compress_to_fp16=compress_to_fp16)
        os.replace(xml.with_suffix(".bin"), dest.with_suffix(".bin"))
        os.replace(xml, dest)  # the .xml last: a reader never finds it without its .bin
    return dest
