"""Post-training quantization (static QDQ INT8 and dynamic) with ONNX Runtime's tooling.

Flow: checkpoint / registry name -> FP32 ONNX (:func:`edgevision.export.export_onnx`) ->
ONNX Runtime quantization pre-processing (symbolic shape inference + basic graph
optimisation) -> ``quantize_static`` (calibrated, QDQ) or ``quantize_dynamic`` -> the
edgevision spec plus the quantization record written back into ``metadata_props`` -> an
output check against FP32 on calibration images. The output file is written atomically:
on any error nothing is left at the destination.

Why U8 activations + S8 weights by default: on x86 the integer GEMM/conv kernels of ONNX
Runtime (MLAS, AVX2/AVX-512 VNNI ``vpdpbusd``) multiply unsigned 8-bit activations by signed
8-bit weights natively; S8 activations take a slower path (measured on DDRNet: 5.9 ms
U8S8 vs 16.2 ms S8S8). ARM and GPUs/TensorRT prefer symmetric S8/S8, hence
``activation_type="s8"``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.config import BenchConfig, ModelSpec
from edgevision.errors import ConfigError, EdgeVisionError, ModelFileError, first_line
from edgevision.io import CHECKPOINT_SUFFIXES, atomic_path
from edgevision.progress import ProgressLines
from edgevision.quantize.config import QuantConfig
from edgevision.quantize.qdq import scalar_qdq_params
from edgevision.weights import resolve_weights

QUANT_KEY = "edgevision.quantization"
"""metadata_props key holding the quantization record (JSON)."""

_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


class QuantizationError(EdgeVisionError):
    """ONNX Runtime's quantizer failed on this model (e.g. an operator it cannot handle)."""


@dataclass
class QuantResult:
    """What a quantization run produced.

    Attributes:
        path: the quantized ``.onnx`` file.
        model: registry name of the architecture.
        mode: ``"static"``, ``"dynamic"`` or ``"qat"``.
        config: the :class:`QuantConfig` as a dict.
        precision: component -> precision actually applied.
        nodes: ``{"total", "quantized_ops", "excluded"}`` node counts.
        size_mb: output file size in MiB.
        fp32_size_mb: size of the FP32 ONNX it was made from.
        error: output error vs FP32 on calibration images (``sqnr_db``, ``rel_l2``,
            ``max_abs``, ``argmax_agreement``; see :func:`output_error`).
        latency: ``{"fp32_ms", "quant_ms", "speedup"}`` (p50, from the bench harness) or
            ``None`` when not measured.
        warnings: human-readable warnings (e.g. quantized model slower than FP32).
        seconds: wall time of the whole run.
        bench: the two :class:`~edgevision.bench.BenchResult` dicts (FP32, quantized) when
            latency was measured, for tables (``edgevision quantize --report``).
        accuracy_control: NNCF's accuracy-control mode (``--max-drop``): the
            :class:`~edgevision.quantize.accuracy_control.AccuracyControl` record as a dict
            (budget, FP32 and INT8 headline in points, drop, validation images); ``None``
            otherwise.
    """

    path: str
    model: str
    mode: str
    config: dict[str, Any]
    precision: dict[str, str]
    nodes: dict[str, int]
    size_mb: float
    fp32_size_mb: float
    error: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bench: list[dict[str, Any]] = field(default_factory=list)
    accuracy_control: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_ort_logging() -> Iterator[None]:
    """ONNX Runtime's quantizer logs advice through the root logger and prints histogram
    progress to stdout; keep both clean (errors still raise)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def _ort_quantizer(what: str, reader: Any = None) -> Iterator[None]:
    """Around a call of ONNX Runtime's quantization tooling: its output kept quiet, its
    failures (of many kinds on unsupported graphs) raised as one-line
    :class:`QuantizationError` ``"WHAT failed: Type: message"``, and the calibration
    ``reader`` (if any) rewound afterwards."""
    try:
        with _quiet_ort_logging():
            yield
    except EdgeVisionError:
        raise
    except Exception as e:
        raise QuantizationError(f"{what} failed: {type(e).__name__}: {first_line(e)}") from None
    finally:
        if hasattr(reader, "rewind"):
            reader.rewind()


def fp32_onnx(
    target: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    *,
    input_size: tuple[int, int] | None = None,
) -> tuple[Path, ModelSpec]:
    """An FP32 ONNX file with edgevision metadata for ``target``, and its spec.

    ``.onnx`` files are used as they are; checkpoints and registry names are exported into
    ``workdir`` first.

    Raises:
        ModelFileError: missing file, or an ONNX file without edgevision metadata.
    """
    from edgevision.export.metadata import read_metadata, read_spec

    t = str(resolve_weights(str(target)))  # shipped weights by name -> their checkpoint
    p = Path(t)
    if p.suffix.lower() == ".onnx":
        spec = read_spec(p)  # raises ModelFileError for missing files / no metadata
        prec = read_metadata(p).get("edgevision.precision", "fp32")
        if prec != "fp32" or QUANT_KEY in read_metadata(p):
            raise ModelFileError(f"{p} is already quantized (precision {prec}); start from FP32")
        return p, spec
    if p.suffix.lower() in CHECKPOINT_SUFFIXES and not p.is_file():
        raise ModelFileError(f"checkpoint not found: {p}")
    from edgevision.export import export_onnx

    out = Path(workdir) / "fp32.onnx"
    export_onnx(t, out, input_size=input_size)
    return out, read_spec(out)


def preprocess_for_quant(src: Path, dst: Path) -> Path:
    """ONNX Runtime's ``quant_pre_process`` (shape inference + basic optimisation) -> ``dst``.

    Symbolic shape inference can fail on exotic dynamic shapes; then the ONNX shape
    inference path is used alone. Node names (and so the component mapping) are kept.
    On failure ONNX Runtime's symbolic inference dumps ``sym_shape_infer_temp.onnx`` and
    uuid-named ``.data`` files into the working directory, so it runs inside a
    throw-away directory and the caller's directory stays clean.
    """
    import contextlib
    import tempfile

    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src).resolve(), Path(dst).resolve()
    with (
        _quiet_ort_logging(),
        tempfile.TemporaryDirectory(prefix="ev-shape-") as scratch,
        contextlib.chdir(scratch),
    ):
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        except Exception:  # symbolic inference raises assorted errors on dynamic graphs
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    import onnx

    proto = onnx.load(str(dst))
    if batchnorm_to_depthwise_conv(proto):
        onnx.save(proto, str(dst))
    return dst


def batchnorm_to_depthwise_conv(proto: Any) -> int:
    """Rewrite each inference ``BatchNormalization`` left in the graph (one that no conv
    precedes, e.g. DDRNet's pre-activation BN → ReLU → Conv) as the equivalent depthwise
    1×1 ``Conv``, in place; returns how many.

    ONNX Runtime has no INT8 BatchNormalization, so such a BN stays an FP32 island between a
    ``DequantizeLinear`` and a ``QuantizeLinear`` (and NHWC transposes); as a depthwise conv
    it is quantized, and a following ReLU fuses into it. The node keeps its name, so the
    per-component precision map still finds it. Only 4-D inputs with constant parameters
    are rewritten (rank from the graph's shape information).
    """
    from onnx import helper, numpy_helper

    g = proto.graph
    inits = {i.name: i for i in g.initializer}
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*g.value_info, *g.input]
        if v.type.tensor_type.HasField("shape")
    }
    nodes, n_done = [], 0
    for n in g.node:
        params = list(n.input[1:5])
        if (
            n.op_type != "BatchNormalization"
            or len(n.output) != 1
            or len(params) != 4
            or not all(p in inits for p in params)
            or ranks.get(n.input[0]) != 4
        ):
            nodes.append(n)
            continue
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        scale, bias, mean, var = (
            numpy_helper.to_array(inits[p]).astype(np.float64) for p in params
        )
        a = scale / np.sqrt(var + eps)
        b = bias - mean * a
        c = len(a)
        w_name, b_name = f"{n.output[0]}_dw_weight", f"{n.output[0]}_dw_bias"
        g.initializer.extend(
            [
                numpy_helper.from_array(a.reshape(c, 1, 1, 1).astype(np.float32), w_name),
                numpy_helper.from_array(b.astype(np.float32), b_name),
            ]
        )
        nodes.append(
            helper.make_node(
                "Conv",
                [n.input[0], w_name, b_name],
                [n.output[0]],
                name=n.name,
                group=c,
                kernel_shape=[1, 1],
            )
        )
        n_done += 1
    if n_done:
        del g.node[:]
        g.node.extend(nodes)
        drop_unused_initializers(proto)
    return n_done


def drop_unused_initializers(proto: Any) -> None:
    """Remove the initializers that no node reads and that are not graph outputs, in place."""
    g = proto.graph
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)


def _session(path: str | Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def output_error(
    ref: np.ndarray | Sequence[np.ndarray], out: np.ndarray | Sequence[np.ndarray]
) -> dict[str, float]:
    """Error of ``out`` against ``ref``: ``(N, C, H, W)`` float32 logits, or one array per
    model output (lists of equal length, e.g. YOLACT's boxes, scores, coefficients, protos).

    Returns:
        ``sqnr_db``: 10·log10(‖ref‖² / ‖ref − out‖²) (higher is better; inf if equal),
        ``rel_l2``: ‖ref − out‖ / ‖ref‖, ``max_abs``: max |ref − out|,
        ``argmax_agreement``: fraction of pixels whose argmax over C is unchanged (0–1; NaN
        unless the first output is 4-D logits). With several outputs each is scored alone
        and the worst is reported (lowest SQNR, highest relative L2), so a small output
        (scores) is not drowned by a large one (prototypes).
    """
    if isinstance(ref, (list, tuple)):
        if not isinstance(out, (list, tuple)) or len(out) != len(ref) or not ref:
            raise ValueError("output_error: ref and out must hold the same number of outputs")
        errs = [output_error(r, o) for r, o in zip(ref, out)]
        return {
            "sqnr_db": min(e["sqnr_db"] for e in errs),
            "rel_l2": max(e["rel_l2"] for e in errs),
            "max_abs": max(e["max_abs"] for e in errs),
            "argmax_agreement": errs[0]["argmax_agreement"],
        }
    ref = np.asarray(ref).astype(np.float64)
    diff = ref - np.asarray(out).astype(np.float64)
    num, den = float((ref**2).sum()), float((diff**2).sum())
    sqnr = float("inf") if den == 0 else 10.0 * float(np.log10(max(num, 1e-30) / den))
    agree = (
        float((ref.argmax(1) == np.asarray(out).argmax(1)).mean())
        if ref.ndim == 4
        else float("nan")
    )
    return {
        "sqnr_db": sqnr,
        "rel_l2": float(np.sqrt(den / max(num, 1e-30))),
        "max_abs": float(np.abs(diff).max(initial=0.0)),
        "argmax_agreement": agree,
    }


def run_outputs(path: str | Path, batch: np.ndarray, input_name: str = "images") -> np.ndarray:
    """First output of ``path`` on every image of ``batch`` (one at a time), concatenated."""
    return run_all_outputs(path, batch, input_name)[0]


def run_all_outputs(
    path: str | Path, batch: np.ndarray, input_name: str = "images"
) -> list[np.ndarray]:
    """Every output of ``path`` on every image of ``batch`` (one at a time), each
    concatenated over the batch."""
    sess = _session(path)
    per = [sess.run(None, {input_name: batch[i : i + 1]}) for i in range(len(batch))]
    return [np.concatenate([p[k] for p in per]) for k in range(len(per[0]))]


def _input_name(path: str | Path) -> str:
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    init = {i.name for i in g.initializer}
    return next(i.name for i in g.input if i.name not in init)


def _finalize(
    tmp_model: Path, out: Path, spec: ModelSpec, precision: str, record: dict[str, Any]
) -> None:
    """Copy ``tmp_model`` to ``out`` atomically with the spec and quantization metadata."""
    import onnx

    from edgevision.export.metadata import embed_spec

    proto = onnx.load(str(tmp_model))
    embed_spec(
        proto,
        spec,
        precision=precision,
        **{QUANT_KEY: json.dumps(record), "edgevision.exported_by": "edgevision quantize"},
    )
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))


def _count_quant_ops(path: Path) -> tuple[int, int]:
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    q = sum(n.op_type in ("QuantizeLinear", "DynamicQuantizeLinear") for n in g.node)
    return len(g.node), q


def measure_latency(
    fp32: str | Path, quant: str | Path, *, threads: int = 2, runs: int = 20, progress: bool = True
) -> tuple[dict[str, float], list[Any]]:
    """p50 latency of both files with the bench harness (fresh processes, alternating blocks).

    Returns:
        ``({"fp32_ms", "quant_ms", "speedup"}, [BenchResult fp32, BenchResult quant])``.
    """
    from edgevision.bench import benchmark_many

    cfg = BenchConfig(threads=threads, runs=runs, warmup=max(2, runs // 5))
    res = benchmark_many(
        [str(fp32), str(quant)],
        cfg,
        blocks=min(3, runs),
        progress=progress,
        stages=False,
        flops=False,
    )
    a, b = res[0].latency_ms["p50"], res[1].latency_ms["p50"]
    return {"fp32_ms": a, "quant_ms": b, "speedup": a / b if b > 0 else float("nan")}, res


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
ENTROPY_BINS = 512
"""Histogram bins of the entropy (KL) calibration. ``quantize_static`` cannot pass this to
ONNX Runtime's ``EntropyCalibrater``, whose default (128 bins = 128 quantized bins) leaves a
single candidate threshold, the full range, so "entropy" silently equals min-max. We run the
same calibrator with 512 bins (384 candidate thresholds) and hand its ranges to
``quantize_static`` through its calibration cache."""


def _entropy_ranges(src: Path, reader: Any, cache: Path) -> None:
    """KL-divergence ranges of every quantizable tensor of ``src`` -> ``cache`` (JSON)."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    ops = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    with (
        _ort_quantizer("entropy calibration", reader),
        tempfile.TemporaryDirectory(prefix="edgevision-kl-") as td,
    ):
        cal = create_calibrator(
            Path(src),
            ops,
            augmented_model_path=str(Path(td) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"num_bins": ENTROPY_BINS, "num_quantized_bins": 128},
        )
        cal.collect_data(reader)
        save_tensors_data(cal.compute_data(), cache)


def quantize_onnx_static(
    src: Path,
    dst: Path,
    reader: Any,
    cfg: QuantConfig,
    *,
    nodes_to_quantize: list[str] | None = None,
    nodes_to_exclude: list[str] | None = None,
    calibration_cache: Path | None = None,
) -> None:
    """``quantize_static`` on a pre-processed FP32 model (no metadata handling).

    ``calibration_cache`` (a JSON file) stores the tensor ranges so repeated calls with other
    node sets (sensitivity analysis, search) calibrate only once.

    Raises:
        QuantizationError: the quantizer failed (unsupported operator ...).
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    if cfg.method == "entropy" and not (calibration_cache and calibration_cache.is_file()):
        calibration_cache = calibration_cache or dst.with_name(dst.stem + ".entropy.json")
        _entropy_ranges(src, reader, calibration_cache)
    with _ort_quantizer("ONNX Runtime static quantization", reader):
        quantize_static(
            str(src),
            str(dst),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=cfg.per_channel,
            reduce_range=cfg.reduce_range,
            activation_type=qt[cfg.activation_type],
            weight_type=qt[cfg.weight_type],
            nodes_to_quantize=nodes_to_quantize or None,
            nodes_to_exclude=nodes_to_exclude or None,
            calibrate_method=getattr(CalibrationMethod, _METHODS[cfg.method]),
            extra_options={"CalibPercentile": cfg.percentile},
            calibration_cache_path=calibration_cache,
        )


def quantize_onnx_nncf(
    src: Path,
    dst: Path,
    reader: Any,
    cfg: QuantConfig,
    *,
    nodes_to_exclude: list[str],
    validator: Any = None,
) -> float | None:
    """NNCF's post-training quantization of an FP32 ONNX graph into QDQ form.

    NNCF (Intel's compression library) estimates ranges its own way (min-max over the
    calibration set with its presets, plus fast bias correction), so it is a second opinion
    next to ONNX Runtime's ``quantize_static``; its QDQ files run in ONNX Runtime and OpenVINO.

    With ``cfg.max_drop`` and a primed
    :class:`~edgevision.quantize.accuracy_control.Validator`, it runs
    ``nncf.quantize_with_accuracy_control`` instead: quantizers are reverted to FP32 until
    the headline metric drops by at most ``cfg.max_drop`` points on the validation images.

    Returns:
        The returned model's headline (0–1) in accuracy-control mode, else ``None``.

    Raises:
        BackendUnavailable: nncf is not installed.
        QuantizationError: NNCF failed on the graph.
    """
    import importlib.util

    if importlib.util.find_spec("nncf") is None:
        from edgevision.errors import BackendUnavailable

        raise BackendUnavailable("--engine nncf needs the 'nncf' package: pip install nncf")
    import logging

    import nncf
    import onnx

    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = onnx.load(str(src))
    data = [reader.data[i : i + 1] for i in range(len(reader))]
    input_name = reader.input_name
    common: dict[str, Any] = {
        "preset": nncf.QuantizationPreset.MIXED
        if cfg.activation_type == "u8"
        else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": len(data),
        "ignored_scope": nncf.IgnoredScope(names=nodes_to_exclude, validate=False)
        if nodes_to_exclude
        else None,
    }
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        QuantizationParameters,
    )

    # per-tensor activations: NNCF's default puts per-channel quantizers on the inputs of
    # depthwise convolutions, and ONNX Runtime's QLinearConv refuses a per-channel input
    # zero point where it fuses them ("input zero point must be a scalar"; LiteSeg's DASPP)
    advanced = AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False)
    )
    calib = nncf.Dataset(data, lambda x: {input_name: x})
    metric = None
    try:
        if cfg.max_drop is None or validator is None:
            quantized = nncf.quantize(model, calib, advanced_parameters=advanced, **common)
        else:
            from nncf.quantization.advanced_parameters import (
                AdvancedAccuracyRestorerParameters,
            )

            quantized = nncf.quantize_with_accuracy_control(
                model,
                calib,
                nncf.Dataset(validator.items),
                validator,
                max_drop=cfg.max_drop / 100.0,  # points -> the headline's 0-1 scale
                advanced_quantization_parameters=advanced,
                drop_type=nncf.DropType.ABSOLUTE,
                # one ranking worker: the validator keeps one session and is not thread-safe
                advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                    num_ranking_workers=1
                ),
                **common,
            )
            metric = validator.headline(quantized)
    except EdgeVisionError:
        raise
    except Exception as e:  # NNCF raises many types with long messages
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise QuantizationError(f"NNCF quantization failed: {first}") from None
    scalar_qdq_params(quantized)
    onnx.save(quantized, str(dst))
    return metric


def quantize_model(
    target: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: QuantConfig | None = None,
    *,
    calib_data: str | os.PathLike[str] | None = None,
    input_size: tuple[int, int] | None = None,
    measure: bool | None = None,
    bench_runs: int = 20,
    threads: int = 2,
    check_images: int = 8,
    progress: bool = True,
    eval_data: str | os.PathLike[str] | None = None,
    eval_split: str = "val",
    eval_images: int = 0,
) -> QuantResult:
    """Quantize ``target`` (checkpoint, registry name or FP32 ``.onnx``) into ``out``.

    Args:
        target: ``.pt``/``.safetensors`` checkpoint, registry name (random weights) or an
            FP32 ``.onnx`` with edgevision metadata.
        out: destination ``.onnx`` (written atomically).
        config: :class:`QuantConfig` (mode, method, calib size, types, precision map).
        calib_data: calibration folder (dataset in edgevision layout or plain image folder);
            required for static mode, and used for the output check in every mode.
        input_size: ``(H, W)`` to export and calibrate at (default: the spec's).
        measure: time FP32 vs quantized with the bench harness (default: on for dynamic
            mode, where being slower than FP32 is common; off for static).
        bench_runs: timed runs per model when measuring.
        threads: intra-op threads for the latency measurement.
        check_images: calibration images used for the output check vs FP32 (0: none).
        progress: progress output on stderr.
        eval_data: validation dataset of accuracy control (``config.max_drop``; default:
            ``calib_data``).
        eval_split: its split.
        eval_images: cap on validation images of accuracy control (0: all).

    Returns:
        A :class:`QuantResult`.

    Raises:
        DataError: missing / empty / too-small calibration folder, unreadable images, bad
            validation data.
        ConfigError: unknown component, unsupported precision (fp16 on CPU), bad options.
        ModelFileError: missing model, or an ONNX file without edgevision metadata.
        QuantizationError: ONNX Runtime's quantizer failed.
    """
    from edgevision.export.components import (
        OTHER,
        build_node_map,
        model_components,
        resolve_precision,
        split_nodes,
    )
    from edgevision.quantize.calibration import ImageFolderReader

    cfg = config or QuantConfig()
    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"output must end in .onnx, got {out}")
    if cfg.mode == "qat":
        raise ConfigError("mode 'qat' trains: use edgevision.quantize.qat.quantize_qat")
    if cfg.mode == "static" and calib_data is None:
        raise ConfigError("static quantization needs calibration images: pass --calib-data DIR")
    if measure is None:
        measure = cfg.mode == "dynamic"

    with tempfile.TemporaryDirectory(prefix="edgevision-quant-") as td:
        work = Path(td)
        reader = None
        # resolve cheap inputs first so a bad folder fails before a slow export
        if calib_data is not None and not Path(calib_data).is_dir():
            from edgevision.errors import require_dir

            require_dir(calib_data, "calibration folder")
        src, spec = fp32_onnx(target, work, input_size=input_size)
        input_name = _input_name(src)
        # check the precision request against the declared components before any slow step
        needs_map = bool(cfg.precision) or cfg.default_precision != "int8"
        full = {OTHER: "int8"}
        if needs_map:
            full = resolve_precision(cfg.precision, cfg.default_precision, model_components(spec))
            fp16 = sorted(c for c, p in full.items() if p == "fp16")
            if fp16:
                raise ConfigError(
                    f"fp16 requested for {', '.join(fp16)}, but the ONNX Runtime CPU provider "
                    "has no fp16 convolution kernels on x86 (fp16 needs the CUDA or TensorRT "
                    "provider); use int8 or fp32 on this machine"
                )
            if not any(p == "int8" for p in full.values()):
                raise ConfigError("--precision leaves nothing to quantize (every component fp32)")
        if calib_data is not None:
            reader = ImageFolderReader(
                calib_data,
                spec,
                count=cfg.calib_size,
                input_name=input_name,
                split=cfg.calib_split,
                input_size=input_size,
            )
        # NNCF transforms the graph itself; ORT's pre-processed graph (BN as depthwise conv)
        # gives it an AveragePool pattern ONNX Runtime then refuses to load
        ort_pre = cfg.preprocess and cfg.engine == "onnxruntime"
        pre = preprocess_for_quant(src, work / "pre.onnx") if ort_pre else src
        excluded: list[str] = []
        if needs_map:
            import onnx

            proto = onnx.load(str(pre), load_external_data=False)
            _, excluded = split_nodes(build_node_map(proto, spec), full)

        validator = None
        if cfg.max_drop is not None:
            import onnx

            from edgevision.quantize.accuracy_control import Validator

            validator = Validator(
                spec,
                eval_data if eval_data is not None else calib_data,  # type: ignore[arg-type]
                eval_split,
                max_images=eval_images,
                work=work,
                threads=threads,
                backend=cfg.control_backend,
            )
            fp32_metric = validator.prime(onnx.load(str(pre)))
        tmp_q = work / "quant.onnx"
        int8_metric = None
        if cfg.mode == "static":
            if progress:
                print(
                    f"calibrating ({'nncf' if cfg.engine == 'nncf' else cfg.method}) on "
                    f"{len(reader)} images at "  # type: ignore[arg-type]
                    f"{'x'.join(map(str, input_size or spec.input_size))} ...",
                    flush=True,
                )
                reader.progress = ProgressLines("calibration", len(reader))  # type: ignore[arg-type,union-attr]
            if cfg.engine == "nncf":
                int8_metric = quantize_onnx_nncf(
                    pre, tmp_q, reader, cfg, nodes_to_exclude=excluded, validator=validator
                )
            else:
                quantize_onnx_static(pre, tmp_q, reader, cfg, nodes_to_exclude=excluded)
        else:
            _quantize_dynamic(pre, tmp_q, cfg, excluded)

        precision_tag = "mixed" if any(p != "int8" for p in full.values()) and excluded else "int8"
        record: dict[str, Any] = {
            "mode": cfg.mode,
            "method": cfg.method if cfg.mode == "static" else None,
            "calib_size": len(reader) if (reader is not None and cfg.mode == "static") else 0,
            "calib_data": str(calib_data) if calib_data is not None else None,
            "activation_type": cfg.activation_type if cfg.mode == "static" else "u8",
            "weight_type": cfg.weight_type,
            "per_channel": cfg.per_channel,
            "reduce_range": cfg.reduce_range,
            "precision": full,
            "excluded_nodes": len(excluded),
            "tool": "nncf" if cfg.engine == "nncf" else "onnxruntime.quantization",
        }
        control = None
        if validator is not None and int8_metric is not None:
            control = asdict(validator.report(cfg.max_drop, fp32_metric, int8_metric))  # type: ignore[arg-type]
            record["accuracy_control"] = control
        error: dict[str, float] = {}
        if reader is not None and check_images > 0:
            batch = reader.data[: min(check_images, len(reader))]
            error = output_error(
                run_outputs(src, batch, input_name), run_outputs(tmp_q, batch, input_name)
            )
            record["check"] = {"images": len(batch), **error}
        _finalize(tmp_q, out, spec, precision_tag, record)
        total, qops = _count_quant_ops(out)
        fp32_size = src.stat().st_size / 2**20
        result = QuantResult(
            path=str(out),
            model=spec.name,
            mode=cfg.mode,
            config=asdict(cfg),
            precision=full,
            nodes={"total": total, "quantized_ops": qops, "excluded": len(excluded)},
            size_mb=out.stat().st_size / 2**20,
            fp32_size_mb=fp32_size,
            error=error,
            accuracy_control=control,
        )
        if measure:
            lat, res = measure_latency(
                src, out, threads=threads, runs=bench_runs, progress=progress
            )
            result.latency = lat
            result.bench = [r.to_dict() for r in res]
            if lat["quant_ms"] >= lat["fp32_ms"]:
                result.warnings.append(
                    f"{cfg.mode} INT8 is SLOWER than FP32 on this machine: "
                    f"{lat['quant_ms']:.2f} ms vs {lat['fp32_ms']:.2f} ms p50 "
                    f"({threads} threads); "
                    + (
                        "dynamic quantization re-quantizes activations at run time and uses "
                        "ConvInteger, which is slow for conv-heavy models on CPU — use "
                        "--mode static"
                        if cfg.mode == "dynamic"
                        else "try other activation/weight types or exclude components"
                    )
                )
        result.seconds = time.perf_counter() - t0
    return result


def _quantize_dynamic(src: Path, dst: Path, cfg: QuantConfig, excluded: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    with _ort_quantizer("ONNX Runtime dynamic quantization"):
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=cfg.per_channel,
            reduce_range=cfg.reduce_range,
            weight_type=qt[cfg.weight_type],
            nodes_to_exclude=excluded or None,
        )
