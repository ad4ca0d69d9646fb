"""The YolactEdge video-mode algorithm, written once over an ops backend (no torch here).

:class:`StreamSession` holds one stream's keyframe state and runs, per frame, the full
network on keyframes and the partial feature transform on the others; the arithmetic is
delegated to a :class:`VideoOps` backend — PyTorch (:class:`edgevision.video.session.TorchOps`)
or ONNX Runtime over the component graphs (:class:`edgevision.video.ort.OrtOps`), so both
run the same schedule and report the same stages.

On a **keyframe** the full YOLACT runs and the session keeps the keyframe's C3, the top-down
FPN feature T4, the smoothed P4/P5 and the prototypes. On a **non-keyframe**:

1. backbone up to C3 (stride 8) on the current frame;
2. FeatFlowNet on (keyframe C3, current C3) -> flows at strides 8/16/32;
3. T4, P4 warped with the stride-16 flow and P5 with the stride-32 flow;
4. P3 = smooth(lateral(C3) + up(warped T4)); P6/P7 from the warped P5;
5. the prediction head on P3 … P7;
6. prototypes: recomputed by ProtoNet from the new P3 (as in YolactEdge), or **warped** from
   the keyframe with the stride-8 flow resized to their resolution (``reuse_protos=True``,
   our addition: ProtoNet is the most expensive part of the CPU model).

With ``propagate=True`` (our addition, :mod:`edgevision.video.propagate`) steps 3–6 are
replaced by warping the keyframe's final masks with the stride-8 flow: a non-keyframe costs
the backbone to C3, FeatFlowNet and the mask warp.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edgevision.postprocess.yolact import yolact_postprocess
from edgevision.preprocess import preprocess
from edgevision.results import InstanceMasks
from edgevision.video.keyframes import KeyframePolicy, parse_keyframes
from edgevision.video.propagate import flow_to_original, propagate_instances

__all__ = ["FrameInfo", "StreamSession", "VideoOps"]


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


class VideoOps(Protocol):
    """The arithmetic of video mode on one backend's arrays (batch 1, NCHW).

    ``head`` returns raw ``(loc, conf_logits, coef)`` of one pyramid level; ``outputs``
    concatenates the levels, applies the class softmax and returns the numpy arrays that
    :func:`~edgevision.postprocess.yolact.yolact_postprocess` takes.
    """

    def to_input(self, x: np.ndarray) -> Any: ...
    def lower(self, x: Any) -> Any: ...
    def upper(self, c3: Any) -> tuple[Any, Any]: ...
    def fpn(self, c3: Any, c4: Any, c5: Any) -> tuple[list[Any], Any]: ...
    def p3_from(self, c3: Any, t4: Any) -> Any: ...
    def extra(self, p5: Any) -> list[Any]: ...
    def protonet(self, p3: Any) -> Any: ...
    def head(self, p: Any) -> tuple[Any, Any, Any]: ...
    def flownet(self, key_c3: Any, cur_c3: Any) -> list[Any]: ...
    def warp(self, feat: Any, flow: Any) -> Any: ...
    def warp_protos(self, protos: Any, flow8: Any) -> Any: ...
    def motion(self, flow8: Any) -> float: ...
    def flow_numpy(self, flow8: Any) -> np.ndarray: ...
    def outputs(self, heads: list[tuple[Any, Any, Any]], protos: Any) -> list[np.ndarray]: ...


@dataclass
class _KeyState:
    size: tuple[int, int]
    c3: Any
    t4: Any
    p4: Any
    p5: Any
    protos: Any
    result: InstanceMasks | None = None


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._t) * 1e3
        self._t = now


class StreamSession:
    """Per-stream YolactEdge inference: ``session(frame) -> InstanceMasks``.

    Args:
        ops: the backend (:class:`VideoOps`).
        spec: the model's :class:`~edgevision.config.ModelSpec` (preprocessing, classes).
        keyframes: policy or its text form (``"fixed:5"``, ``"adaptive"``, ``"none"``).
        has_flow: whether the backend has a FeatFlowNet (video mode needs one).
        reuse_protos: warp the keyframe's prototypes instead of running ProtoNet on
            non-keyframes.
        propagate: on non-keyframes warp the keyframe's final masks with the flow instead of
            running the partial feature transform and the heads.
        **post_kwargs: passed to :func:`~edgevision.postprocess.yolact.yolact_postprocess`.

    Attributes:
        last: :class:`FrameInfo` of the latest frame.
        counts: how often each stage ran (``Counter``).

    Raises:
        ConfigError: no FeatFlowNet while the policy needs one.
    """

    def __init__(
        self,
        ops: VideoOps,
        spec: Any,
        *,
        keyframes: str | KeyframePolicy = "fixed:5",
        has_flow: bool = True,
        reuse_protos: bool = False,
        propagate: bool = False,
        **post_kwargs: Any,
    ) -> None:
        from edgevision.errors import ConfigError

        self.ops = ops
        self.spec = spec
        self.policy = parse_keyframes(keyframes)
        per_frame = type(self.policy) is KeyframePolicy or (
            getattr(self.policy, "interval", 0) == 1
        )
        if not has_flow and not per_frame:
            raise ConfigError(
                "this model has no FeatFlowNet (built without video=True or trained without "
                "flow): video mode needs one; use keyframes='none' for per-frame mode"
            )
        self.reuse_protos = reuse_protos
        self.propagate = propagate
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

    def __call__(self, frame: np.ndarray) -> InstanceMasks:
        """Process one ``(H, W, 3)`` uint8 RGB frame; returns masks in its pixels."""
        ops = self.ops
        tm = _Timer()
        x_np, transforms = preprocess([frame], self.spec)
        x = ops.to_input(x_np)
        tm.lap("preprocess")
        size = tuple(np.asarray(frame).shape[:2])
        if self._key is not None and self._key.size != size:
            self.reset()
        c3 = ops.lower(x)
        self.counts["backbone_lower"] += 1
        tm.lap("backbone_lower")
        keyframe = self._key is None or self.policy.wants_keyframe(self._since_key)
        promoted, motion = False, None
        pyr: list[Any] | None = None
        protos: Any = None
        t4 = None
        if not keyframe:
            key = self._key
            assert key is not None
            flows = ops.flownet(key.c3, c3)
            self.counts["flow"] += 1
            tm.lap("flow")
            motion = ops.motion(flows[0]) * 8.0 / float(min(x_np.shape[-2:]))
            if self.policy.promote(self._since_key + 1, motion):
                keyframe, promoted = True, True
            elif self.propagate and key.result is not None:
                prop = propagate_instances(
                    key.result,
                    flow_to_original(ops.flow_numpy(flows[0]), transforms[0]),
                    rigid=True,
                )
                self.counts["propagate"] += 1
                tm.lap("warp")
                self._since_key += 1
                self.policy.observe(False, prop)
                self.counts["non_keyframes"] += 1
                self.last = FrameInfo(self._index, False, False, motion, tm.ms)
                self._index += 1
                return prop
            else:
                wt4 = ops.warp(key.t4, flows[1])
                p4 = ops.warp(key.p4, flows[1])
                p5 = ops.warp(key.p5, flows[2])
                if self.reuse_protos:
                    protos = ops.warp_protos(key.protos, flows[0])
                self.counts["warp"] += 1
                tm.lap("warp")
                pyr = [ops.p3_from(c3, wt4), p4, p5, *ops.extra(p5)]
                self.counts["fpn_partial"] += 1
                tm.lap("fpn")
        if keyframe:
            c4, c5 = ops.upper(c3)
            self.counts["backbone_upper"] += 1
            tm.lap("backbone_upper")
            pyr, t4 = ops.fpn(c3, c4, c5)
            self.counts["fpn"] += 1
            tm.lap("fpn")
        assert pyr is not None
        if protos is None:
            protos = ops.protonet(pyr[0])
            self.counts["protonet"] += 1
            tm.lap("protonet")
        if keyframe:
            self._key = _KeyState(size, c3, t4, pyr[1], pyr[2], protos)  # type: ignore[arg-type]
            self._since_key = 0
        else:
            self._since_key += 1
        heads = [ops.head(p) for p in pyr]
        self.counts["head"] += 1
        outs = ops.outputs(heads, protos)
        tm.lap("head")
        res = yolact_postprocess(outs, self.spec, transforms, **self.post_kwargs)[0]
        tm.lap("postprocess")
        if keyframe and self._key is not None:
            self._key.result = res  # type: ignore[assignment]
        self.policy.observe(keyframe, res)
        self.counts["keyframes" if keyframe else "non_keyframes"] += 1
        self.last = FrameInfo(self._index, keyframe, promoted, motion, tm.ms)
        self._index += 1
        return res  # type: ignore[return-value]
