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

With ``propagate="dis"`` the flow comes from OpenCV's DIS optical flow (Kroeger et al. 2016,
preset *ultrafast*; ``"dis:medium"`` slower and more accurate) on the grey frames instead of
FeatFlowNet: a non-keyframe then runs no network at all (grey conversion, DIS, mask warp),
and the flow is far more accurate than a flow from stride-8 features (``edgevision video
--warp-error`` prints both end-point errors). The flow to the keyframe is chained from
consecutive frames (current -> previous, then the previous frame's flow to the keyframe):
small steps are what DIS estimates best. Each mask is warped per pixel with it, so rotation
and scaling are followed too. This needs no FeatFlowNet, so it works with any YOLACT
checkpoint.

With several engines of different precision (``engines={"fp32": ops, "mixed": ...}``) a
precision policy (:mod:`edgevision.video.precision`) picks one for every frame on which the
network runs; ``FrameInfo.precision`` and ``counts["precision_<name>"]`` record the choice.

With ``propagate="dis:medium+redetect[:PREC]"`` a non-keyframe also runs the detector part
(backbone, FPN, head; no ProtoNet) and fuses its boxes with the propagated masks by IoU; a
confident new object turns the frame into a keyframe (:mod:`edgevision.video.redetect`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edgevision.postprocess.letterbox import boxes_to_input
from edgevision.postprocess.yolact import masks_at_original, yolact_detect, yolact_postprocess
from edgevision.preprocess import preprocess
from edgevision.results import InstanceMasks
from edgevision.video.keyframes import KeyframePolicy, parse_keyframes
from edgevision.video.precision import (
    PRECISIONS,
    PrecisionPolicy,
    change_fraction,
    parse_precision,
)
from edgevision.video.propagate import flow_to_original, propagate_instances
from edgevision.video.redetect import (
    Redetect,
    fuse_redetections,
    match_boxes,
    parse_propagate,
)

__all__ = ["FrameInfo", "StreamSession", "VideoOps"]


@dataclass
class FrameInfo:
    """What the session did for one frame.

    Attributes:
        index: frame number in the stream (0-based).
        keyframe: the full network ran.
        promoted: a non-keyframe turned into a keyframe by the policy after its flow.
        motion: mean flow magnitude / shorter input side (non-keyframes), else ``None``.
        residual: with DIS flow, the fraction of pixels the warp does not explain
            (:meth:`DisFlow.residual`; non-keyframes), else ``None``.
        ms: milliseconds per stage (``preprocess``, ``backbone_lower``, ``backbone_upper``,
            ``fpn``, ``flow``, ``warp``, ``protonet``, ``head``, ``postprocess``).
        precision: the engine the network ran on (``fp32``, ``mixed``, ``int8``), ``None``
            when no network ran (masks propagated with DIS flow).
    """

    index: int
    keyframe: bool
    promoted: bool = False
    motion: float | None = None
    residual: float | None = None
    ms: dict[str, float] = field(default_factory=dict)
    precision: str | None = None

    @property
    def total_ms(self) -> float:
        return float(sum(self.ms.values()))


class VideoOps(Protocol):
    """The arithmetic of video mode on one backend's arrays (batch 1, NCHW).

    ``head`` returns raw ``(loc, conf_logits, coef)`` of one pyramid level; ``outputs``
    concatenates the levels, applies the class softmax and returns the numpy arrays that
    :func:`~edgevision.postprocess.yolact.yolact_postprocess` takes (without the
    prototypes when ``protos`` is ``None``: a re-detection pass).
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
    grey: np.ndarray | None = None
    transform: Any = None
    protos_np: np.ndarray | None = None


PROPAGATE_FLOWS = ("featflownet", "dis", "dis:ultrafast", "dis:fast", "dis:medium")

_DETECT_KW = ("conf_threshold", "iou_threshold", "top_k", "max_det")
"""The postprocessing options that apply to a re-detection pass (no masks)."""


class DisFlow:
    """Backward flow between grey frames with OpenCV's DIS optical flow.

    Frames whose longer side exceeds ``max_side`` are shrunk for the flow (and the flow
    scaled back up to their pixels).

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        max_side: longest side the flow is computed at.
    """

    def __init__(self, preset: str = "ultrafast", max_side: int = 320) -> None:
        import cv2

        presets = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }
        if preset not in presets:
            raise ValueError(f"DIS preset must be one of {sorted(presets)}, got {preset!r}")
        self._dis = cv2.DISOpticalFlow_create(presets[preset])  # type: ignore[attr-defined]
        self.max_side = int(max_side)

    def residual(
        self, cur: np.ndarray, key: np.ndarray, flow: np.ndarray, tolerance: int = 24
    ) -> float:
        """Fraction of the current grey frame the keyframe's grey frame, warped with
        ``flow`` (current -> keyframe, in frame pixels), does not explain: pixels whose
        warped value is off by more than ``tolerance`` grey levels, counted on every second
        row and column (a quarter of the pixels; 0.07 ms at 320x240 on 2 cores). Objects that appear,
        get uncovered or move unlike the flow raise it; a flow that follows the scene keeps
        it near 0 whatever the speed."""
        import cv2

        gh, gw = cur.shape
        h, w = flow.shape[:2]
        ys, xs = np.arange(0, gh, 2, dtype=np.float32), np.arange(0, gw, 2, dtype=np.float32)
        if (gh, gw) == (h, w):  # the flow at those pixels
            f = flow[::2, ::2]
        else:  # resampled to them, in grey pixels
            f = cv2.resize(flow, (len(xs), len(ys)), interpolation=cv2.INTER_LINEAR)
            f = f * np.array([gw / w, gh / h], np.float32)
        mx = xs[None, :] + f[..., 0]
        my = ys[:, None] + f[..., 1]
        warped = cv2.remap(key, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        bad = cv2.absdiff(warped, np.ascontiguousarray(cur[::2, ::2])) > tolerance
        return float(np.count_nonzero(bad)) / float(bad.size)

    def grey(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> the grey image the flow is computed on."""
        return _grey(frame, self.max_side)

    def __call__(self, cur: np.ndarray, key: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Flow current -> keyframe (``cur(x) = key(x + flow(x))``) as ``(H, W, 2)`` float32
        in the pixels of frames of ``size`` (``(H, W)``), from their :meth:`grey` images."""
        import cv2

        f = self._dis.calc(cur, key, None)
        h, w = size
        if f.shape[:2] != (h, w):
            sy, sx = h / f.shape[0], w / f.shape[1]
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
            f *= np.array([sx, sy], np.float32)
        return f


def _grey(frame: np.ndarray, max_side: int = 320) -> np.ndarray:
    """The grey image the precision signal is computed on (as :meth:`DisFlow.grey`)."""
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    s = max_side / max(h, w)
    if s < 1.0:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    return g


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
            running the partial feature transform and the heads: ``True`` /
            ``"featflownet"`` with FeatFlowNet's flow (one translation per mask), ``"dis"``
            with OpenCV's DIS flow on the frames (per pixel; no network runs on a
            non-keyframe, no FeatFlowNet needed; ``"dis:fast"``/``"dis:medium"``: DIS's
            slower, more accurate presets, ``"dis"`` = ``"dis:ultrafast"``). A DIS flow
            with ``"+redetect"`` / ``"+redetect:PREC"`` (``"dis:medium+redetect:mixed"``)
            also runs the detector without ProtoNet on non-keyframes, on engine ``PREC``
            (else the precision policy's), and fuses its boxes with the propagated masks
            (:mod:`edgevision.video.redetect`).
        precision: precision policy or its text form (``"fixed:fp32"``, ``"fixed:mixed"``,
            ``"adaptive"``; :func:`~edgevision.video.precision.parse_precision`); ``None``:
            always ``ops``.
        engines: further backends by precision (``{"mixed": ops, "int8": ops}``); ``ops``
            is the one of precision ``ops_precision``.
        specs: model specs by precision where they differ from ``spec`` (the ``small``
            engine's smaller ``input_size``: preprocessing and priors follow it). An
            engine at another input size needs DIS propagation or per-frame mode (the
            feature warp would mix feature maps of two sizes).
        ops_precision: the precision of ``ops``.
        redetect: re-detection settings (:class:`~edgevision.video.redetect.Redetect`;
            its ``precision`` comes from ``propagate``); needs ``+redetect`` in ``propagate``.
        **post_kwargs: passed to :func:`~edgevision.postprocess.yolact.yolact_postprocess`.

    Attributes:
        last: :class:`FrameInfo` of the latest frame.
        counts: how often each stage ran (``Counter``).

    Raises:
        ConfigError: no FeatFlowNet while the policy needs one, an unknown ``propagate``,
            or a precision policy that needs an engine that is not given.
    """

    def __init__(
        self,
        ops: VideoOps,
        spec: Any,
        *,
        keyframes: str | KeyframePolicy = "fixed:5",
        has_flow: bool = True,
        reuse_protos: bool = False,
        propagate: bool | str = False,
        precision: str | PrecisionPolicy | None = None,
        engines: dict[str, VideoOps] | None = None,
        ops_precision: str = "fp32",
        specs: dict[str, Any] | None = None,
        redetect: Redetect | None = None,
        **post_kwargs: Any,
    ) -> None:
        from edgevision.errors import ConfigError

        propagate, self.redetect = parse_propagate(propagate, PROPAGATE_FLOWS)
        if isinstance(redetect, Redetect):
            if self.redetect is None:
                raise ConfigError("redetect settings need propagate='dis...+redetect[:PREC]'")
            from dataclasses import replace

            self.redetect = replace(redetect, precision=self.redetect.precision)
        self.ops = ops
        self.spec = spec
        self._engines: dict[str, VideoOps] = {**(engines or {}), ops_precision: ops}
        unknown = sorted(set(self._engines) - set(PRECISIONS))
        if unknown:
            raise ConfigError(f"engine precisions must be among {PRECISIONS}, got {unknown}")
        self.available = tuple(p for p in PRECISIONS if p in self._engines)
        self.precision_policy = parse_precision(precision or f"fixed:{ops_precision}")
        needs = [*self.precision_policy.needs()]
        if self.redetect is not None and self.redetect.precision is not None:
            needs.append(self.redetect.precision)
        missing = [p for p in needs if p not in self._engines]
        if missing:
            who = (
                f"precision policy {self.precision_policy.describe()}"
                if missing[0] in self.precision_policy.needs() or self.redetect is None
                else f"propagate {propagate}+{self.redetect.describe()}"
            )
            raise ConfigError(
                f"{who} needs an engine at {missing[0]}; "
                f"loaded: {', '.join(self.available)} (CLI: --precision-engines DIR, a "
                f"{missing[0]} component folder from 'edgevision quantize')"
            )
        self._specs: dict[str, Any] = dict(specs or {})
        self._net_grey: np.ndarray | None = None
        self.policy = parse_keyframes(keyframes)
        per_frame = type(self.policy) is KeyframePolicy or (
            getattr(self.policy, "interval", 0) == 1
        )
        self._dis = None
        if isinstance(propagate, str) and propagate.startswith("dis"):
            self._dis = DisFlow(propagate.partition(":")[2] or "ultrafast")
        other_size = any(
            tuple(sp.input_size) != tuple(spec.input_size) for sp in self._specs.values()
        )
        feature_warp = not per_frame and self._dis is None
        if other_size and feature_warp:
            raise ConfigError(
                "an engine at a smaller input needs DIS propagation (propagate='dis:medium') "
                "or per-frame mode: the feature warp would mix feature maps of two sizes"
            )
        if not has_flow and feature_warp:
            raise ConfigError(
                "this model has no FeatFlowNet (built without video=True or trained without "
                "flow): video mode's feature warping needs one; propagate the keyframe's masks "
                "with DIS optical flow instead (CLI: --propagate dis; API: propagate='dis') or "
                "run per frame (CLI: no --video; API: keyframes='none')"
            )
        self.reuse_protos = reuse_protos
        self.propagate = bool(propagate)
        self.post_kwargs = post_kwargs
        self.counts: Counter[str] = Counter()
        self.last: FrameInfo | None = None
        self._key: _KeyState | None = None
        self._since_key = 0
        self._index = 0
        self._prev_grey: np.ndarray | None = None
        self._chain: np.ndarray | None = None

    def reset(self) -> None:
        """Drop the keyframe (the next frame is a keyframe) and the policy's memory."""
        self._key = None
        self._since_key = 0
        self._prev_grey = self._chain = None
        self._net_grey = None
        self.policy.reset()
        self.precision_policy.reset()

    @property
    def keyframe_state(self) -> bool:
        """Whether a keyframe is held."""
        return self._key is not None

    def __call__(self, frame: np.ndarray) -> InstanceMasks:
        """Process one ``(H, W, 3)`` uint8 RGB frame; returns masks in its pixels."""
        ops = self.ops
        tm = _Timer()
        size = tuple(np.asarray(frame).shape[:2])
        if self._key is not None and self._key.size != size:
            self.reset()
        promoted, motion, residual = False, None, None
        grey = None
        redetect_from: tuple[InstanceMasks, np.ndarray] | None = None
        if self._dis is not None:
            grey = self._dis.grey(frame)
            tm.lap("preprocess")
            key = self._key
            if (
                key is not None
                and key.result is not None
                and key.grey is not None
                and (not self.policy.wants_keyframe(self._since_key))
            ):
                if self._chain is not None:
                    # current -> previous frame, then the previous frame's flow to the keyframe
                    from edgevision.data.flow import compose_flow

                    step = self._dis(grey, self._prev_grey, size)  # type: ignore[arg-type]
                    ones = np.ones(size, bool)
                    flow = compose_flow(step, self._chain, ones, ones)[0]
                else:
                    flow = self._dis(grey, key.grey, size)  # type: ignore[arg-type]
                self._prev_grey, self._chain = grey, flow
                self.counts["flow"] += 1
                tm.lap("flow")
                f4 = flow[::4, ::4]
                motion = float(np.hypot(f4[..., 0], f4[..., 1]).mean()) / float(min(size))
                since = self._since_key + 1
                if getattr(self.policy, "uses_residual", False):
                    residual = self._dis.residual(grey, key.grey, flow)
                    tm.lap("flow")
                    promote = self.policy.promote(since, motion, residual)
                else:  # policies written before the residual take two arguments
                    promote = self.policy.promote(since, motion)
                if promote:
                    promoted = True
                elif self.redetect is None:
                    return self._propagated(
                        key.result, flow, motion, tm, rigid=False, residual=residual
                    )
                else:  # the detector runs below; its boxes are fused with these masks
                    redetect_from = (key.result, flow)
        if redetect_from is not None and self.redetect is not None and self.redetect.precision:
            prec = self.redetect.precision
        else:
            prec = self._choose_precision(frame, grey)
        ops = self._engines[prec]
        spec = self._specs.get(prec, self.spec)
        x_np, transforms = preprocess([frame], spec)
        x = ops.to_input(x_np)
        tm.lap("preprocess")
        c3 = ops.lower(x)
        self.counts["backbone_lower"] += 1
        tm.lap("backbone_lower")
        keyframe = promoted or self._key is None or self.policy.wants_keyframe(self._since_key)
        pyr: list[Any] | None = None
        protos: Any = None
        t4 = None
        if not keyframe and redetect_from is None:
            key = self._key
            assert key is not None
            flows = ops.flownet(key.c3, c3)
            self.counts["flow"] += 1
            tm.lap("flow")
            motion = ops.motion(flows[0]) * 8.0 / float(min(x_np.shape[-2:]))
            if self.policy.promote(self._since_key + 1, motion):
                keyframe, promoted = True, True
            elif self.propagate and key.result is not None:
                flow = flow_to_original(ops.flow_numpy(flows[0]), transforms[0])
                return self._propagated(key.result, flow, motion, tm, rigid=True)
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
        if keyframe or redetect_from is not None:
            c4, c5 = ops.upper(c3)
            self.counts["backbone_upper"] += 1
            tm.lap("backbone_upper")
            pyr, t4 = ops.fpn(c3, c4, c5)
            self.counts["fpn"] += 1
            tm.lap("fpn")
        assert pyr is not None
        heads: list[tuple[Any, Any, Any]] | None = None
        if redetect_from is not None:
            heads = [ops.head(p) for p in pyr]
            self.counts["head"] += 1
            tm.lap("head")
            fused = self._fuse(redetect_from, ops.outputs(heads, None), spec, transforms[0], tm)
            if fused is not None:
                self._since_key += 1
                return self._done(fused, False, False, motion, residual, tm, prec)
            keyframe = promoted = True  # a new object: this frame becomes a keyframe
        if protos is None:
            protos = ops.protonet(pyr[0])
            self.counts["protonet"] += 1
            tm.lap("protonet")
        if keyframe:
            self._prev_grey, self._chain = grey, None
            self._key = _KeyState(size, c3, t4, pyr[1], pyr[2], protos, grey=grey)  # type: ignore[arg-type]
            self._since_key = 0
        else:
            self._since_key += 1
        if heads is None:
            heads = [ops.head(p) for p in pyr]
            self.counts["head"] += 1
        outs = ops.outputs(heads, protos)
        tm.lap("head")
        res = yolact_postprocess(outs, spec, transforms, **self.post_kwargs)[0]
        tm.lap("postprocess")
        if keyframe and self._key is not None:
            self._key.result = res  # type: ignore[assignment]
            self._key.transform, self._key.protos_np = transforms[0], outs[3]
        return self._done(res, keyframe, promoted, motion, residual, tm, prec)  # type: ignore[arg-type]

    def _done(
        self,
        res: InstanceMasks,
        keyframe: bool,
        promoted: bool,
        motion: float | None,
        residual: float | None,
        tm: _Timer,
        prec: str,
    ) -> InstanceMasks:
        """Book a frame the network ran on (policies, counts, :attr:`last`); returns ``res``."""
        self.policy.observe(keyframe, res)
        self.precision_policy.observe(res)
        self.counts["keyframes" if keyframe else "non_keyframes"] += 1
        self.counts[f"precision_{prec}"] += 1
        self.last = FrameInfo(
            self._index, keyframe, promoted, motion, residual, ms=tm.ms, precision=prec
        )
        self._index += 1
        return res

    def _fuse(
        self,
        prop_from: tuple[InstanceMasks, np.ndarray],
        outs: list[np.ndarray],
        spec: Any,
        t: Any,
        tm: _Timer,
    ) -> InstanceMasks | None:
        """A non-keyframe's result from the re-detection ``outs`` (boxes, scores, coeffs)
        and the keyframe's masks warped with the flow (``prop_from``), or ``None`` when a
        confident new object asks for a keyframe (``new="keyframe"``;
        :mod:`edgevision.video.redetect`)."""
        cfg = self.redetect
        key = self._key
        assert cfg is not None and key is not None
        kw = {k: v for k, v in self.post_kwargs.items() if k in _DETECT_KW}
        det, coeffs = yolact_detect(outs, spec, t, **kw)
        prop = propagate_instances(prop_from[0], prop_from[1])
        self.counts["propagate"] += 1
        tm.lap("warp")
        match = match_boxes(det.boxes, prop.boxes, cfg.iou)
        fresh = np.flatnonzero((match < 0) & (det.scores >= cfg.min_score))
        if len(fresh) and cfg.new == "keyframe":
            return None
        new = None
        if len(fresh) and cfg.new == "protos" and key.protos_np is not None:
            kt = key.transform
            ih, iw = kt.input_size
            boxes = det.boxes[fresh]
            bn = (boxes_to_input(boxes, kt) / np.array([iw, ih, iw, ih], np.float32)).clip(0, 1)
            masks = masks_at_original(
                key.protos_np[0], coeffs[fresh], bn, boxes, kt,
                self.post_kwargs.get("mask_threshold", 0.5),
            )  # fmt: skip
            new = InstanceMasks(boxes, det.scores[fresh], det.class_ids[fresh],
                                list(det.class_names), prop.image_size, masks=masks)  # fmt: skip
        res = fuse_redetections(prop, det, match, cfg, new)
        self.counts["redetect"] += 1
        tm.lap("postprocess")
        return res

    def _choose_precision(self, frame: np.ndarray, grey: np.ndarray | None) -> str:
        """The engine for this frame's network pass (the policy's choice on its signal)."""
        pol = self.precision_policy
        if len(self.available) == 1 and not pol.needs():
            return self.available[0]
        change = None
        if pol.uses_signal:
            g = grey if grey is not None else _grey(frame)
            if self._net_grey is not None:
                change = change_fraction(g, self._net_grey)
            self._net_grey = g
        prec = pol.choose(self.available, change)
        return prec if prec in self._engines else self.available[0]

    def _propagated(
        self,
        key_result: InstanceMasks,
        flow: np.ndarray,
        motion: float | None,
        tm: _Timer,
        *,
        rigid: bool,
        residual: float | None = None,
    ) -> InstanceMasks:
        """A non-keyframe's result: the keyframe's masks warped with ``flow`` (original px)."""
        prop = propagate_instances(key_result, flow, rigid=rigid)
        self.counts["propagate"] += 1
        tm.lap("warp")
        self._since_key += 1
        self.policy.observe(False, prop)
        self.counts["non_keyframes"] += 1
        self.last = FrameInfo(self._index, False, False, motion, residual, ms=tm.ms)
        self._index += 1
        return prop
