"""Video mode (YolactEdge): keyframes, FeatFlowNet on backbone features, feature warping.

``VideoSession(model, keyframes="fixed:5")`` is the per-stream object; ``session(frame)``
returns :class:`~edgevision.results.InstanceMasks`. Importing this package imports torch.
"""

from edgevision.video.featflownet import FeatFlowNet
from edgevision.video.keyframes import (
    AdaptiveKeyframes,
    FixedKeyframes,
    KeyframePolicy,
    parse_keyframes,
)
from edgevision.video.session import FrameInfo, VideoSession, partial_features
from edgevision.video.warp import resize_flow, warp

__all__ = [
    "AdaptiveKeyframes",
    "FeatFlowNet",
    "FixedKeyframes",
    "FrameInfo",
    "KeyframePolicy",
    "VideoSession",
    "parse_keyframes",
    "partial_features",
    "resize_flow",
    "warp",
]
