"""Dataset readers and the synthetic data generator (numpy + OpenCV; no torch).

Readers return the shared result types of :mod:`edgevision.results` as targets:

* :class:`SemanticFolder` / :class:`CityscapesFolder` -> ``SemanticSample`` (image + mask)
* :class:`CocoDataset` -> ``CocoSample`` with :class:`~edgevision.results.InstanceMasks`
* :class:`YoloFolder` -> ``YoloSample`` with :class:`~edgevision.results.Detections`
* :class:`YtvisDataset` -> ``VideoSample`` (per-frame ``InstanceMasks`` + track ids)
* :class:`FlowPairs` -> ``FlowSample`` (frame pair + ground-truth flow)

and :func:`edgevision.data.synth.generate` writes a synthetic dataset in the same layout.
Names are imported lazily, so ``import edgevision.data`` is cheap.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "SemanticFolder": "edgevision.data.semantic",
    "SemanticSample": "edgevision.data.semantic",
    "CityscapesFolder": "edgevision.data.semantic",
    "CAMVID_CLASSES": "edgevision.data.semantic",
    "CITYSCAPES_CLASSES": "edgevision.data.semantic",
    "CITYSCAPES_LABELID_TO_TRAINID": "edgevision.data.semantic",
    "PRESETS": "edgevision.data.semantic",
    "class_pixel_counts": "edgevision.data.semantic",
    "labelids_to_trainids": "edgevision.data.semantic",
    "CocoDataset": "edgevision.data.coco",
    "CocoSample": "edgevision.data.coco",
    "coco_layout": "edgevision.data.coco",
    "decode_segmentation": "edgevision.data.coco",
    "YoloFolder": "edgevision.data.yolo",
    "YoloSample": "edgevision.data.yolo",
    "YtvisDataset": "edgevision.data.ytvis",
    "VideoSample": "edgevision.data.ytvis",
    "ytvis_layout": "edgevision.data.ytvis",
    "FlowPairs": "edgevision.data.flow",
    "FlowSample": "edgevision.data.flow",
    "read_flow": "edgevision.data.flow",
    "write_flow": "edgevision.data.flow",
    "warp_backward": "edgevision.data.flow",
    "SynthConfig": "edgevision.data.synth",
    "SynthSummary": "edgevision.data.synth",
    "generate": "edgevision.data.synth",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
