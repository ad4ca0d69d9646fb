"""FP32 vs QAT vs static PTQ vs dynamic PTQ, measured in one run: the field study's numbers.

:func:`compare_modes` takes models of a dense task (semantic segmentation, and the
multi-head ``panoptic`` and ``depthseg`` models, whose class logits are scored by mIoU like a
semantic model's) as checkpoints or FP32 ONNX files and, for each one,

1. makes the four variants: the FP32 ONNX export, QAT (fake-quant fine-tuning through the
   trainer, QDQ export), static PTQ (calibrated QDQ) and dynamic PTQ — each with the
   project's own tools (:func:`~edgevision.quantize.ptq.quantize_model`,
   :func:`~edgevision.quantize.qat.quantize_qat`), written under ``work/LABEL/``. An FP32
   ONNX file is its own FP32 variant and the source of both PTQ variants; QAT fine-tunes
   weights, so it needs a checkpoint and is not made for an ONNX file (the comparison
   records why, in :attr:`ModelComparison.skipped`, and the page shows it);
2. measures all four with :func:`~edgevision.bench.harness.benchmark_variants`: fresh processes,
   alternating blocks (so a drift of the machine hits every variant alike), peak RSS of
   the worker, file size, and mIoU on the evaluation split through the ONNX Runtime path,

OpenVINO rows (``ov_fp32``, ``ov_bf16``, ``ov_int8``; asked for in ``modes``) run the FP32
file and the static PTQ file on OpenVINO (:mod:`edgevision.runtime.openvino`) in the same
alternation, so each engine's speed and mIoU on the same files sit in one table.

It returns one :class:`ModelComparison` per checkpoint: the numbers of the field study's
Table 2 (mIoU / size / FPS per mode) and Table 3 (mIoU change / size decrease / peak-RAM
decrease vs FP32), which ``edgevision compare`` writes as a page.

Variants are cached: a variant file is reused when ``work/LABEL/variants.json`` says it was
made from the same checkpoint (SHA-256) with the same options, so an interrupted compare
re-runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError, ModelFileError
from edgevision.io import file_sha256
from edgevision.quantize.config import PTQ_GRAPH_REVISION, QAT_EXPORT_REVISION
from edgevision.tasks import get_task

__all__ = [
    "ENGINE_MODES",
    "MODES",
    "CompareOptions",
    "ModelComparison",
    "compare_modes",
]

MODES: tuple[str, ...] = ("fp32", "qat", "static", "dynamic", "ov_fp32", "ov_bf16", "ov_int8")
"""Variants in table order: FP32 reference, QAT, static PTQ, dynamic PTQ (ONNX Runtime), then
the OpenVINO rows."""

MODE_TITLES = {
    "fp32": "FP32",
    "qat": "QAT",
    "static": "static PTQ",
    "dynamic": "dynamic PTQ",
    "ov_fp32": "OpenVINO FP32",
    "ov_bf16": "OpenVINO BF16",
    "ov_int8": "OpenVINO INT8 (static PTQ file)",
}

ENGINE_MODES: dict[str, tuple[str, Literal["f32", "bf16"]]] = {
    "ov_fp32": ("fp32", "f32"),
    "ov_bf16": ("fp32", "bf16"),
    "ov_int8": ("static", "f32"),
}
"""OpenVINO modes -> (the mode whose file they run, OpenVINO's float precision hint); they
make no file of their own. The other modes run on ONNX Runtime."""


@dataclass
class CompareOptions:
    """What :func:`compare_modes` does.

    Attributes:
        modes: variants to make and measure (subset of :data:`MODES`; ``fp32`` is always
            included, as the reference).
        method: calibration method of static PTQ (``minmax``, ``entropy``, ``percentile``).
        calib_size: calibration images for static PTQ (from ``calib_split``).
        calib_split: split the calibration (and QAT) images come from.
        calib_data: folder of those images (``None``: the scored folder); e.g. a model
            scored on a synthetic seed never used in training, calibrated on its training
            seed.
        calib_data_for: a calibration / QAT folder per model, by its label (as compare
            prints it: the checkpoint's stem, or its run folder for ``best``/``last``), instead of ``calib_data``: each model quantized and
            fine-tuned on its own training data (e.g. a depth + classes model on the folder
            that has its depth truth).
        calib_split_for: a calibration / QAT split per model, by its label, instead of
            ``calib_split`` (its own folder's training split).
        qat_epochs: QAT fine-tuning epochs.
        qat_lr: QAT learning rate.
        qat_schedule: QAT LR schedule (``constant`` or ``cosine``).
        qat_freeze_observers: freeze the QAT observers after this many epochs (0: never).
        qat_batch_size: QAT images per step.
        qat_crop: QAT training crop ``(H, W)`` (``None``: the model's input size).
        split: split the mIoU is measured on.
        eval_images: cap on evaluation images (0: the whole split).
        threads: intra-op threads for timing and evaluation.
        runs: timed runs per variant (spread over ``blocks``).
        blocks: alternation rounds.
        warmup: untimed runs at the start of every block.
        reference: also time each checkpoint end to end "the usual way" (torch eager FP32,
            logits upsampled then argmax; :mod:`edgevision.bench.seg_reference`), the speed
            reference of the end-to-end table.
        backend: the engine every variant is measured on (``onnxruntime``, ``openvino`` or
            ``tensorrt``; one engine for all, so the rows compare the variants).
        providers: ONNX Runtime execution providers (``cuda``, ``tensorrt``); empty = CPU.
    """

    modes: tuple[str, ...] = MODES
    method: str = "minmax"
    calib_size: int = 100
    calib_split: str = "train"
    calib_data: str | None = None
    calib_data_for: dict[str, str] = field(default_factory=dict)
    calib_split_for: dict[str, str] = field(default_factory=dict)
    qat_epochs: int = 1
    qat_lr: float = 1e-3
    qat_schedule: str = "constant"
    qat_freeze_observers: int = 0
    qat_batch_size: int = 8
    qat_crop: tuple[int, int] | None = None
    split: str = "val"
    eval_images: int = 0
    threads: int = 2
    runs: int = 30
    blocks: int = 3
    warmup: int = 5
    reference: bool = True
    backend: str = "onnxruntime"
    providers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.backend not in ("onnxruntime", "openvino", "tensorrt"):
            raise ConfigError(
                f"compare measures ONNX files on onnxruntime, openvino or tensorrt, not "
                f"{self.backend!r}"
            )
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ConfigError(
                f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}"
            )
        self.modes = tuple(m for m in MODES if m in self.modes or m == "fp32")
        for m in self.modes:
            if m in ENGINE_MODES and ENGINE_MODES[m][0] not in self.modes:
                raise ConfigError(f"mode {m} runs the {ENGINE_MODES[m][0]} file: add that mode")
        for name in ("calib_size", "qat_epochs", "qat_batch_size", "threads", "runs", "blocks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_images < 0 or self.warmup < 0 or self.qat_lr <= 0:
            raise ConfigError("eval_images and warmup must be >= 0 and qat_lr > 0")

    def recipe(self, mode: str) -> dict[str, Any]:
        """The options that decide the file a mode produces (the cache key besides the
        checkpoint)."""
        if mode == "static":
            return {
                "method": self.method,
                "calib_size": self.calib_size,
                "split": self.calib_split,
                "graph_revision": PTQ_GRAPH_REVISION,
            }
        if mode == "dynamic":
            return {"graph_revision": PTQ_GRAPH_REVISION}
        if mode == "qat":
            return {
                "epochs": self.qat_epochs,
                "lr": self.qat_lr,
                "batch_size": self.qat_batch_size,
                **(
                    {"schedule": self.qat_schedule, "freeze_observers": self.qat_freeze_observers}
                    if (self.qat_schedule, self.qat_freeze_observers) != ("constant", 0)
                    else {}
                ),
                "crop": list(self.qat_crop) if self.qat_crop else None,
                "split": self.calib_split,
                "export_revision": QAT_EXPORT_REVISION,
            }
        return {}


@dataclass
class ModelComparison:
    """The measured variants of one checkpoint.

    Attributes:
        label: display name (checkpoint stem, or its folder for ``best``/``last``).
        checkpoint: the checkpoint compared.
        model: registry name of the architecture.
        results: mode -> :class:`~edgevision.bench.harness.BenchResult` dict.
        records: mode -> quantization record (QuantResult dict; ``{}`` for FP32).
        reference: the torch eager "usual way" BenchResult dict (``None``: not measured).
        task: the model's task (a dense one: ``semantic``, ``panoptic``, ``depthseg``).
        skipped: mode -> why it was not made (a requested mode the input cannot give, e.g.
            QAT of an ONNX file).
    """

    label: str
    checkpoint: str
    model: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    task: str = ""
    skipped: dict[str, str] = field(default_factory=dict)

    def miou(self, mode: str) -> float | None:
        v = (self.results.get(mode) or {}).get("metrics", {}).get("miou")
        return None if v is None else float(v)


def checkpoint_label(path: str | os.PathLike[str]) -> str:
    """``runs/ddr/best.pt`` -> ``ddr``; ``weights/x/x.safetensors`` (or ``x.onnx``) -> ``x``."""
    p = Path(path)
    return p.parent.name if p.stem in ("best", "last") and p.parent.name else p.stem


QAT_NEEDS_CHECKPOINT = "ONNX input; QAT fine-tunes a checkpoint"
"""Why an ONNX input has no QAT variant."""

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


def read_manifest(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (a variant cache manifest), or ``{}`` when unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_variants(
    ckpt: Path,
    folder: Path,
    data: Path,
    opts: CompareOptions,
    *,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[dict[str, Path], dict[str, dict[str, Any]], dict[str, str], ModelSpec]:
    """Make (or reuse) the variant files of one checkpoint or FP32 ONNX file.

    Returns:
        ``(paths, records, skipped, spec)``: mode -> file, mode -> quantization record,
        mode -> why it was not made, and the model's spec.

    Raises:
        ConfigError: the model is not of a dense task (checked on the FP32 variant, before
            any quantized one is made).
    """
    from edgevision.export.metadata import read_spec
    from edgevision.io import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "variants.json"
    manifest = read_manifest(manifest_path)
    digest = file_sha256(ckpt)
    paths: dict[str, Path] = {}
    records: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    from_onnx = ckpt.suffix.lower() == ".onnx"
    for mode in (m for m in opts.modes if m not in ENGINE_MODES):
        out = folder / f"{mode}.onnx"
        if mode == "qat" and from_onnx:
            log(f"{folder.name}: QAT not made ({QAT_NEEDS_CHECKPOINT})")
            skipped[mode] = QAT_NEEDS_CHECKPOINT
            continue
        key = {
            "checkpoint_sha256": digest,
            "data": str(data.resolve()),
            "recipe": opts.recipe(mode),
            **(
                {"calib_data": str(Path(opts.calib_data).resolve())}
                if opts.calib_data and mode in ("static", "qat")
                else {}
            ),
        }
        entry = manifest.get(mode) or {}
        if out.is_file() and entry.get("key") == key:
            log(f"{folder.name}: {mode} reused ({out})")
            paths[mode], records[mode] = out, entry.get("record", {})
        else:
            log(f"{folder.name}: making {MODE_TITLES[mode]} -> {out}")
            paths[mode] = out
            records[mode] = _make_variant(mode, ckpt, out, data, opts, progress=progress)
            manifest[mode] = {"key": key, "record": records[mode]}
            write_json_atomic(manifest_path, manifest)  # after each variant: resumable
        if mode == "fp32":
            spec = read_spec(out)
            if not get_task(spec.task).dense:
                raise ConfigError(
                    f"{ckpt}: compare is for dense (segmentation) models, got task {spec.task!r}"
                )
    for mode in (m for m in opts.modes if m in ENGINE_MODES):  # other engines, same files
        paths[mode], records[mode] = paths[ENGINE_MODES[mode][0]], {}
    return paths, records, skipped, spec


def _make_variant(
    mode: str, ckpt: Path, out: Path, data: Path, opts: CompareOptions, *, progress: bool
) -> dict[str, Any]:
    """Write the ``mode`` variant of ``ckpt`` to ``out``; returns its quantization record
    (``{}`` for FP32)."""
    import shutil

    from edgevision.export import export_onnx
    from edgevision.quantize.config import QuantConfig
    from edgevision.quantize.ptq import quantize_model
    from edgevision.quantize.qat import QATConfig, quantize_qat

    record: dict[str, Any] = {}
    data = Path(opts.calib_data) if opts.calib_data else data
    if mode == "fp32":
        if ckpt.suffix.lower() == ".onnx":
            shutil.copyfile(ckpt, out)
        else:
            export_onnx(str(ckpt), out)
    elif mode in ("static", "dynamic"):
        res = quantize_model(
            ckpt,
            out,
            QuantConfig(
                mode=mode,  # type: ignore[arg-type]
                calib_size=opts.calib_size,
                calib_split=opts.calib_split,
                **({"method": opts.method} if mode == "static" else {}),  # type: ignore[arg-type]
            ),
            calib_data=data,
            measure=False,
            progress=progress,
        )
        record = res.to_dict()
    else:  # qat
        res = quantize_qat(
            ckpt,
            out,
            data,
            qat=QATConfig(
                epochs=opts.qat_epochs,
                lr=opts.qat_lr,
                schedule=opts.qat_schedule,  # type: ignore[arg-type]
                freeze_observers=opts.qat_freeze_observers,
                batch_size=opts.qat_batch_size,
                crop=opts.qat_crop,
                split=opts.calib_split,
            ),
            progress=progress,
        )
        record = res.to_dict()
    return record


def _check_engines(modes: Sequence[str]) -> None:
    """One-line errors before any work: OpenVINO rows without OpenVINO, BF16 without BF16
    instructions (OpenVINO would run f32 and the row would be mislabelled)."""
    if not any(m in ENGINE_MODES for m in modes):
        return
    from edgevision.errors import BackendUnavailable
    from edgevision.host import BF16_FLAGS, cpu_flags
    from edgevision.runtime.base import BACKENDS, list_backends

    if not list_backends().get("openvino"):
        raise BackendUnavailable(f"the OpenVINO modes need OpenVINO: {BACKENDS['openvino'][2]}")
    if "ov_bf16" in modes and not BF16_FLAGS & set(cpu_flags()):
        raise ConfigError("ov_bf16: this CPU has no BF16 instructions (avx512_bf16, amx_bf16)")


def compare_modes(
    checkpoints: Sequence[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    *,
    work: str | os.PathLike[str] = "runs/compare",
    options: CompareOptions | None = None,
    progress: bool = True,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> list[ModelComparison]:
    """Make and measure FP32 / QAT / static PTQ / dynamic PTQ for each model.

    Args:
        checkpoints: models of a dense task (semantic, panoptic, depthseg): checkpoints
            (``.pt``/``.safetensors``) or FP32 ONNX files with edgevision metadata (no QAT
            variant and no torch eager reference for those: both need the weights in torch).
        data: dataset folder (edgevision layout): calibration and QAT images come from
            ``options.calib_split``, mIoU from ``options.split``.
        work: folder for the variant files (``work/LABEL/MODE.onnx``) and their cache
            manifest.
        options: :class:`CompareOptions`.
        progress: progress bars / lines.
        command: command line recorded in the benchmark results.
        log: where one-line status messages go.

    Returns:
        One :class:`ModelComparison` per checkpoint, in the order given.

    Raises:
        ModelFileError: a model file is missing, is neither a checkpoint nor an ONNX file,
            or is an ONNX file without edgevision metadata or already quantized.
        ConfigError: two models with the same label, a model of a non-dense task, bad
            options.
        DataError: a bad dataset folder (from the readers).
    """
    from edgevision.bench.harness import benchmark_many, benchmark_variants
    from edgevision.config import BenchConfig
    from edgevision.errors import require_dir
    from edgevision.quantize.ptq import fp32_onnx

    opts = options or CompareOptions()
    if not checkpoints:
        raise ConfigError("no checkpoints to compare")
    data = Path(data)
    require_dir(data, "dataset folder")
    ckpts = [Path(c) for c in checkpoints]
    for c in ckpts:
        if not c.is_file():
            raise ModelFileError(f"model file not found: {c}")
        if c.suffix.lower() == ".onnx":
            fp32_onnx(c, work)  # checks its metadata and precision (writes nothing for .onnx)
        elif c.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ModelFileError(
                f"{c}: not a checkpoint (.pt/.safetensors) or an FP32 .onnx file; compare "
                "starts from one"
            )
    labels = [checkpoint_label(c) for c in ckpts]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"two checkpoints share the label {dup[0]!r}; give them distinct names")
    for option, per in (
        ("--calib-data", opts.calib_data_for),
        ("--calib-split", opts.calib_split_for),
    ):
        stray = sorted(set(per) - set(labels))
        if stray:
            raise ConfigError(
                f"{option} {stray[0]}=...: no model labelled {stray[0]!r} "
                f"(labels: {', '.join(labels)})"
            )
    per_model = {label: _calib_options(opts, label) for label in labels}
    from edgevision.data.sequences import split_names

    calibrates = bool({"static", "qat"} & set(opts.modes))  # modes that read those images
    for mopts in per_model.values():
        if mopts.calib_data:
            require_dir(mopts.calib_data, "calibration folder (--calib-data)")
        if mopts.calib_data or calibrates:  # a missing split: one line, before any file
            split_names(mopts.calib_data or data, mopts.calib_split)
    _check_engines(opts.modes)

    out: list[ModelComparison] = []
    for ckpt, label in zip(ckpts, labels):
        paths, records, skipped, spec = _make_variants(
            ckpt, Path(work) / label, data, per_model[label], progress=progress, log=log
        )
        cfg = BenchConfig(
            backend=opts.backend,  # type: ignore[arg-type]
            providers=list(opts.providers),
            threads=opts.threads,
            runs=opts.runs,
            warmup=opts.warmup,
            data=str(data),
            split=opts.split,
            max_images=opts.eval_images,
        )
        log(f"{label}: measuring {', '.join(paths)} alternately ({opts.blocks} blocks)")
        results = benchmark_variants(
            [
                (
                    str(paths[m]),
                    dataclasses.replace(cfg, backend="openvino", ov_precision=ENGINE_MODES[m][1])
                    if m in ENGINE_MODES
                    else cfg,
                )
                for m in paths
            ],
            blocks=opts.blocks,
            progress=progress,
            command=command,
        )
        reference = None
        if opts.reference and ckpt.suffix.lower() == ".onnx":
            log(f"{label}: no torch eager reference for an ONNX file (it needs the checkpoint)")
        elif opts.reference:
            log(f"{label}: timing the torch eager reference (logits upsampled, then argmax)")
            ref_cfg = dataclasses.replace(
                cfg,
                backend="torch",
                providers=[],
                semantic_reference=True,
                data=None,
                max_images=0,
            )
            reference = benchmark_many(
                [str(ckpt)],
                ref_cfg,
                blocks=opts.blocks,
                progress=progress,
                flops=False,
                command=command,
            )[0].to_dict()
        out.append(
            ModelComparison(
                label=label,
                checkpoint=str(ckpt),
                model=spec.name,
                results={m: r.to_dict() for m, r in zip(paths, results)},
                records=records,
                reference=reference,
                task=spec.task,
                skipped=skipped,
            )
        )
    return out


def _calib_options(opts: CompareOptions, label: str) -> CompareOptions:
    """``opts`` with the calibration / QAT folder and split of the model ``label``."""
    return dataclasses.replace(
        opts,
        calib_data=opts.calib_data_for.get(label, opts.calib_data),
        calib_split=opts.calib_split_for.get(label, opts.calib_split),
    )
