"""Video mode (YolactEdge): keyframes, FeatFlowNet on backbone features, feature warping.

``VideoSession(model, keyframes="fixed:5")`` (PyTorch) and ``OrtVideoSession(folder)``
(ONNX Runtime over the component graphs, no torch) are the per-stream objects;
``session(frame)`` returns :class:`~edgevision.results.InstanceMasks`. Names are resolved
lazily: importing this package imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FeatFlowNet": "edgevision.models.flow.featflownet",
    "AdaptiveKeyframes": "edgevision.video.keyframes",
    "FixedKeyframes": "edgevision.video.keyframes",
    "KeyframePolicy": "edgevision.video.keyframes",
    "parse_keyframes": "edgevision.video.keyframes",
    "FrameInfo": "edgevision.video.core",
    "StreamSession": "edgevision.video.core",
    "VideoSession": "edgevision.video.session",
    "TorchOps": "edgevision.video.session",
    "partial_features": "edgevision.video.session",
    "ComponentSet": "edgevision.video.ort",
    "OrtVideoSession": "edgevision.video.ort",
    "resize_flow": "edgevision.models.flow.warp",
}
# FeatFlowNet and the warp are model parts (``yolact_*(video=True)`` builds them), so they live
# in :mod:`edgevision.models.flow`; ``warp`` (the function) is imported from
# ``edgevision.models.flow.warp``.

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
