"""Per-component precision for YOLACT / YolactEdge component folders (YolactEdge Table I).

:func:`quantize_components` reads a component folder (:mod:`edgevision.video.ort`) and
writes another in which every component named ``int8`` is statically quantized (ONNX
Runtime QDQ, U8 activations + S8 per-channel weights by default) and the others are copied
as they are. Calibration feeds each component its *own* inputs: the calibration images are
run through the FP32 components once and the intermediate tensors (C3, C4/C5, P3 … P7, T4,
prototypes' input, the keyframe/current C3 pair of the flow network) are collected, so
calibrating the head sees real FPN features rather than images. ``warp`` (GridSample) always
stays FP32.

This is the ONNX Runtime form of YolactEdge's per-component TensorRT conversion; on this
CPU only FP32 and INT8 exist (FP16 needs a GPU provider).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import ConfigError
from edgevision.quantize.calibration import ImageFolderReader
from edgevision.quantize.config import QuantConfig
from edgevision.quantize.ptq import _finalize, preprocess_for_quant, quantize_onnx_static
from edgevision.video.ort import COMPONENTS

__all__ = ["QUANTIZABLE", "ArrayReader", "collect_inputs", "quantize_components"]

QUANTIZABLE: tuple[str, ...] = (*(c for c in COMPONENTS if c != "warp"), "featflownet")
"""Components that can be INT8 (``warp`` is GridSample and stays FP32)."""


class ArrayReader:
    """An ONNX Runtime ``CalibrationDataReader`` over a list of feed dicts."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self.data = feeds  # what the entropy path inspects for size
        self._i = 0

    def __len__(self) -> int:
        return len(self.feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self.feeds):
            return None
        self._i += 1
        return self.feeds[self._i - 1]

    def rewind(self) -> None:
        self._i = 0


def collect_inputs(
    parts: Any, images: np.ndarray, *, shift: int = 4
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Run FP32 components over preprocessed ``images`` ``(N, 3, H, W)``; per component the
    list of input feeds its calibration needs (one per image; every FPN level for ``head``;
    for ``featflownet`` the C3 of the image and of a copy shifted by ``shift`` pixels, a
    stand-in for a keyframe a few frames back)."""
    from edgevision.video.ort import OrtOps

    ops = OrtOps(parts)
    out: dict[str, list[dict[str, np.ndarray]]] = {c: [] for c in QUANTIZABLE}

    def names(c: str) -> list[str]:
        return list(parts.engines[c].input_names)

    for i in range(len(images)):
        x = np.ascontiguousarray(images[i : i + 1], np.float32)
        c3 = ops.lower(x)
        c4, c5 = ops.upper(c3)
        pyr, t4 = ops.fpn(c3, c4, c5)
        feeds = {
            "backbone_lower": [x],
            "backbone_upper": [c3],
            "fpn": [c3, c4, c5],
            "fpn_partial": [c3, t4],
            "fpn_extra": [pyr[2]],
            "protonet": [pyr[0]],
        }
        for c, arrs in feeds.items():
            out[c].append(dict(zip(names(c), arrs)))
        for p in pyr:
            out["head"].append(dict(zip(names("head"), [p])))
        if "featflownet" in parts.engines:
            moved = np.ascontiguousarray(np.roll(x, shift, axis=-1))
            out["featflownet"].append(dict(zip(names("featflownet"), [ops.lower(moved), c3])))
    return out


def quantize_components(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    precision: dict[str, str],
    *,
    calib_data: str | os.PathLike[str],
    calib_size: int = 32,
    calib_split: str = "train",
    method: str = "minmax",
    default: str = "fp32",
    threads: int = 2,
    progress: bool = False,
) -> dict[str, str]:
    """Write ``out``: ``folder``'s components at the requested precisions.

    Args:
        folder: an FP32 component folder.
        out: the new folder (created; files replaced atomically).
        precision: component -> ``"int8"`` / ``"fp16"`` / ``"fp32"`` (others take
            ``default``). ``fp16`` files (:func:`~edgevision.export.fp16.convert_fp16`) are
            for ONNX Runtime's CUDA or TensorRT provider (``--providers cuda``): YolactEdge's
            per-component FP16/INT8 on a GPU.
        calib_data: calibration images (dataset in the edgevision layout or image folder).
        calib_size: calibration images.
        calib_split: split of a dataset folder.
        method: ``minmax``, ``entropy`` or ``percentile``.
        default: precision of components not named.
        threads: ONNX Runtime threads while collecting inputs.
        progress: a line per component.

    Returns:
        Component -> precision written (``warp`` always ``fp32``).

    Raises:
        ConfigError: unknown component or precision.
        ModelFileError: not a component folder; DataError: bad calibration folder.
        QuantizationError: ONNX Runtime's quantizer failed on a component.
    """
    from edgevision.video.ort import ComponentSet

    names = [*COMPONENTS, "featflownet"]
    unknown = sorted(set(precision) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown component(s) {', '.join(unknown)}; components: {', '.join(names)}"
        )
    for c, p in [*precision.items(), ("(default)", default)]:
        if p not in ("int8", "fp16", "fp32"):
            raise ConfigError(f"precision of {c} must be int8, fp16 or fp32, got {p!r}")
    if precision.get("warp", "fp32") != "fp32":
        raise ConfigError("warp (GridSample) stays fp32; it has no INT8 or FP16 kernel")
    parts = ComponentSet(folder, threads=threads)
    fp32_in = [c for c, p in parts.precision.items() if p != "fp32"]
    if fp32_in:
        raise ConfigError(
            f"{folder}: start from an FP32 folder ({', '.join(fp32_in)} already quantized)"
        )
    want = {c: ("fp32" if c == "warp" else precision.get(c, default)) for c in parts.engines}
    dst = Path(out)
    if dst.resolve() == Path(folder).resolve():
        raise ConfigError("write the quantized components to another folder than the FP32 ones")
    dst.mkdir(parents=True, exist_ok=True)
    int8 = [c for c, p in want.items() if p == "int8"]
    feeds: dict[str, list[dict[str, np.ndarray]]] = {}
    if int8:
        images = ImageFolderReader(
            calib_data, parts.spec, count=calib_size, input_name="images", split=calib_split
        ).data
        feeds = collect_inputs(parts, images)
    import tempfile

    from edgevision.io import atomic_path

    cfg = QuantConfig(mode="static", method=method, calib_size=calib_size)  # type: ignore[arg-type]
    for c, p in want.items():
        src = parts.folder / f"{c}.onnx"
        target = dst / f"{c}.onnx"
        if p == "fp32":
            with atomic_path(target) as tmp:
                shutil.copyfile(src, tmp)
            continue
        if p == "fp16":
            from edgevision.export.fp16 import convert_fp16

            if progress:
                print(f"converting {c} to fp16 ...", flush=True)
            convert_fp16(src, target)
            continue
        if progress:
            print(f"quantizing {c} ({len(feeds[c])} calibration feeds, {method}) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="edgevision-qcomp-") as td:
            pre = preprocess_for_quant(src, Path(td) / "pre.onnx")
            q = Path(td) / "q.onnx"
            quantize_onnx_static(pre, q, ArrayReader(feeds[c]), cfg)
            record = {
                "mode": "static",
                "method": method,
                "calib_size": calib_size,
                "calib_data": str(calib_data),
                "component": c,
                "config": dataclasses.asdict(cfg),
                "tool": "onnxruntime.quantization",
            }
            _finalize(q, target, parts.engines[c].spec, "int8", record)
            _set_component(target, c)
    return want


def _set_component(path: Path, name: str) -> None:
    """Keep the ``edgevision.component`` tag through quantization."""
    import onnx

    from edgevision.io import atomic_path

    proto = onnx.load(str(path))
    props = {p.key: p for p in proto.metadata_props}
    if "edgevision.component" in props:
        props["edgevision.component"].value = name
    else:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "edgevision.component", name
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
