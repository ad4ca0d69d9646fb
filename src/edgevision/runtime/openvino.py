"""OpenVINO backend (CPU): runs our FP32 and QDQ INT8 ONNX files with Intel's runtime, and
the OpenVINO IRs made from them (:mod:`edgevision.export.openvino`).

OpenVINO uses the host's best integer and bfloat16 units (AVX-512 VNNI, AMX-INT8/BF16 on
recent Xeons), which ONNX Runtime's CPU provider does not; on other x86 hosts it is one more
engine to measure. A QDQ INT8 file runs as INT8 (its quantize/dequantize pairs become
low-precision kernels); ``precision`` is the hint for the float parts:

- ``"f32"`` (default): float32, results as ONNX Runtime's up to rounding;
- ``"bf16"``: bfloat16 where the CPU has native support (faster on AMX hosts; small drift);
- ``"auto"``: OpenVINO's own default for this CPU (bf16 on AMX hosts).

The :class:`~edgevision.config.ModelSpec` comes from the file's metadata, as for every backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from edgevision.errors import ConfigError, ModelFileError
from edgevision.export.metadata import PRECISION_KEY, read_metadata, read_spec
from edgevision.io import OPENVINO_SUFFIXES

__all__ = ["OV_PRECISIONS", "OvEngine", "compile_config"]

OV_PRECISIONS = ("f32", "bf16", "auto")
"""Inference-precision hints of :class:`OvEngine` for the float parts of a model."""


def compile_config(threads: int, precision: str) -> dict[str, Any]:
    """The CPU plugin's ``compile_model`` settings of :class:`OvEngine` (also used by the
    conv ceiling, :mod:`edgevision.bench.ceiling`, so both compile alike).

    Args:
        threads: inference threads.
        precision: one of :data:`OV_PRECISIONS`.

    Raises:
        ConfigError: an unknown precision.
    """
    if precision not in OV_PRECISIONS:
        raise ConfigError(
            f"unknown OpenVINO precision {precision!r} (choose from {', '.join(OV_PRECISIONS)})"
        )
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY"}
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


class OvEngine:
    """An ONNX model compiled by OpenVINO for the CPU.

    Args:
        path: ``.onnx`` file with edgevision metadata, or an IR ``.xml`` made from one.
        threads: inference threads.
        precision: ``"f32"``, ``"bf16"`` or ``"auto"`` (see the module docstring).

    Raises:
        ModelFileError: missing file, no edgevision metadata, or a graph OpenVINO refuses.
        ConfigError: an unknown precision.
    """

    backend = "openvino"

    def __init__(self, path: str | Path, *, threads: int = 2, precision: str = "f32") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        config = compile_config(threads, precision)
        self.spec = read_spec(self.path)
        self.metadata = read_metadata(self.path)
        self.threads = threads
        self.hint = precision
        core = ov.Core()
        try:
            self.compiled = core.compile_model(str(self.path), "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError with long native messages
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ModelFileError(f"OpenVINO cannot compile {self.path}: {first}") from None
        self.request = self.compiled.create_infer_request()
        self.precision = self.metadata.get(PRECISION_KEY, "fp32")
        inp = self.compiled.inputs[0]
        self.input_name = inp.get_any_name()
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.input_shape = [d.get_length() if d.is_static else -1 for d in inp.get_partial_shape()]
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self.device_precision = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run on ``(N, 3, H, W)`` float32; returns outputs in graph order (float32)."""
        res = self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return [np.asarray(res[o]) for o in self.compiled.outputs]

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a graph with several named inputs (float32); returns outputs in graph order."""
        res = self.request.infer(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
        )
        return [np.asarray(res[o]) for o in self.compiled.outputs]

    def num_params(self) -> int:
        if self.path.suffix.lower() in OPENVINO_SUFFIXES:  # an IR: its constants
            model = ov.Core().read_model(str(self.path))
            consts = [op for op in model.get_ops() if op.get_type_name() == "Constant"]
            return int(sum(int(np.prod(list(op.get_output_shape(0)))) for op in consts))
        import onnx

        onnx_model = onnx.load(str(self.path), load_external_data=False)
        return int(sum(int(np.prod(t.dims)) for t in onnx_model.graph.initializer))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "openvino": ov.__version__ if hasattr(ov, "__version__") else ov.get_version(),
            "threads": self.threads,
            "precision_hint": self.hint,
            "cpu_default_precision": self.device_precision,
            "input": {"name": self.input_name, "shape": self.input_shape},
            "outputs": self.output_names,
            "precision": self.precision,
        }
