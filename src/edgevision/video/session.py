"""YolactEdge video mode: one :class:`VideoSession` per stream holds the keyframe state.

On a **keyframe** the full YOLACT runs and the session keeps the keyframe's C3, the top-down
FPN feature T4, the smoothed P4/P5 and the prototypes. On a **non-keyframe** only the cheap
part runs (YolactEdge's *partial feature transform*):

1. backbone up to C3 (stride 8) on the current frame;
2. FeatFlowNet on (keyframe C3, current C3) -> flows at strides 8/16/32;
3. T4, P4 warped with the stride-16 flow and P5 with the stride-32 flow;
4. P3 = smooth(lateral(C3) + up(warped T4)); P6/P7 from the warped P5;
5. the prediction head on P3 … P7;
6. prototypes: recomputed by ProtoNet from the new P3 (default, as in YolactEdge), or
   **warped** from the keyframe with the stride-8 flow upsampled to 1/4
   (``reuse_protos=True``, our addition: faster, but on the synthetic videos it costs mask
   AP because the flow of frames several steps apart is under-estimated; see
   ``docs/results/``).

The backbone's upper stages (C4, C5) and the FPN's C4/C5 laterals (and, with
``reuse_protos=True``, ProtoNet) do not run on non-keyframes. A frame-size change or :meth:`VideoSession.reset` starts a new keyframe.

Usage::

    session = VideoSession(model, keyframes="fixed:5")   # or "adaptive", or a policy object
    for frame in frames:                                 # (H, W, 3) uint8 RGB
        masks = session(frame)                           # InstanceMasks, original pixels
        info = session.last                              # FrameInfo: keyframe?, ms per stage
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from edgevision.config import ModelSpec
from edgevision.errors import ConfigError
from edgevision.postprocess.yolact import yolact_postprocess
from edgevision.preprocess import preprocess
from edgevision.results import InstanceMasks
from edgevision.video.keyframes import KeyframePolicy, parse_keyframes
from edgevision.video.warp import resize_flow, warp

__all__ = ["FrameInfo", "VideoSession", "partial_features"]


@dataclass
class FrameInfo:
    """What the session did for one frame.

    Attributes:
        index: frame number in the stream (0-based).
        keyframe: the full network ran.
        promoted: a non-keyframe turned into a keyframe by the policy after its flow.
        motion: mean flow magnitude / shorter input side (non-keyframes), else ``None``.
        ms: milliseconds per stage (``preprocess``, ``backbone_lower``, ``backbone_upper``,
            ``fpn``, ``flow``, ``warp``, ``protonet``, ``head``, ``postprocess``).
    """

    index: int
    keyframe: bool
    promoted: bool = False
    motion: float | None = None
    ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return float(sum(self.ms.values()))


@dataclass
class _KeyState:
    size: tuple[int, int]
    c3: torch.Tensor
    t4: torch.Tensor
    p4: torch.Tensor
    p5: torch.Tensor
    protos: torch.Tensor  # (N, h, w, k)


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._t) * 1e3
        self._t = now


def partial_features(
    model: Any,
    key: _KeyState | dict[str, torch.Tensor],
    c3: torch.Tensor,
    flows: list[torch.Tensor],
) -> list[torch.Tensor]:
    """Pyramid ``[P3 … P7]`` of a non-keyframe from its C3 and the warped keyframe features.

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


class VideoSession:
    """Per-stream YolactEdge inference (torch): ``session(frame) -> InstanceMasks``.

    Args:
        model: a ``yolact_*`` model with a FeatFlowNet (``video=True``) and ``.spec``.
        keyframes: policy or its text form: ``"fixed:5"`` (default), ``"adaptive"``,
            ``"adaptive:10"``, ``"none"`` (every frame a keyframe = per-frame mode).
        reuse_protos: warp the keyframe's prototypes instead of running ProtoNet on
            non-keyframes.
        device: torch device.
        **post_kwargs: passed to :func:`~edgevision.postprocess.yolact.yolact_postprocess`
            (``conf_threshold``, ``iou_threshold``, ``max_det``, ``masks`` ...).

    Attributes:
        last: :class:`FrameInfo` of the latest frame.
        counts: how often each stage ran (``Counter``), e.g. ``counts["backbone_upper"]``.

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
        device: str | torch.device = "cpu",
        **post_kwargs: Any,
    ) -> None:
        if not all(hasattr(model, a) for a in ("lower", "upper", "fpn", "protonet", "head")):
            raise ConfigError("video mode needs a yolact_* model")
        self.policy = parse_keyframes(keyframes)
        per_frame = type(self.policy) is KeyframePolicy or (
            getattr(self.policy, "interval", 0) == 1
        )
        if getattr(model, "flownet", None) is None and not per_frame:
            raise ConfigError(
                "this model has no FeatFlowNet (built without video=True or trained without "
                "flow): video mode needs one; use keyframes='none' for per-frame mode"
            )
        self.model = model.eval().to(device)
        self.spec: ModelSpec = model.spec  # type: ignore[assignment]
        self.device = torch.device(device)
        self.reuse_protos = reuse_protos
        self.post_kwargs = post_kwargs
        self.counts: Counter[str] = Counter()
        self.last: FrameInfo | None = None
        self._key: _KeyState | None = None
        self._since_key = 0
        self._index = 0

    def reset(self) -> None:
        """Drop the keyframe (the next frame is a keyframe) and the policy's memory."""
        self._key = None
        self._since_key = 0
        self.policy.reset()

    @property
    def keyframe_state(self) -> bool:
        """Whether a keyframe is held."""
        return self._key is not None

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> InstanceMasks:
        """Process one ``(H, W, 3)`` uint8 RGB frame; returns masks in its pixels."""
        tm = _Timer()
        x_np, transforms = preprocess([frame], self.spec)
        x = torch.from_numpy(x_np).to(self.device)
        tm.lap("preprocess")
        size = tuple(np.asarray(frame).shape[:2])
        if self._key is not None and self._key.size != size:
            self.reset()
        m: Any = self.model
        c3 = m.lower(x)
        self.counts["backbone_lower"] += 1
        tm.lap("backbone_lower")
        keyframe = self._key is None or self.policy.wants_keyframe(self._since_key)
        promoted, motion = False, None
        pyr: list[torch.Tensor] | None = None
        protos: torch.Tensor | None = None
        if not keyframe:
            assert self._key is not None
            flows = m.flownet(self._key.c3, c3)
            self.counts["flow"] += 1
            tm.lap("flow")
            f8 = flows[0]
            motion = float(f8.norm(dim=1).mean()) * 8.0 / float(min(x.shape[-2:]))
            if self.policy.promote(self._since_key + 1, motion):
                keyframe, promoted = True, True
            else:
                pyr = partial_features(m, self._key, c3, flows)
                self.counts["warp"] += 1
                if self.reuse_protos:
                    kp = self._key.protos.permute(0, 3, 1, 2)
                    protos = warp(kp, resize_flow(f8, kp.shape[-2:])).permute(0, 2, 3, 1)
                tm.lap("warp")
        if keyframe:
            c4, c5 = m.upper(c3)
            self.counts["backbone_upper"] += 1
            tm.lap("backbone_upper")
            t3, t4, t5 = m.fpn.top_down(c3, c4, c5)
            p3, p4, p5 = (m.fpn.smooth_level(i, t) for i, t in enumerate((t3, t4, t5)))
            pyr = [p3, p4, p5, *m.fpn.extra(p5)]
            self.counts["fpn"] += 1
            tm.lap("fpn")
        assert pyr is not None
        if protos is None:
            protos = m.protonet(pyr[0])
            self.counts["protonet"] += 1
            tm.lap("protonet")
        if keyframe:
            self._key = _KeyState(size, c3, t4, p4, p5, protos)  # type: ignore[arg-type]
            self._since_key = 0
        else:
            self._since_key += 1
        locs, confs, coefs = zip(*(m.head(p) for p in pyr))
        self.counts["head"] += 1
        outs = [
            torch.cat(locs, 1).cpu().numpy(),
            torch.cat(confs, 1).softmax(-1).cpu().numpy(),
            torch.cat(coefs, 1).cpu().numpy(),
            protos.cpu().numpy(),
        ]
        tm.lap("head")
        res = yolact_postprocess(outs, self.spec, transforms, **self.post_kwargs)[0]
        tm.lap("postprocess")
        self.policy.observe(keyframe, res)
        self.counts["keyframes" if keyframe else "non_keyframes"] += 1
        self.last = FrameInfo(self._index, keyframe, promoted, motion, tm.ms)
        self._index += 1
        return res  # type: ignore[return-value]
