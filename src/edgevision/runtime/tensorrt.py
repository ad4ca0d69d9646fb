"""TensorRT backend: engines built from our ONNX files, cached on disk.

An engine is built once per (ONNX file hash, TensorRT version, GPU, precision, per-component
precision, input shape) and cached under ``$EDGEVISION_CACHE/tensorrt`` (default
``~/.cache/edgevision/tensorrt``), written atomically; later loads deserialize it.

Precision (``precision=``):

- ``"auto"``: FP32 for a float model; INT8 for a QDQ model (``edgevision quantize --mode
  static --activation-type s8 --weight-type s8``): TensorRT's explicit quantization, the
  parts without Q/DQ (an FP32 head of a mixed model) stay in float.
- ``"fp16"``: FP16 kernels where TensorRT finds them faster.
- ``"int8"`` on a float model: implicit INT8 with an entropy calibrator over
  ``calib_data`` (``calib_size`` images); its calibration cache sits next to the engine.
- ``layer_precision={"head": "fp32", ...}``: per-component precision (YolactEdge's Table I
  on TensorRT): every layer of a component is pinned to that type
  (``OBEY_PRECISION_CONSTRAINTS``); components are the model's declared module prefixes,
  mapped to ONNX nodes as :mod:`edgevision.export.components` does for ONNX Runtime.

Device buffers and the CUDA stream come from PyTorch (the usual companion of TensorRT on
Jetson and GPU machines). Without an NVIDIA GPU the backend raises
:class:`~edgevision.errors.BackendUnavailable` with one line, before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import BackendUnavailable, ConfigError, ModelFileError
from edgevision.io import file_sha256

TRT_PRECISIONS = ("auto", "fp32", "fp16", "int8")
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


def cache_dir() -> Path:
    """Engine cache folder: ``tensorrt`` in :func:`edgevision.io.cache_root`
    (``$EDGEVISION_CACHE``, ``$XDG_CACHE_HOME/edgevision`` or ``~/.cache/edgevision``)."""
    from edgevision.io import cache_root

    return cache_root() / "tensorrt"


def cache_key(
    *,
    model_sha256: str,
    trt_version: str,
    gpu: str,
    precision: str,
    layer_precision: Mapping[str, str] | None,
    input_shape: Sequence[int],
    workspace_mb: int,
    calib: str | None = None,
) -> str:
    """The engine's cache key: a hash of everything that changes the built engine."""
    blob = json.dumps(
        {
            "model": model_sha256,
            "tensorrt": trt_version,
            "gpu": gpu,
            "precision": precision,
            "layers": dict(sorted((layer_precision or {}).items())),
            "shape": [int(s) for s in input_shape],
            "workspace_mb": int(workspace_mb),
            "calib": calib,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def parse_layer_precision(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"fpn=fp32,head=fp16"`` (or a mapping) -> ``{component: precision}``, parsed like
    ``edgevision quantize --precision`` (:func:`edgevision.quantize.config.parse_precision`).

    Raises:
        ConfigError: a malformed item, an unknown precision name, or a ``default`` item (the
            rest of the network takes ``precision``).
    """
    from edgevision.config import parse_precision

    if not text:
        return {}
    if isinstance(text, Mapping):
        text = ",".join(f"{k}={v}" for k, v in text.items())
    layers, default = parse_precision(str(text))
    if default is not None:
        raise ConfigError("TensorRT layer precision takes no default: use --trt-precision")
    return layers


def layer_components(layer_names: Sequence[str], node_component: Mapping[str, str]) -> list[str]:
    """The component of each TensorRT layer, from the ONNX node it came from.

    TensorRT's ONNX parser names a layer after its node, adding suffixes when one node
    becomes several layers; so an exact name wins, then the longest node name the layer
    name starts with. Layers TensorRT adds itself map to ``"(other)"``.
    """
    from edgevision.export.components import OTHER

    by_len = sorted(node_component, key=len, reverse=True)
    out = []
    for name in layer_names:
        comp = node_component.get(name)
        if comp is None:
            comp = next((node_component[n] for n in by_len if n and name.startswith(n)), OTHER)
        out.append(comp)
    return out


def is_qdq(proto: Any) -> bool:
    """Whether an ``onnx.ModelProto`` carries QuantizeLinear/DequantizeLinear nodes."""
    return any(n.op_type in QDQ_OPS for n in proto.graph.node)


def check_symmetric_qdq(proto: Any, path: Path) -> None:
    """TensorRT takes INT8 Q/DQ with zero points of 0 (signed, symmetric) only.

    Raises:
        ModelFileError: a UINT8 or non-zero zero point, naming the re-quantize command.
    """
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type not in QDQ_OPS or len(node.input) < 3:
            continue
        zp = inits.get(node.input[2])
        if zp is None:
            continue
        if zp.data_type == TensorProto.UINT8 or np.any(numpy_helper.to_array(zp) != 0):
            raise ModelFileError(
                f"{path}: TensorRT needs symmetric signed INT8 Q/DQ (zero point 0), node "
                f"{node.name!r} has another; quantize for TensorRT with 'edgevision quantize "
                "--mode static --activation-type s8 --weight-type s8'"
            )


def _import_trt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(
            "backend 'tensorrt' needs TensorRT's Python package and an NVIDIA GPU: pip install "
            "'edgevision[gpu]' (or pip install tensorrt; JetPack ships it on Jetson)"
        ) from None
    return trt


def _cuda_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailable(
            "backend 'tensorrt' uses PyTorch for GPU buffers: install a CUDA build of torch "
            "(a CUDA wheel from pytorch.org; NVIDIA's wheel on Jetson)"
        ) from None
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "backend 'tensorrt' needs an NVIDIA GPU with a working CUDA driver; none is visible "
            "here (use --backend onnxruntime on CPU)"
        )
    return torch


_LOGGER: Any = None


def _logger(trt: Any) -> Any:
    """One TensorRT logger for every builder and runtime (TensorRT warns on several)."""
    global _LOGGER
    if _LOGGER is None:
        _LOGGER = trt.Logger(trt.Logger.WARNING)
    return _LOGGER


def require_tensorrt() -> None:
    """Check TensorRT, CUDA PyTorch and a GPU are here (one-line BackendUnavailable if not),
    without building anything: commands call it before their work starts."""
    _import_trt()
    _cuda_torch()


_TORCH_DTYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float16): "float16",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.int8): "int8",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.bool_): "bool",
}


class _EntropyCalibrator:
    """An ``IInt8EntropyCalibrator2`` over preprocessed calibration images (built lazily so
    the class can subclass TensorRT's only when TensorRT is imported)."""

    @staticmethod
    def create(
        trt: Any, torch: Any, data: np.ndarray, shape: Sequence[int], cache_file: Path
    ) -> Any:
        """Calibrator feeding ``data`` in batches of the engine's (fixed) input ``shape``.

        TensorRT calls these from C++ ``noexcept`` code, where a Python exception would
        terminate the process: every callback catches, logs and returns "no data".
        """
        import logging

        log = logging.getLogger(__name__)
        n = int(shape[0])
        if len(data) < n:
            raise ConfigError(f"calibration needs at least {n} images (the engine's batch)")

        class Calib(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.data = data
                self.i = 0
                self.cache_file = cache_file
                self.buf = torch.empty(tuple(shape), dtype=torch.float32, device="cuda")

            def get_batch_size(self) -> int:
                return n

            def get_batch(self, names: Any) -> Any:
                try:
                    if self.i + n > len(self.data):
                        return None
                    self.buf.copy_(torch.from_numpy(self.data[self.i : self.i + n]))
                    torch.cuda.synchronize()
                    self.i += n
                    return [int(self.buf.data_ptr())]
                except Exception as e:  # never raise into TensorRT
                    log.error("TensorRT calibration batch failed: %s", e)
                    return None

            def read_calibration_cache(self) -> Any:
                try:
                    return self.cache_file.read_bytes() if self.cache_file.is_file() else None
                except Exception as e:
                    log.error("cannot read calibration cache %s: %s", self.cache_file, e)
                    return None

            def write_calibration_cache(self, cache: Any) -> None:
                try:
                    from edgevision.io import write_bytes_atomic

                    write_bytes_atomic(self.cache_file, bytes(cache))
                except Exception as e:
                    log.error("cannot write calibration cache %s: %s", self.cache_file, e)

        return Calib()


class TrtEngine:
    """An ONNX model compiled to a TensorRT engine (built or loaded from the cache).

    Args:
        path: ``.onnx`` file with edgevision metadata.
        threads: unused (GPU); kept for the :class:`~edgevision.runtime.Engine` signature.
        precision: ``auto``, ``fp32``, ``fp16`` or ``int8`` (see the module doc).
        layer_precision: per-component precision, e.g. ``{"head": "fp32"}``.
        calib_data: image folder for implicit INT8 on a float model.
        calib_size: calibration images.
        input_size: ``(H, W)`` override of the spec's input size.
        batch: the engine's (fixed) batch size.
        workspace_mb: builder workspace limit.
        cache: engine cache folder (default :func:`cache_dir`).

    Raises:
        BackendUnavailable: no TensorRT, no PyTorch with CUDA, or no GPU.
        ModelFileError: missing/invalid ONNX file, one TensorRT cannot parse, or asymmetric
            Q/DQ.
        ConfigError: a bad precision or component name, INT8 without calibration data.
    """

    backend = "tensorrt"

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int = 2,
        precision: str = "auto",
        layer_precision: Mapping[str, str] | str | None = None,
        calib_data: str | os.PathLike[str] | None = None,
        calib_size: int = 100,
        input_size: tuple[int, int] | None = None,
        batch: int = 1,
        workspace_mb: int = 2048,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        import onnx

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        if precision not in TRT_PRECISIONS:
            raise ConfigError(
                f"unknown TensorRT precision {precision!r} (choose from {', '.join(TRT_PRECISIONS)})"
            )
        layers = parse_layer_precision(layer_precision)
        trt = _import_trt()
        torch = _cuda_torch()
        self._trt, self._torch = trt, torch
        try:
            proto = onnx.load(str(self.path))
        except Exception as e:
            raise ModelFileError(f"not an ONNX file: {self.path} ({type(e).__name__})") from None
        meta = {m.key: m.value for m in proto.metadata_props}
        from edgevision.export.metadata import SPEC_KEY

        if SPEC_KEY not in meta:
            raise ModelFileError(f"{self.path} has no edgevision metadata ('{SPEC_KEY}')")
        self.spec = ModelSpec.from_json(meta[SPEC_KEY])
        self.metadata = meta
        qdq = is_qdq(proto)
        if qdq:
            check_symmetric_qdq(proto, self.path)
        if precision == "auto":
            precision = "int8" if qdq else "fp32"
        needs_calib = not qdq and (precision == "int8" or "int8" in layers.values())
        if needs_calib and calib_data is None:
            raise ConfigError(
                "TensorRT INT8 on a float model needs calibration images (calib_data / "
                "--calib-data), or give a Q/DQ model from 'edgevision quantize'"
            )
        self.precision = "mixed" if layers else precision
        self.input_name = proto.graph.input[0].name
        h, w = input_size or tuple(int(s) for s in self.spec.input_size)
        self.input_shape = [int(batch), 3, int(h), int(w)]
        self.threads = threads
        self._num_params = int(sum(int(np.prod(t.dims)) for t in proto.graph.initializer))

        gpu = torch.cuda.get_device_name(0)
        cap = ".".join(str(c) for c in torch.cuda.get_device_capability(0))
        model_sha = file_sha256(self.path)
        calib_id = None
        if needs_calib:
            calib_id = f"{Path(str(calib_data)).resolve()}:{calib_size}"
        key = cache_key(
            model_sha256=model_sha,
            trt_version=trt.__version__,
            gpu=f"{gpu} sm{cap}",
            precision=precision,
            layer_precision=layers,
            input_shape=self.input_shape,
            workspace_mb=workspace_mb,
            calib=calib_id,
        )
        folder = Path(cache) if cache is not None else cache_dir()
        self.engine_path = folder / f"{self.path.stem}-{key}.engine"
        self.cache_hit = self.engine_path.is_file()
        self._logger = _logger(trt)
        if not self.cache_hit:
            plan = self._build(
                proto,
                precision,
                qdq,
                layers,
                calib_data if needs_calib else None,
                calib_size,
                workspace_mb,
                folder,
                key,
            )
            from edgevision.io import write_bytes_atomic

            folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.engine_path, plan)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            raise ModelFileError(
                f"TensorRT cannot load the cached engine {self.engine_path}; delete it to rebuild"
            )
        self._context = self._engine.create_execution_context()
        self._setup_io()
        self.describe_info = {
            "tensorrt": trt.__version__,
            "gpu": gpu,
            "compute_capability": cap,
            "engine": str(self.engine_path),
            "cache_hit": self.cache_hit,
            "layer_precision": layers,
        }

    # -- build -------------------------------------------------------------------------------
    def _build(
        self,
        proto: Any,
        precision: str,
        qdq: bool,
        layers: Mapping[str, str],
        calib_data: Any,
        calib_size: int,
        workspace_mb: int,
        folder: Path,
        key: str,
    ) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # needed by 8.x
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(proto.SerializeToString(), path=str(self.path)):
            errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            first = errs[0].splitlines()[0] if errs else "unknown error"
            raise ModelFileError(f"TensorRT cannot parse {self.path}: {first}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
        inp = network.get_input(0)
        dims = [int(d) for d in inp.shape]
        profile = None
        if any(d < 0 for d in dims):
            profile = builder.create_optimization_profile()
            shape = tuple(self.input_shape)
            profile.set_shape(inp.name, shape, shape, shape)
            config.add_optimization_profile(profile)
        elif dims != list(self.input_shape):
            raise ConfigError(
                f"{self.path} has a fixed input shape {dims}; build it at that shape or export "
                f"with a dynamic size (asked for {self.input_shape})"
            )
        wants = set(layers.values()) | {precision}
        if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)  # FP32 means FP32, not TF32 on Ampere+
        if "fp16" in wants:
            config.set_flag(trt.BuilderFlag.FP16)
        if "int8" in wants or qdq:  # Q/DQ nodes need the INT8 flag too
            config.set_flag(trt.BuilderFlag.INT8)
        if calib_data is not None:
            from edgevision.data.images import list_images, load_batch, select_images

            files = select_images(list_images(calib_data), calib_size)
            data = load_batch(files, self.spec, tuple(self.input_shape[2:]))  # type: ignore[arg-type]
            config.int8_calibrator = _EntropyCalibrator.create(
                trt, self._torch, data, self.input_shape, folder / f"{self.path.stem}-{key}.calib"
            )
            if profile is not None:
                config.set_calibration_profile(profile)
        if layers:
            self._pin_layers(network, config, proto, layers, precision)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise ModelFileError(f"TensorRT could not build an engine for {self.path}")
        return bytes(plan)

    def _pin_layers(
        self, network: Any, config: Any, proto: Any, layers: Mapping[str, str], base: str
    ) -> None:
        """Pin each float layer to its component's precision; float layers of components
        not listed are pinned to the base precision (the FP16/INT8 builder flags are global,
        so without this they could pick those kernels too)."""
        from edgevision.export.components import build_node_map, model_components

        trt = self._trt
        comps = model_components(self.spec)
        unknown = [c for c in layers if c not in comps]
        if unknown:
            have = ", ".join(comps) if comps else "none"
            raise ConfigError(f"unknown component {unknown[0]!r} (this model declares: {have})")
        node_map = build_node_map(proto, self.spec)
        names = [network.get_layer(i).name for i in range(network.num_layers)]
        types = {"fp32": trt.float32, "fp16": trt.float16, "int8": trt.int8}
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        floats = (trt.float32, trt.float16)
        skip = {
            getattr(trt.LayerType, n)
            for n in ("CONSTANT", "SHAPE", "QUANTIZE", "DEQUANTIZE", "CAST", "IDENTITY")
            if hasattr(trt.LayerType, n)
        }
        for i, comp in enumerate(layer_components(names, node_map.node_component)):
            want = layers.get(comp, base)
            layer = network.get_layer(i)
            if layer.type in skip:
                continue
            tensors = [layer.get_input(k) for k in range(layer.num_inputs)]
            tensors += [layer.get_output(k) for k in range(layer.num_outputs)]
            if any(t is not None and t.dtype not in floats for t in tensors):
                continue  # shape arithmetic, indices, masks: not ours to pin
            layer.precision = types[want]
            if want == "int8":
                continue  # INT8 outputs need scales; the calibrator sets them
            for j in range(layer.num_outputs):
                layer.set_output_type(j, types[want])

    # -- run ---------------------------------------------------------------------------------
    def _setup_io(self) -> None:
        trt, torch = self._trt, self._torch
        eng, ctx = self._engine, self._context
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        for i in range(eng.num_io_tensors):
            name = eng.get_tensor_name(i)
            if eng.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._inputs.append(name)
            else:
                self._outputs.append(name)
        if not ctx.set_input_shape(self._inputs[0], tuple(self.input_shape)):
            raise ConfigError(
                f"the engine for {self.path} does not take input shape {self.input_shape}"
            )
        self._buffers: dict[str, Any] = {}
        for name in self._inputs + self._outputs:
            shape = tuple(ctx.get_tensor_shape(name))
            dt = np.dtype(trt.nptype(eng.get_tensor_dtype(name)))
            buf = torch.empty(shape, dtype=getattr(torch, _TORCH_DTYPES[dt]), device="cuda")
            self._buffers[name] = buf
            ctx.set_tensor_address(name, int(buf.data_ptr()))
        self._stream = torch.cuda.Stream()
        self.output_names = list(self._outputs)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run on ``(N, 3, H, W)`` float32 (the engine's fixed shape); outputs in engine order."""
        torch = self._torch
        if list(x.shape) != self.input_shape:
            raise ConfigError(
                f"input shape {list(x.shape)} differs from the engine's {self.input_shape} "
                "(build another with input_size=/batch=)"
            )
        with torch.cuda.stream(self._stream):
            self._buffers[self._inputs[0]].copy_(torch.from_numpy(np.ascontiguousarray(x)),
                                                 non_blocking=False)  # fmt: skip
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
            outs = [self._buffers[n].cpu().numpy() for n in self._outputs]
        return outs

    def num_params(self) -> int:
        return self._num_params

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "input": {"name": self.input_name, "shape": self.input_shape},
            "outputs": self.output_names,
            "precision": self.precision,
            **self.describe_info,
        }
