"""``QuantConfig``: every option of ``edgevision quantize`` as one typed dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgevision.config import PRECISIONS, validate
from edgevision.errors import ConfigError

QuantMode = Literal["static", "dynamic", "qat"]
CalibMethod = Literal["minmax", "entropy", "percentile"]
QType = Literal["u8", "s8"]
QuantEngine = Literal["onnxruntime", "nncf"]
Precision = Literal["int8", "fp16", "fp32"]


PTQ_GRAPH_REVISION = 2
"""Bumped whenever the graph that static/dynamic PTQ quantize changes for the same input
(cached ``edgevision compare`` variants are rebuilt): 2 = standalone BatchNormalization
rewritten as a depthwise 1×1 Conv (:func:`edgevision.quantize.ptq.batchnorm_to_depthwise_conv`)."""

QAT_EXPORT_REVISION = 3
"""Bumped whenever the QAT graph changes for the same checkpoint and recipe, so cached
variants of ``edgevision compare`` are rebuilt (2: Conv + ReLU6 fused as a capped ReLU;
3: ``tensor (op) number`` has its own output range)."""


@dataclass
class QuantConfig:
    """Quantization options.

    Attributes:
        mode: ``"static"`` (calibrated INT8, QDQ), ``"dynamic"`` (weights INT8, activations
            quantized at run time) or ``"qat"`` (fake-quant fine-tuning, see
            :mod:`edgevision.quantize.qat`).
        method: calibration method for static mode: ``"minmax"``, ``"entropy"`` (KL) or
            ``"percentile"``.
        calib_size: number of calibration images (evenly spaced over the folder).
        calib_split: split read from a dataset folder in the edgevision layout.
        percentile: the percentile for ``method="percentile"``.
        per_channel: per-output-channel weight scales.
        activation_type: ``"u8"`` (default; asymmetric uint8 activations, the fast path of
            x86 VNNI/AVX2 u8s8 integer kernels) or ``"s8"``.
        weight_type: ``"s8"`` (default) or ``"u8"``.
        reduce_range: 7-bit weights (for CPUs without VNNI where u8s8 can saturate).
        precision: component name -> ``"int8"`` / ``"fp16"`` / ``"fp32"``; components not
            named take ``default_precision``.
        default_precision: precision of everything not named in ``precision``.
        preprocess: run ONNX Runtime's quantization pre-processing (shape inference and
            graph optimisation) before calibrating.
        engine: the static quantizer: ``"onnxruntime"`` (``quantize_static``) or ``"nncf"``
            (Intel NNCF's post-training quantization of the ONNX graph: its own range
            estimation and bias correction; U8 activations, S8 weights; ``method`` does not
            apply). Both write QDQ files that ONNX Runtime and OpenVINO run.
        max_drop: NNCF's accuracy-control mode (``nncf.quantize_with_accuracy_control``):
            the most the task's headline metric (mIoU, box or mask AP) may drop against FP32
            on the validation split, in points (×100); NNCF reverts the quantizers that cost
            most to FP32 until the drop is within it. ``None``: plain PTQ. Needs
            ``engine="nncf"`` and ``mode="static"``.
        control_backend: the engine that scores accuracy control's candidates:
            ``"onnxruntime"`` (default) or ``"openvino"``. Choose the one the file will run
            on: the same QDQ file can lose more on one engine than on the other (its INT8
            kernels and fusions differ), and the budget holds only where it was measured.
    """

    mode: QuantMode = "static"
    method: CalibMethod = "minmax"
    calib_size: int = 100
    calib_split: str = "train"
    percentile: float = 99.999
    per_channel: bool = True
    activation_type: QType = "u8"
    weight_type: QType = "s8"
    reduce_range: bool = False
    precision: dict[str, str] = field(default_factory=dict)
    default_precision: Precision = "int8"
    preprocess: bool = True
    engine: QuantEngine = "onnxruntime"
    max_drop: float | None = None
    control_backend: str = "onnxruntime"

    def __post_init__(self) -> None:
        validate(self)
        if self.engine == "nncf" and self.mode != "static":
            raise ConfigError(f"--engine nncf is a static quantizer, not {self.mode}")
        if self.max_drop is not None:
            if self.engine != "nncf" or self.mode != "static":
                raise ConfigError(
                    "--max-drop (accuracy control) needs --engine nncf --mode static, got "
                    f"--engine {self.engine} --mode {self.mode}"
                )
            if not self.max_drop > 0:
                raise ConfigError(f"max_drop must be > 0 points, got {self.max_drop}")
        if self.control_backend not in ("onnxruntime", "openvino"):
            raise ConfigError(
                f"--control-backend must be onnxruntime or openvino, got {self.control_backend!r}"
            )
        if self.control_backend != "onnxruntime" and self.max_drop is None:
            raise ConfigError(
                "--control-backend chooses the engine of accuracy control: it needs --max-drop "
                "with --engine nncf --mode static"
            )
        if self.calib_size < 1:
            raise ConfigError(f"calib_size must be >= 1, got {self.calib_size}")
        if not 0.0 < self.percentile <= 100.0:
            raise ConfigError(f"percentile must be in (0, 100], got {self.percentile}")
        for comp, prec in self.precision.items():
            if prec not in PRECISIONS:
                raise ConfigError(
                    f"precision of {comp!r} must be one of {', '.join(PRECISIONS)}, got {prec!r}"
                )

    @property
    def is_mixed(self) -> bool:
        """True when some component's precision differs from the default."""
        return any(p != self.default_precision for p in self.precision.values())
