"""One :class:`TaskDef` per task: the only place that compares task names.

A task (``semantic``, ``detect``, ``instance``, ``panoptic``, ``depthseg``) decides what a model's output means, how it is
trained, scored and quantized. Everything that differs between tasks is a field here, so the
rest of the package asks the table (``get_task(spec.task).dense``) instead of comparing
strings. Code references are lazy ``"module:attr"`` strings resolved by :meth:`TaskDef.load`:
importing this module imports nothing else (the runtime uses it without torch).

The CLI accepts aliases (``det``, ``detection``, ``seg``, ``segmentation``, ``inst``); they are
mapped here, by :func:`get_task`, and nowhere else.

Adding a task: add a :class:`TaskDef` to :data:`TASKS` (its config class, training parts,
headline metric, postprocessing and how a quantized model is checked), the name to
:data:`edgevision.config.Task`, and tests under ``tests/`` for each part.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from edgevision.errors import ConfigError

__all__ = ["TASKS", "TaskDef", "get_task", "task_names"]


@dataclass(frozen=True)
class TaskDef:
    """Everything that differs between tasks.

    Attributes:
        name: canonical name, as stored in :attr:`ModelSpec.task`.
        title: human-readable name ("semantic segmentation").
        aliases: other names the CLI accepts.
        config: ``"module:Class"`` of the training config dataclass.
        parts: ``"module:function"`` building the training parts for the one loop
            (:func:`edgevision.train.run.train`): model, data, criterion, optimizer,
            schedule and evaluation hook; ``""`` where the task has no training parts yet
            (``edgevision train`` then refuses it with a one-line error).
        after_training: ``"module:function"`` run after the loop (e.g. YOLACT's FeatFlowNet
            stage), or ``""``.
        metric: ``trainer.storage`` key of the headline validation metric (selects
            ``best.pt``).
        metric_label: how tables and messages name it ("mIoU").
        eval_headline: name of the headline of ``edgevision eval``
            (:attr:`~edgevision.evaluate.api.EvalReport.headline`): ``miou``, ``box_ap``
            (COCO AP of boxes), ``mask_ap`` or ``pq`` (panoptic quality, where the data has
            panoptic truth; mIoU otherwise).
        higher_is_better: direction of the headline metric.
        result_type: name of the task's result class in :mod:`edgevision.results`.
        postprocess: default numpy postprocessor name (:mod:`edgevision.postprocess`).
        output_names: ONNX output names of a model exported without an adapter.
        dense: one class per pixel (scored by mIoU on label images).
        coco_types: COCO evaluation types (``("bbox",)``, ``("bbox", "segm")``); empty
            for dense tasks.
        scored: results carry per-object scores, so a score threshold (``--conf``) applies.
        video: has a video mode (keyframes + feature/result propagation).
        weak: can be trained from semantic labels only (``train --weak``).
        qat_deploy: ``"module:Class"`` of the task's QAT adapter (how the model is traced
            for quantization-aware training and what its exported graph returns).
        quant_proxy: the quantization accuracy check may use the label-free proxy (share
            of changed argmax pixels against FP32); otherwise a quantized model is checked
            on labelled data (AP points).
        extra_eval: ``"module:function"`` adding task metrics to ``edgevision eval`` of a
            dense task on data that has the extra truth (panoptic PNGs, depth maps), or
            ``""``. Called as ``fn(root, split, spec)``, it returns ``None`` when the folder
            has no such truth, else a scorer with ``add(name, result)`` (each sample, in the
            same pass as mIoU) and ``summarize() -> dict`` (merged into the metrics).
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    config: str
    parts: str
    metric: str
    metric_label: str
    eval_headline: str
    result_type: str
    postprocess: str
    output_names: tuple[str, ...] = ("predictions",)
    after_training: str = ""
    higher_is_better: bool = True
    dense: bool = False
    coco_types: tuple[str, ...] = field(default_factory=tuple)
    scored: bool = False
    video: bool = False
    weak: bool = False
    qat_deploy: str = "edgevision.export.qat:QatDeploy"
    quant_proxy: bool = False
    extra_eval: str = ""

    def load(self, which: str) -> Any:
        """Import and return the object a reference field names (``"config"``, ``"parts"``
        ...); ``None`` when the field is empty."""
        ref = getattr(self, which)
        if not ref:
            return None
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def training_parts(self) -> Any:
        """The task's ``build_parts`` function (:attr:`parts`).

        Raises:
            ConfigError: the task has no training parts yet.
        """
        build = self.load("parts")
        if build is None:
            raise ConfigError(
                f"task '{self.name}' ({self.title}) cannot be trained by edgevision yet: it "
                "has no training parts; export, evaluate, quantize (PTQ) and run a model of "
                "it instead"
            )
        return build

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` is better than ``b``."""
        return a > b if self.higher_is_better else a < b


TASKS: dict[str, TaskDef] = {
    t.name: t
    for t in (
        TaskDef(
            name="semantic",
            title="semantic segmentation",
            aliases=("seg", "segmentation"),
            config="edgevision.train.config:TrainConfig",
            parts="edgevision.train.semantic:build_parts",
            metric="miou",
            metric_label="mIoU",
            eval_headline="miou",
            result_type="SemanticMask",
            postprocess="semantic_argmax",
            output_names=("logits",),
            dense=True,
            quant_proxy=True,
        ),
        TaskDef(
            name="detect",
            title="object detection",
            aliases=("det", "detection"),
            config="edgevision.train.detection:DetTrainConfig",
            parts="edgevision.train.detection:build_parts",
            metric="ap50",
            metric_label="AP50",
            eval_headline="box_ap",
            result_type="Detections",
            postprocess="yolo",
            coco_types=("bbox",),
            scored=True,
            qat_deploy="edgevision.export.qat:YoloQatDeploy",
        ),
        TaskDef(
            name="instance",
            title="instance segmentation",
            aliases=("inst", "instance_segmentation"),
            config="edgevision.train.instance:InstanceTrainConfig",
            parts="edgevision.train.instance:build_parts",
            after_training="edgevision.train.video:after_training",
            metric="mask_ap",
            metric_label="mask AP",
            eval_headline="mask_ap",
            result_type="InstanceMasks",
            postprocess="yolact",
            coco_types=("bbox", "segm"),
            scored=True,
            video=True,
            weak=True,
            qat_deploy="edgevision.export.qat:YolactQatDeploy",
        ),
        TaskDef(
            name="panoptic",
            title="panoptic segmentation",
            aliases=("pan", "panoptic_segmentation"),
            config="edgevision.train.config:TrainConfig",
            parts="edgevision.train.dense_multi:build_panoptic_parts",
            metric="miou",  # best.pt by mIoU of the class logits; PQ is eval's headline
            metric_label="mIoU",
            eval_headline="pq",
            result_type="PanopticMask",
            postprocess="panoptic_fusion",
            output_names=("logits", "center", "offset"),
            dense=True,
            quant_proxy=True,
            extra_eval="edgevision.evaluate.panoptic:evaluate_panoptic_folder",
        ),
        TaskDef(
            name="depthseg",
            title="depth estimation and semantic segmentation",
            aliases=("depth_seg", "depth_segmentation"),
            config="edgevision.train.config:TrainConfig",
            parts="edgevision.train.dense_multi:build_depthseg_parts",
            metric="miou",
            metric_label="mIoU",
            eval_headline="miou",
            result_type="DepthSegMask",
            postprocess="depthseg",
            output_names=("logits", "depth"),
            dense=True,
            quant_proxy=True,
            extra_eval="edgevision.evaluate.depth:evaluate_depth_folder",
        ),
    )
}
"""The task table, by canonical name."""

_ALIASES: dict[str, str] = {a: t.name for t in TASKS.values() for a in (t.name, *t.aliases)}


def task_names() -> list[str]:
    """Canonical task names."""
    return list(TASKS)


def get_task(name: str | TaskDef) -> TaskDef:
    """The :class:`TaskDef` of a task name or alias (case-insensitive).

    Raises:
        ConfigError: unknown name (the message lists the tasks).
    """
    if isinstance(name, TaskDef):
        return name
    key = _ALIASES.get(str(name).strip().lower())
    if key is None:
        raise ConfigError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[key]
