"""Video mode (YolactEdge): keyframes, FeatFlowNet on backbone features, feature warping.

``VideoSession(model, keyframes="fixed:5")`` (PyTorch) and ``OrtVideoSession(folder)``
(ONNX Runtime over the component graphs, no torch; ``precision="adaptive"`` with
``engines=[mixed_folder, int8_folder]`` picks the engine per frame) are the per-stream objects;
``session(frame)`` returns :class:`~edgevision.results.InstanceMasks`. Names are resolved
lazily: importing this package imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.models.flow.featflownet": ("FeatFlowNet",),
    "edgevision.video.keyframes": (
        "AdaptiveKeyframes",
        "FixedKeyframes",
        "KeyframePolicy",
        "parse_keyframes",
    ),
    "edgevision.video.core": ("FrameInfo", "StreamSession"),
    "edgevision.video.modes": ("PER_FRAME", "VideoMode", "default_mode", "resolve_mode"),
    "edgevision.video.precision": (
        "AdaptivePrecision",
        "FixedPrecision",
        "PrecisionPolicy",
        "parse_precision",
    ),
    "edgevision.video.redetect": ("Redetect", "parse_propagate"),
    "edgevision.video.session": ("VideoSession", "TorchOps", "partial_features"),
    "edgevision.video.ort": ("ComponentSet", "OrtVideoSession"),
    "edgevision.models.flow.warp": ("resize_flow",),
}
# FeatFlowNet and the warp are model parts (``yolact_*(video=True)`` builds them), so they live
# in :mod:`edgevision.models.flow`; ``warp`` (the function) is imported from
# ``edgevision.models.flow.warp``.

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
