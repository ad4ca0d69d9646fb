"""YolactEdge video mode in PyTorch: :class:`VideoSession` = the shared algorithm of
:mod:`edgevision.video.core` over :class:`TorchOps` (the model's own modules).

See :mod:`edgevision.video.core` for what runs on keyframes and non-keyframes; the ONNX
Runtime counterpart (component graphs, per-component precision, no torch) is
:class:`edgevision.video.ort.OrtVideoSession`.

Usage::

    session = VideoSession(model, keyframes="fixed:5")   # or "adaptive", or a policy object
    for frame in frames:                                 # (H, W, 3) uint8 RGB
        masks = session(frame)                           # InstanceMasks, original pixels
        info = session.last                              # FrameInfo: keyframe?, ms per stage
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from edgevision.errors import ConfigError
from edgevision.models.flow.warp import resize_flow, warp
from edgevision.results import InstanceMasks
from edgevision.video.core import FrameInfo, StreamSession
from edgevision.video.keyframes import KeyframePolicy

__all__ = ["FrameInfo", "TorchOps", "VideoSession", "partial_features"]


def partial_features(
    model: Any,
    key: Any,
    c3: torch.Tensor,
    flows: list[torch.Tensor],
) -> list[torch.Tensor]:
    """Pyramid ``[P3 … P7]`` of a non-keyframe from its C3 and the warped keyframe features
    (the differentiable form used to train FeatFlowNet).

    Args:
        model: a :class:`~edgevision.models.instance.yolact.Yolact`.
        key: keyframe features with ``t4``, ``p4``, ``p5`` (attributes or keys).
        c3: current ``(N, C3, h, w)``.
        flows: ``[flow8, flow16, flow32]`` from FeatFlowNet (current -> keyframe).
    """
    get = (lambda k: key[k]) if isinstance(key, dict) else (lambda k: getattr(key, k))
    t4 = warp(get("t4"), flows[1])
    p4 = warp(get("p4"), flows[1])
    p5 = warp(get("p5"), flows[2])
    p3 = model.fpn.p3_from(c3, t4)
    return [p3, p4, p5, *model.fpn.extra(p5)]


class TorchOps:
    """:class:`~edgevision.video.core.VideoOps` over a torch YOLACT's modules."""

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.m: Any = model
        self.device = torch.device(device)

    def to_input(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(self.device)

    def lower(self, x: torch.Tensor) -> torch.Tensor:
        return self.m.lower(x)

    def upper(self, c3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c4, c5 = self.m.upper(c3)
        return c4, c5

    def fpn(self, c3: Any, c4: Any, c5: Any) -> tuple[list[torch.Tensor], torch.Tensor]:
        f = self.m.fpn
        t3, t4, t5 = f.top_down(c3, c4, c5)
        p3, p4, p5 = (f.smooth_level(i, t) for i, t in enumerate((t3, t4, t5)))
        return [p3, p4, p5, *f.extra(p5)], t4

    def p3_from(self, c3: torch.Tensor, t4: torch.Tensor) -> torch.Tensor:
        return self.m.fpn.p3_from(c3, t4)

    def extra(self, p5: torch.Tensor) -> list[torch.Tensor]:
        return list(self.m.fpn.extra(p5))

    def protonet(self, p3: torch.Tensor) -> torch.Tensor:
        return self.m.protonet(p3)

    def head(self, p: torch.Tensor) -> tuple[Any, Any, Any]:
        loc, conf, coef = self.m.head(p)
        return loc, conf, coef

    def flownet(self, key_c3: torch.Tensor, cur_c3: torch.Tensor) -> list[torch.Tensor]:
        return list(self.m.flownet(key_c3, cur_c3))

    def warp(self, feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return warp(feat, flow)

    def warp_protos(self, protos: torch.Tensor, flow8: torch.Tensor) -> torch.Tensor:
        kp = protos.permute(0, 3, 1, 2)
        return warp(kp, resize_flow(flow8, kp.shape[-2:])).permute(0, 2, 3, 1)

    def motion(self, flow8: torch.Tensor) -> float:
        return float(flow8.norm(dim=1).mean())

    def flow_numpy(self, flow8: torch.Tensor) -> np.ndarray:
        return flow8[0].detach().cpu().numpy()

    def outputs(self, heads: list[tuple[Any, Any, Any]], protos: Any) -> list[np.ndarray]:
        locs, confs, coefs = zip(*heads)
        outs = [
            torch.cat(locs, 1).cpu().numpy(),
            torch.cat(confs, 1).softmax(-1).cpu().numpy(),
            torch.cat(coefs, 1).cpu().numpy(),
        ]
        return outs if protos is None else [*outs, protos.cpu().numpy()]


class VideoSession(StreamSession):
    """Per-stream YolactEdge inference in PyTorch: ``session(frame) -> InstanceMasks``.

    Args:
        model: a ``yolact_*`` model with a FeatFlowNet (``video=True``) and ``.spec``.
        keyframes: policy or its text form: ``"fixed:5"`` (default), ``"adaptive"``,
            ``"adaptive:10"``, ``"none"`` (every frame a keyframe = per-frame mode).
        reuse_protos: warp the keyframe's prototypes instead of running ProtoNet on
            non-keyframes.
        propagate: warp the keyframe's final masks on non-keyframes
            (:mod:`edgevision.video.propagate`).
        device: torch device.
        **post_kwargs: passed to :func:`~edgevision.postprocess.yolact.yolact_postprocess`
            (``conf_threshold``, ``iou_threshold``, ``max_det``, ``masks`` ...).

    Raises:
        ConfigError: the model is not a YOLACT, or has no FeatFlowNet while the policy
            needs one.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        keyframes: str | KeyframePolicy = "fixed:5",
        reuse_protos: bool = False,
        propagate: bool | str = False,
        device: str | torch.device = "cpu",
        **post_kwargs: Any,
    ) -> None:
        if not all(hasattr(model, a) for a in ("lower", "upper", "fpn", "protonet", "head")):
            raise ConfigError("video mode needs a yolact_* model")
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        super().__init__(
            TorchOps(self.model, device),
            model.spec,
            keyframes=keyframes,
            has_flow=getattr(model, "flownet", None) is not None,
            reuse_protos=reuse_protos,
            propagate=propagate,
            **post_kwargs,
        )

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> InstanceMasks:
        return super().__call__(frame)
