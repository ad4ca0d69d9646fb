"""Dataset readers and the synthetic data generator (numpy + OpenCV; no torch).

Readers return the shared result types of :mod:`edgevision.results` as targets:

* :class:`SemanticFolder` / :class:`CityscapesFolder` -> ``SemanticSample`` (image + mask)
* :class:`CocoDataset` -> ``CocoSample`` with :class:`~edgevision.results.InstanceMasks`
* :class:`YoloFolder` -> ``YoloSample`` with :class:`~edgevision.results.Detections`
* :func:`load_detection_split` -> a detection split as COCO boxes, from a COCO or YOLO-txt
  folder or a dataset YAML (the Ultralytics ``data.yaml`` shape); :func:`open_semantic`
  -> the semantic reader of a folder (edgevision layout or Cityscapes)
* :class:`YtvisDataset` -> ``VideoSample`` (per-frame ``InstanceMasks`` + track ids)
* :class:`FlowPairs` -> ``FlowSample`` (frame pair + ground-truth flow)

Splits may hold whole street sequences out (``train-0006R0``, ``train:0006R0``;
:mod:`edgevision.data.sequences`, with the leave-one-sequence-out folds).

and :func:`edgevision.data.synth.generate` writes a synthetic dataset in the same layout.
Names are imported lazily, so ``import edgevision.data`` is cheap.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.data.semantic": (
        "SemanticFolder",
        "SemanticSample",
        "CityscapesFolder",
        "CAMVID_CLASSES",
        "CITYSCAPES_CLASSES",
        "CITYSCAPES_LABELID_TO_TRAINID",
        "PRESETS",
        "class_pixel_counts",
        "labelids_to_trainids",
        "open_semantic",
        "is_cityscapes",
    ),
    "edgevision.data.sequences": (
        "SequenceFold",
        "SplitSelector",
        "parse_split",
        "sequence_folds",
        "sequence_of",
        "split_sequences",
    ),
    "edgevision.data.coco": ("CocoDataset", "CocoSample", "coco_layout", "decode_segmentation"),
    "edgevision.data.yolo": ("YoloFolder", "YoloSample"),
    "edgevision.data.detection": ("DetectionSplit", "load_detection_split"),
    "edgevision.data.ytvis": ("YtvisDataset", "VideoSample", "ytvis_layout"),
    "edgevision.data.flow": ("FlowPairs", "FlowSample", "read_flow", "write_flow", "warp_backward"),
    "edgevision.data.synth": ("SynthConfig", "SynthSummary", "generate"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
