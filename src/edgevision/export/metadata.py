"""``ModelSpec`` <-> ONNX ``metadata_props`` (and an OpenVINO IR's ``rt_info``).

The full spec is stored as JSON under ``edgevision.spec``; a few flat, human-readable keys
(task, classes, input size, mean/std, colour order, resize) are added for other tools. An
OpenVINO IR written by :mod:`edgevision.export.openvino` holds the same entries in its
``rt_info`` under ``edgevision`` (``<rt_info><edgevision><KEY value=.../>`` in the ``.xml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError, ModelFileError

IR_SECTION = "edgevision"
"""The ``rt_info`` section of an OpenVINO IR that holds the metadata entries."""
SPEC_KEY = "edgevision.spec"
PRECISION_KEY = "edgevision.precision"
VERSION_KEY = "edgevision.version"


def spec_metadata(spec: ModelSpec, *, precision: str = "fp32", **extra: str) -> dict[str, str]:
    """The metadata_props entries written for ``spec``."""
    from edgevision import __version__

    return {
        SPEC_KEY: spec.to_json(),
        PRECISION_KEY: precision,
        VERSION_KEY: __version__,
        "model": spec.name,
        "task": spec.task,
        "class_names": json.dumps(list(spec.class_names)),
        "input_size": f"{spec.input_size[0]}x{spec.input_size[1]}",
        "mean": json.dumps(list(spec.mean)),
        "std": json.dumps(list(spec.std)),
        "color_order": spec.color_order,
        "resize": spec.resize,
        **extra,
    }


def embed_spec(model: Any, spec: ModelSpec, *, precision: str = "fp32", **extra: str) -> Any:
    """Set edgevision metadata on an ``onnx.ModelProto`` in place (replacing old entries)."""
    entries = spec_metadata(spec, precision=precision, **extra)
    keep = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for k, v in entries.items():
        model.metadata_props.add(key=k, value=v)
    return model


def read_metadata(path: str | Path) -> dict[str, str]:
    """All ``metadata_props`` of an ONNX file (weights are not loaded), or the ``edgevision``
    ``rt_info`` entries of an OpenVINO IR ``.xml``."""
    from edgevision.io import OPENVINO_SUFFIXES

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file not found: {p}")
    if p.suffix.lower() in OPENVINO_SUFFIXES:
        return _read_ir_metadata(p)
    import onnx

    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others for non-ONNX bytes
        raise ModelFileError(f"not an ONNX file: {p} ({type(e).__name__})") from None
    return {m.key: m.value for m in model.metadata_props}


def read_spec(path: str | Path) -> ModelSpec:
    """The :class:`ModelSpec` embedded in an ONNX file."""
    meta = read_metadata(path)
    if SPEC_KEY not in meta:
        raise ModelFileError(f"{path} has no edgevision metadata ('{SPEC_KEY}')")
    try:
        return ModelSpec.from_json(meta[SPEC_KEY])
    except ConfigError as e:
        raise ModelFileError(f"{path}: invalid '{SPEC_KEY}' metadata: {e}") from None


def _read_ir_metadata(p: Path) -> dict[str, str]:
    """The ``rt_info`` entries under :data:`IR_SECTION` of an OpenVINO IR (parsed from the
    ``.xml`` alone: no OpenVINO import, no weights)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as e:
        raise ModelFileError(f"not an OpenVINO IR: {p} ({e})") from None
    section = root.find(f"rt_info/{IR_SECTION}")
    if root.tag != "net" or section is None:
        return {}
    return {el.tag: str(el.get("value", "")) for el in section}
