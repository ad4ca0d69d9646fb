"""Quantization-aware fine-tuning (QAT) -> QDQ ONNX that ONNX Runtime runs with INT8 kernels.

Recipe (checked on torch 2.13 CPU and ONNX Runtime 1.32):

1. Load the FP32 checkpoint; fold every BatchNorm into its conv
   (``torch.fx.experimental.optimization.fuse``, eval mode; transposed convolutions, which
   ``fuse`` skips and FX QAT cannot fuse, by :func:`fold_conv_transpose_bn`). Without this, FX QAT keeps
   Conv → Div → BatchNorm in the exported graph and ORT cannot fuse ``DQ → Conv → Q`` into
   ``QLinearConv``. Each ``Conv → ReLU6`` becomes ``Conv → ReLU`` whose output observer is
   capped at 6 (:func:`relu6_to_capped_relu`), so it fuses like ``Conv → ReLU``.
2. ``prepare_qat_fx`` with non-fused ``FakeQuantize`` modules: activations U8 per-tensor
   affine, weights S8 per-channel symmetric (the same types the static path uses; the default
   ``fused_moving_avg_obs_fake_quant`` op has no ONNX export). ``tensor (op) number`` gets
   its own output fake quant (:func:`unshare_scalar_arithmetic`).
3. Fine-tune with :class:`edgevision.train.trainer.Trainer` (short schedule, low LR) on the
   task's own training parts (:func:`qat_parts`: its augmented loader and loss), for any
   task; the task's adapter (:mod:`edgevision.export.qat`) decides how the model is traced
   and what the exported graph returns.
4. Freeze the observers and export with the TorchScript exporter: each fake quant becomes a
   ``QuantizeLinear``/``DequantizeLinear`` pair; ORT turns them into ``QLinearConv`` etc.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.ao.quantization import MovingAverageMinMaxObserver

from edgevision.checkpoint import load_model
from edgevision.config import ModelSpec
from edgevision.data.images import list_images, load_batch
from edgevision.errors import ConfigError, ExportError
from edgevision.export.onnx import deploy_module, export_onnx
from edgevision.quantize.config import QuantConfig
from edgevision.quantize.ptq import (
    QuantResult,
    _count_quant_ops,
    _finalize,
    drop_unused_initializers,
    output_error,
    run_all_outputs,
)
from edgevision.tasks import get_task
from edgevision.train.schedule import WarmupLR
from edgevision.train.trainer import HookBase, Trainer


@dataclass
class QATConfig:
    """Fine-tuning options of QAT.

    Attributes:
        epochs: epochs over the training split.
        lr: SGD learning rate (QAT starts from a trained model).
        batch_size: images per step.
        crop: training crop ``(H, W)``; ``None`` = the spec's input size.
        split: training split of the dataset folder.
        seed: augmentation / shuffling seed.
        schedule: ``"constant"`` LR, or ``"cosine"`` decay to 0 over the run.
        freeze_observers: after this many epochs stop updating the activation/weight
            ranges (the observers) and train the weights against fixed quantization grids
            (0: never; a common QAT recipe freezes them for the last epochs).
    """

    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 8
    crop: tuple[int, int] | None = None
    split: str = "train"
    seed: int = 0
    schedule: Literal["constant", "cosine"] = "constant"
    freeze_observers: int = 0

    def __post_init__(self) -> None:
        from edgevision.config import validate

        validate(self)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs and batch_size must be >= 1 and lr > 0")
        if self.freeze_observers < 0 or (
            self.freeze_observers and self.freeze_observers >= self.epochs
        ):
            raise ConfigError(
                f"freeze_observers must be 0 (never) or 1..{self.epochs - 1} (an epoch "
                f"before the last), got {self.freeze_observers}"
            )


def qconfig_mapping(cfg: QuantConfig) -> Any:
    """FX ``QConfigMapping`` with exportable fake quant of ``cfg``'s activation/weight types."""
    from torch.ao.quantization import (
        FakeQuantize,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        QConfig,
        QConfigMapping,
    )

    act_u8 = cfg.activation_type == "u8"
    act = FakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver,
        quant_min=0 if act_u8 else -128,
        quant_max=255 if act_u8 else 127,
        dtype=torch.quint8 if act_u8 else torch.qint8,
        qscheme=torch.per_tensor_affine,
        reduce_range=False,
    )
    per_channel = bool(cfg.per_channel)
    weight = FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver
        if per_channel
        else MovingAverageMinMaxObserver,
        quant_min=-128,
        quant_max=127,
        dtype=torch.qint8,
        qscheme=torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric,
        reduce_range=False,
        **({"ch_axis": 0} if per_channel else {}),
    )
    return QConfigMapping().set_global(QConfig(activation=act, weight=weight))


def _module_chains(
    gm: torch.fx.GraphModule, first: type[nn.Module], second: type[nn.Module]
) -> list[tuple[torch.fx.Node, torch.fx.Node]]:
    """``(a, b)`` node pairs of ``gm``: a ``second`` module called on the output of a
    ``first`` module that has no other user."""
    mods = dict(gm.named_modules())
    pairs = []
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(mods.get(node.target), second):
            continue
        prev = node.args[0] if node.args else None
        if (
            isinstance(prev, torch.fx.Node)
            and prev.op == "call_module"
            and isinstance(mods.get(prev.target), first)
            and len(prev.users) == 1
        ):
            pairs.append((prev, node))
    return pairs


def fold_conv_transpose_bn(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Fold each ``BatchNorm2d`` that directly follows a ``ConvTranspose2d`` (its only user)
    into the transposed convolution's weight and bias, in place; eval-mode statistics.

    ``torch.fx.experimental.optimization.fuse`` folds only ``Conv*d`` + BN, and FX QAT
    refuses the ConvTranspose + BN pattern, so decoders that upsample this way (ESPNet)
    need it.
    """
    mods = dict(gm.named_modules())
    changed = False
    for prev, node in _module_chains(gm, nn.ConvTranspose2d, nn.BatchNorm2d):
        conv, bn = mods[prev.target], mods[node.target]
        if conv.groups != 1 or bn.running_mean is None:
            continue
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
        with torch.no_grad():
            conv.weight.mul_(scale.view(1, -1, 1, 1))  # (in, out, kh, kw): out is dim 1
            new_bias = (bias - bn.running_mean) * scale + bn.bias.detach()
            conv.bias = nn.Parameter(new_bias)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        changed = True
    if changed:
        gm.graph.lint()
        gm.delete_all_unused_submodules()
        gm.recompile()
    return gm


class CappedMinMaxObserver(MovingAverageMinMaxObserver):  # type: ignore[misc]
    """Moving-average min/max observer whose maximum never exceeds ``cap``.

    The output fake quant of a ``Conv + ReLU`` that stands in for ``Conv + ReLU6``: the
    quantization grid ends at ``min(max, 6)``, so the fake quant clamps at 6 exactly as
    ReLU6 did, and the exported graph is ``Conv → Relu → Q`` (zero point 0), which ONNX
    Runtime fuses into one ``QLinearConv``.
    """

    def __init__(self, *args: Any, cap: float = 6.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = float(cap)

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        out = super().forward(x_orig)
        with torch.no_grad():
            self.max_val.clamp_(max=self.cap)
        return out


def relu6_to_capped_relu(gm: torch.fx.GraphModule) -> list[str]:
    """Replace each ``ReLU6`` module that directly follows a ``Conv2d`` (its only user) by
    ``ReLU``, in place; returns the qualified names of those convs (``prepare_qat_fx`` names
    each fused Conv + ReLU after its conv; :func:`cap_outputs` then caps their outputs).

    FX QAT has no Conv + ReLU6 fusion: it quantizes the conv output, then ReLU6 with shared
    quantization parameters, and the export reads ``Conv → Q → DQ → Clip → Q → DQ``, which
    ONNX Runtime cannot fuse (the MobileNetV2 models ran slower than FP32). ``Conv + ReLU``
    fuses; an output observer capped at 6 (:class:`CappedMinMaxObserver`) keeps ReLU6's clamp.
    """
    names: list[str] = []
    for prev, node in _module_chains(gm, nn.Conv2d, nn.ReLU6):
        parent, _, attr = str(node.target).rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, attr, nn.ReLU())
        names.append(str(prev.target))
    if names:
        gm.recompile()
    return names


def cap_outputs(prepared: torch.fx.GraphModule, convs: list[str], cap: float = 6.0) -> int:
    """Give the output fake quant of each (fused) module named in ``convs`` a
    :class:`CappedMinMaxObserver`, in place; returns how many were capped.

    Only output observers change: a conv's input observer (the network input, say) keeps
    the plain moving-average range.
    """
    from torch.ao.quantization import FakeQuantize

    mods = dict(prepared.named_modules())
    wanted, n = set(convs), 0
    for node in prepared.graph.nodes:
        if node.op != "call_module" or node.target not in wanted:
            continue
        for user in node.users:
            fq = mods.get(user.target) if user.op == "call_module" else None
            if not isinstance(fq, FakeQuantize):
                continue
            obs = fq.activation_post_process
            if isinstance(obs, CappedMinMaxObserver):
                continue
            fq.activation_post_process = CappedMinMaxObserver(
                averaging_constant=obs.averaging_constant,
                dtype=obs.dtype,
                qscheme=obs.qscheme,
                reduce_range=obs.reduce_range,
                quant_min=obs.quant_min,
                quant_max=obs.quant_max,
                cap=cap,
            )
            n += 1
    return n


_SCALAR_ARITHMETIC = frozenset(
    {operator.mul, operator.truediv, operator.add, operator.sub,
     torch.mul, torch.div, torch.add, torch.sub}
)  # fmt: skip
"""Ops that change a tensor's range when one operand is a number (``80 * sigmoid(x)``)."""


def unshare_scalar_arithmetic(prepared: torch.fx.GraphModule, cfg: QuantConfig) -> list[str]:
    """Give each ``tensor (op) number`` its own output fake quant, in place; returns the
    names of the output fake quants replaced.

    FX QAT makes the output of ``add``/``mul`` with one tensor operand and a number
    (positional or keyword) share its input's fake quant (one observer, one scale): right for torch's own quantized kernels, which derive
    the output scale from the input, but in a QDQ export both tensors then carry one scale
    that fits neither. FastDepthSeg's ``80 * sigmoid(x)`` quantized the sigmoid (0–1) with a
    step of 0.106, the scale of its depth output: a handful of levels.
    """
    from torch.ao.quantization import FakeQuantize

    make = qconfig_mapping(cfg).global_qconfig.activation
    done: list[str] = []
    for node in prepared.graph.nodes:
        if node.op != "call_function" or node.target not in _SCALAR_ARITHMETIC:
            continue
        operands = (*node.args, *node.kwargs.values())
        tensors = [a for a in operands if isinstance(a, torch.fx.Node)]
        if len(tensors) != 1 or not any(isinstance(a, (int, float)) for a in operands):
            continue  # tensor + tensor (ESPNet's sums, say) is not this case
        (src,) = tensors
        if src.op != "call_module":
            continue
        inp = prepared.get_submodule(str(src.target))
        for user in node.users:
            if user.op != "call_module":
                continue
            out = prepared.get_submodule(str(user.target))
            if isinstance(out, FakeQuantize) and out is inp:
                parent, _, attr = str(user.target).rpartition(".")
                setattr(prepared.get_submodule(parent) if parent else prepared, attr, make())
                done.append(str(user.target))
    return done


def prepare_qat(model: nn.Module, cfg: QuantConfig, input_size: tuple[int, int]) -> nn.Module:
    """FP32 model -> BN-folded, fake-quantized ``GraphModule`` ready for training.

    Raises:
        ConfigError: the model cannot be traced by torch.fx.
    """
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    from torch.fx.experimental.optimization import fuse

    example = torch.zeros(1, 3, *input_size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folded = fold_conv_transpose_bn(fuse(model.eval()))  # type: ignore[arg-type]
            convs = relu6_to_capped_relu(folded)
            prepared = prepare_qat_fx(folded, qconfig_mapping(cfg), (example,))
            cap_outputs(prepared, convs)
            unshare_scalar_arithmetic(prepared, cfg)
    except Exception as e:  # torch.fx raises assorted errors on untraceable code
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"QAT needs a torch.fx-traceable model: {first}") from None
    return prepared


def _compact(path: Path) -> None:
    """onnxslim (drops the exporter's Identity nodes), then fold weight quantization."""
    import onnx
    import onnxslim

    proto = onnxslim.slim(onnx.load(str(path)))
    scalarize_qdq_params(proto)
    fold_weight_quantize(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export_qdq(
    prepared: nn.Module, path: Path, spec: ModelSpec, output_names: Sequence[str] = ("logits",)
) -> None:
    """Freeze observers and export the fake-quantized model (or its task's deploy adapter,
    :mod:`edgevision.export.qat`) as QDQ ONNX (dynamic batch/H/W)."""
    from torch.ao.quantization import disable_observer

    prepared.eval()
    prepared.apply(disable_observer)
    dummy = torch.zeros(1, 3, *spec.input_size)
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                prepared,
                (dummy,),
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=["images"],
                output_names=list(output_names),
                dynamic_axes={"images": axes, **{n: dict(axes) for n in output_names}},
                do_constant_folding=True,
            )
    except Exception as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ExportError(f"QDQ export of the QAT model failed: {first}") from None


def scalarize_qdq_params(proto: Any) -> int:
    """Make one-element Q/DQ scales and zero points scalars (drop ``axis``), in place.

    torch's exporter writes per-tensor parameters as shape ``[1]``; ONNX Runtime's fused
    INT8 kernels (QLinearAveragePool, QLinearConcat, ...) want scalars and refuse the model
    otherwise ("Scale and Zero-point must be a scalar"). One element per tensor or per
    channel of a one-channel tensor is the same quantization either way. Returns the number
    of initializers changed.
    """
    from onnx import numpy_helper

    g = proto.graph
    inits = {i.name: i for i in g.initializer}
    done: set[str] = set()
    for n in g.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        params = [i for i in n.input[1:3] if i in inits]
        if not params or any(int(np.prod(inits[i].dims)) != 1 for i in params):
            continue
        for name in params:
            if name in done or len(inits[name].dims) == 0:
                continue
            arr = numpy_helper.to_array(inits[name]).reshape(())
            inits[name].CopyFrom(numpy_helper.from_array(arr, name))
            done.add(name)
        keep = [a for a in n.attribute if a.name != "axis"]
        del n.attribute[:]
        n.attribute.extend(keep)
    return len(done)


def fold_weight_quantize(proto: Any) -> int:
    """Replace ``QuantizeLinear`` of constant weights by their INT8 result, in place.

    The exporter writes FP32 weights followed by ``QuantizeLinear``; storing the quantized
    values instead (as ``quantize_static`` does) makes the file ~4× smaller and saves the
    quantization at load time. Rounding is half-to-even, as the ONNX operator specifies.
    Returns the number of folded nodes.
    """
    from onnx import numpy_helper

    g = proto.graph
    inits = {i.name: i for i in g.initializer}
    keep, folded = [], 0
    for n in g.node:
        if n.op_type == "QuantizeLinear" and len(n.input) == 3 and all(i in inits for i in n.input):
            w = numpy_helper.to_array(inits[n.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
            zp = numpy_helper.to_array(inits[n.input[2]])
            if scale.ndim == 1 and w.ndim > 1:
                axis = next((a.i for a in n.attribute if a.name == "axis"), 1) % w.ndim
                shape = [1] * w.ndim
                shape[axis] = -1
                scale, zpb = scale.reshape(shape), zp.reshape(shape).astype(np.float32)
            else:
                zpb = zp.astype(np.float32)
            info = np.iinfo(zp.dtype)
            q = np.clip(np.rint(w / scale) + zpb, info.min, info.max).astype(zp.dtype)
            g.initializer.append(numpy_helper.from_array(q, n.output[0]))
            folded += 1
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    drop_unused_initializers(proto)
    return folded


def qat_parts(model: nn.Module, data: str | os.PathLike[str], qcfg: QATConfig, out: Path) -> Any:
    """The training parts of ``model``'s task (:mod:`edgevision.tasks`) for QAT fine-tuning:
    the task's own data loader (augmentation included) and criterion on ``qcfg.split`` of
    ``data``, built for the architecture ``model.spec`` describes (e.g. a detector's anchors).

    Raises:
        ConfigError: dataset classes differ from the model's; ``crop`` for a task that
            trains on whole images.
        DataError: bad dataset.
    """
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    task = get_task(spec.task)
    cls = task.load("config")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in spec.model_kwargs.items() if k != "anchors"}
    fields: dict[str, Any] = {
        "model": spec.name,
        "model_kwargs": kwargs,
        "data": str(data),
        "train_split": qcfg.split,
        "val_split": "",
        "input_size": tuple(spec.input_size),
        "epochs": qcfg.epochs,
        "batch_size": qcfg.batch_size,
        "lr": qcfg.lr,
        "seed": qcfg.seed,
        "device": "cpu",
        "out": str(out),
    }
    if "crop" in names:
        fields["crop"] = tuple(qcfg.crop or spec.input_size)
    elif qcfg.crop is not None:
        raise ConfigError(f"crop: {task.title} models train on whole images (no --crop)")
    cfg = cls(**fields)
    parts = task.training_parts()(
        cfg, known_spec=spec, rank=0, world_size=1, progress=False, quiet=True
    )
    have = list(parts.model.spec.class_names)
    if have != list(spec.class_names):
        raise ConfigError(
            f"dataset classes {have} differ from the model's {list(spec.class_names)}"
        )
    return parts


def quantize_qat(
    checkpoint: str | os.PathLike[str] | nn.Module,
    out: str | os.PathLike[str],
    data: str | os.PathLike[str],
    config: QuantConfig | None = None,
    qat: QATConfig | None = None,
    *,
    check_images: int = 8,
    progress: bool = True,
) -> QuantResult:
    """Fine-tune ``checkpoint`` with fake quantization on ``data`` and write a QDQ ONNX.

    Any task: the data loader and loss are the task's own training parts
    (:func:`qat_parts`), and the task's QAT adapter (:mod:`edgevision.export.qat`) makes the
    exported file return what the FP32 export returns.

    Args:
        checkpoint: FP32 checkpoint (``.pt``/``.safetensors``) or an ``nn.Module`` with
            ``.spec``.
        out: destination ``.onnx`` (written atomically, with spec + quantization metadata).
        data: the task's training dataset folder (semantic: images + labels; detect and
            instance: COCO layout) holding ``qat.split``.
        config: types (activation/weight), per-channel; ``mode`` is set to ``"qat"``.
        qat: fine-tuning options.
        check_images: images of the split used to compare the result with FP32 (ORT).
        progress: per-epoch lines on stdout.

    Returns:
        A :class:`QuantResult` (``mode="qat"``).

    Raises:
        DataError: bad dataset; ConfigError: untraceable model / bad options;
        ExportError: export failed; CheckpointError: unreadable checkpoint.
    """
    cfg = dataclasses.replace(config or QuantConfig(), mode="qat")
    qcfg = qat or QATConfig()
    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"output must end in .onnx, got {out}")
    if cfg.precision or cfg.default_precision != "int8":
        raise ConfigError("--precision is not supported with --mode qat (all layers INT8)")
    if isinstance(checkpoint, nn.Module):
        model = checkpoint
    elif Path(str(checkpoint)).suffix.lower() == ".onnx":
        raise ConfigError("QAT starts from a checkpoint (.pt/.safetensors), not an ONNX file")
    else:
        model = load_model(str(checkpoint))
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    deploy = get_task(spec.task).load("qat_deploy")

    with tempfile.TemporaryDirectory(prefix="edgevision-qat-") as td:
        work = Path(td)
        parts = qat_parts(model, data, qcfg, work / "run")
        fp32_path = work / "fp32.onnx"
        export_onnx(model, fp32_path)  # reference for the check and the size
        output_names = deploy_module(model)[1]  # the QDQ file names its outputs alike
        model = copy.deepcopy(model)  # tracing set-up must not change the caller's model
        deploy.before_trace(model)
        prepared = prepare_qat(model, cfg, spec.input_size)
        optimizer = torch.optim.SGD(prepared.parameters(), lr=qcfg.lr, momentum=0.9)

        freeze_at = qcfg.freeze_observers

        class _Log(HookBase):
            def after_epoch(self) -> None:
                if freeze_at and self.trainer.epoch + 1 == freeze_at:
                    prepared.apply(torch.ao.quantization.disable_observer)
                if progress:
                    t = self.trainer
                    print(
                        f"qat epoch {t.epoch + 1}/{t.max_epochs}  loss {t.storage['loss']:.4f}",
                        flush=True,
                    )

        scheduler = WarmupLR(
            optimizer,
            total_iters=qcfg.epochs * len(parts.loader),
            warmup_iters=0,
            mode=qcfg.schedule,
        )
        trainer = Trainer(
            prepared,
            optimizer,
            parts.loader,
            parts.criterion,
            scheduler=scheduler,
            hooks=[_Log()],
            max_epochs=qcfg.epochs,
        )
        trainer.train()
        tmp_q = work / "qat.onnx"
        export_qdq(deploy(prepared, model), tmp_q, spec, output_names)
        _compact(tmp_q)

        files = list_images(data, qcfg.split)[: max(1, check_images)]
        batch = load_batch(files, spec)
        ref, got = run_all_outputs(fp32_path, batch), run_all_outputs(tmp_q, batch)
        error = output_error(ref[0], got[0]) if len(ref) == 1 else output_error(ref, got)
        record: dict[str, Any] = {
            "mode": "qat",
            "method": "fake-quant (torch.ao FX, moving-average min/max)",
            "calib_size": 0,
            "activation_type": cfg.activation_type,
            "weight_type": "s8",
            "per_channel": cfg.per_channel,
            "precision": {"(other)": "int8"},
            "qat": {**asdict(qcfg), "steps": trainer.iter, "data": str(data)},
            "check": {"images": len(batch), **error},
            "tool": "torch.ao.quantization + torch.onnx",
        }
        _finalize(tmp_q, out, spec, "int8", record)
        total, qops = _count_quant_ops(out)
        return QuantResult(
            path=str(out),
            model=spec.name,
            mode="qat",
            config=asdict(cfg),
            precision={"(other)": "int8"},
            nodes={"total": total, "quantized_ops": qops, "excluded": 0},
            size_mb=out.stat().st_size / 2**20,
            fp32_size_mb=fp32_path.stat().st_size / 2**20,
            error=error,
            seconds=time.perf_counter() - t0,
        )


__all__ = [
    "CappedMinMaxObserver",
    "QATConfig",
    "cap_outputs",
    "export_qdq",
    "prepare_qat",
    "qat_parts",
    "qconfig_mapping",
    "quantize_qat",
    "relu6_to_capped_relu",
    "unshare_scalar_arithmetic",
]
