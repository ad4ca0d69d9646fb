"""ONNX Runtime backend (CPU; CUDA and TensorRT execution providers when installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgevision.config import ModelSpec
from edgevision.errors import BackendUnavailable, ConfigError, ModelFileError

SPEC_KEY = "edgevision.spec"
PRECISION_KEY = "edgevision.precision"

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
PROVIDER_HINTS = {
    "CUDAExecutionProvider": "pip install onnxruntime-gpu (instead of onnxruntime) with a matching CUDA",
    "TensorrtExecutionProvider": "pip install onnxruntime-gpu and install TensorRT (JetPack on Jetson)",
}


def resolve_providers(providers: list[str] | None) -> list[str]:
    """Map aliases to provider names and check they are available; CPU is always appended."""
    available = ort.get_available_providers()
    names = [PROVIDER_ALIASES.get(p.lower(), p) for p in (providers or ["cpu"])]
    for n in names:
        if n not in available:
            hint = PROVIDER_HINTS.get(n, f"available here: {', '.join(available)}")
            raise BackendUnavailable(f"ONNX Runtime provider {n!r} is not available: {hint}")
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")
    return names


class OrtEngine:
    """An ONNX model in an ONNX Runtime ``InferenceSession``.

    The :class:`ModelSpec` is read from the model's ``metadata_props`` (key
    ``edgevision.spec``), so no side files or training code are needed.

    Args:
        path: ``.onnx`` file.
        threads: intra-op threads (inter-op fixed to 1, sequential execution).
        providers: execution providers or aliases; default CPU.
        spin: let idle intra-op threads spin-wait for the next call (ONNX Runtime's default,
            lowest latency for one session called back to back). Turn it off when several
            sessions run one after another in a process (the component graphs of video
            mode): their spinning pools otherwise compete for the same cores.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int = 2,
        providers: list[str] | None = None,
        spin: bool = True,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        self.threads = threads
        self.providers = resolve_providers(providers)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), so, providers=self.providers)
        except Exception as e:  # ORT raises its own exception types for invalid files
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise ModelFileError(f"not a valid ONNX model: {self.path}: {msg}") from None
        started = self.session.get_providers()
        failed = [n for n in self.providers if n not in started]
        if failed:  # ORT falls back to CPU with a warning when a GPU provider cannot start
            raise BackendUnavailable(
                f"ONNX Runtime could not start {failed[0]} here (no NVIDIA GPU, driver or "
                f"CUDA/TensorRT library it needs): {PROVIDER_HINTS.get(failed[0], '')}".rstrip(": ")
            )
        meta = self.session.get_modelmeta().custom_metadata_map
        if SPEC_KEY not in meta:
            raise ModelFileError(
                f"{self.path} has no edgevision metadata ('{SPEC_KEY}'); export it with "
                f"'edgevision export' or add metadata with edgevision.export.metadata.embed_spec"
            )
        try:
            self.spec = ModelSpec.from_json(meta[SPEC_KEY])
        except ConfigError as e:
            raise ModelFileError(f"{self.path}: invalid '{SPEC_KEY}' metadata: {e}") from None
        self.metadata = dict(meta)
        self.precision = meta.get(PRECISION_KEY, "fp32")
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.input_names = [i.name for i in inputs]
        self.input_shape = list(inputs[0].shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run on ``(N, 3, H, W)`` float32; returns outputs in graph order."""
        return self.session.run(self.output_names, {self.input_name: x})  # type: ignore[no-any-return]

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a graph with several named inputs; returns outputs in graph order."""
        return self.session.run(self.output_names, feeds)  # type: ignore[no-any-return]

    def num_params(self) -> int:
        import onnx

        model = onnx.load(str(self.path), load_external_data=False)
        return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "onnxruntime": ort.__version__,
            "providers": self.session.get_providers(),
            "threads": self.threads,
            "input": {"name": self.input_name, "shape": self.input_shape},
            "outputs": self.output_names,
            "precision": self.precision,
        }
