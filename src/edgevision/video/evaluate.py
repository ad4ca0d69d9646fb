"""Run a YOLACT over videos per frame and in video mode: per-frame AP and time per frame.

:func:`run_video` processes a YouTube-VIS split (``DIR/annotations/ytvis_{split}.json`` +
``DIR/videos/{split}``, as the synthetic generator writes) or a plain folder of frames with one
:class:`~edgevision.video.session.VideoSession` (PyTorch) or
:class:`~edgevision.video.ort.OrtVideoSession` (ONNX Runtime components) per video, and reports mean milliseconds per
frame (total and per stage), the keyframe fraction and, with ground truth, COCO box/mask AP
over all frames. :func:`compare_modes` runs several video modes
(:class:`~edgevision.video.modes.VideoMode`: keyframe policy, propagation, precision policy;
``"none"`` keyframes = per-frame mode) on the same frames and model in alternating rounds, so
their speeds and APs can be compared in one run.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError
from edgevision.io import read_image
from edgevision.video.modes import VideoMode

__all__ = [
    "VideoRun",
    "compare_modes",
    "exact_flow_propagation",
    "list_frames",
    "make_session",
    "run_video",
    "warp_error",
]

_FRAME_RE = re.compile(r"\.(png|jpe?g|bmp)$", re.IGNORECASE)


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of a folder in name order (``00000.png`` …).

    Raises:
        DataError: no such folder, or no images in it.
    """
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"frame folder not found: {d}")
    frames = sorted(f for f in d.iterdir() if f.is_file() and _FRAME_RE.search(f.name))
    if not frames:
        raise DataError(f"no .png/.jpg frames in {d}")
    return frames


@dataclass
class VideoRun:
    """Result of :func:`run_video` (times in ms per frame, APs in 0–1, ``None`` without GT).

    ``precision_share``: fraction of all frames whose network pass ran at each precision
    (frames with propagated masks run none: ``"none"``). ``default``: this is the default
    video path (:func:`~edgevision.video.modes.default_mode`), set by the caller.
    """

    keyframes: str
    frames: int
    keyframe_fraction: float
    ms_per_frame: float
    ms_keyframe: float | None
    ms_non_keyframe: float | None
    stage_ms: dict[str, float] = field(default_factory=dict)
    mask_ap: float | None = None
    box_ap: float | None = None
    propagate: bool | str = False
    precision: str | None = None
    precision_share: dict[str, float] = field(default_factory=dict)
    default: bool = False

    @property
    def mode(self) -> VideoMode:
        return VideoMode(self.keyframes, self.propagate, self.precision or "fixed:fp32")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def video_frames(
    data: str | os.PathLike[str], split: str
) -> tuple[list[tuple[int, list[Path]]], Any]:
    """The videos of ``data``: ``([(video id, frame paths)], annotation file)`` of a
    YouTube-VIS split, else the folder's frames as one video (no annotations)."""
    root = Path(data)
    ann = root / "annotations" / f"ytvis_{split}.json"
    if ann.is_file():
        from edgevision.data.ytvis import YtvisDataset, ytvis_layout

        ann, vroot = ytvis_layout(root, split)
        ds = YtvisDataset(ann, vroot)
        return [(v.video_id, list(v.frames)) for v in ds], ann
    return [(0, list_frames(root))], None


def _mask_box_ap(ap: dict[str, Any]) -> tuple[float | None, float | None]:
    """``(mask AP, box AP)`` of a :class:`VideoEvaluator` summary; ``None`` where undefined."""

    def value(kind: str) -> float | None:
        v = ap.get(kind, {}).get("AP")
        return None if v is None or not np.isfinite(v) else float(v)

    return value("segm"), value("bbox")


def make_session(model: Any, **kwargs: Any) -> Any:
    """A stream session for ``model``: a torch YOLACT -> ``VideoSession``; a
    :class:`~edgevision.video.ort.ComponentSet` or component folder -> ``OrtVideoSession``."""
    from edgevision.video.ort import ComponentSet, OrtVideoSession, is_component_folder

    if isinstance(model, ComponentSet) or (
        isinstance(model, (str, os.PathLike)) and is_component_folder(model)
    ):
        return OrtVideoSession(model, **kwargs)
    from edgevision.video.session import VideoSession

    return VideoSession(model, **kwargs)


def run_video(
    model: Any,
    data: str | os.PathLike[str],
    *,
    split: str = "val",
    keyframes: str = "fixed:5",
    reuse_protos: bool = False,
    propagate: bool | str = False,
    precision: str | None = None,
    engines: list[Any] | None = None,
    small_input: tuple[int, int] | None = None,
    max_frames: int = 0,
    warmup: int = 2,
    **post_kwargs: Any,
) -> VideoRun:
    """Process every video of ``data`` with a fresh session each and time it.

    Args:
        model: a torch ``yolact_*`` model, or a :class:`~edgevision.video.ort.ComponentSet`
            (with FeatFlowNet unless ``keyframes="none"``).
        data: a YouTube-VIS-layout dataset folder, or a folder of frames (no AP then).
        split: split of a YouTube-VIS layout.
        keyframes: policy text (see :func:`~edgevision.video.keyframes.parse_keyframes`).
        reuse_protos: see :class:`VideoSession`.
        propagate: warp the keyframe's masks on non-keyframes (see :class:`VideoSession`).
        precision: per-frame precision policy (ONNX Runtime components;
            :mod:`edgevision.video.precision`), ``None``: ``model``'s own precision.
        engines: component folders/sets of other precisions for the policy.
        small_input: load the ``small`` engine at this input size (see
            :class:`~edgevision.video.ort.OrtVideoSession`).
        max_frames: stop after this many frames in total (0 = all).
        warmup: untimed passes over the first frame of the first video before timing.
        **post_kwargs: postprocessing options (``conf_threshold`` …).

    Returns:
        A :class:`VideoRun`.
    """
    videos, ann = video_frames(data, split)
    ev = None
    if ann is not None:
        from edgevision.evaluate.video import VideoEvaluator

        ev = VideoEvaluator(str(ann))
    first = read_image(videos[0][1][0])
    # the per-frame warm-up session takes no re-detection settings
    warm_kw = {k: v for k, v in post_kwargs.items() if k != "redetect"}
    warm = make_session(model, keyframes="none", **warm_kw)
    for _ in range(warmup):
        warm(first)
    prec_kw: dict[str, Any] = {}
    if precision is not None or engines or small_input:
        prec_kw = {"precision": precision, "engines": engines}
    if small_input:
        prec_kw["small_input"] = small_input
    if engines:  # load the other engines once, not per video
        from edgevision.video.ort import ComponentSet

        load = model.sibling if isinstance(model, ComponentSet) else ComponentSet
        prec_kw["engines"] = [e if isinstance(e, ComponentSet) else load(e) for e in engines]
    total: list[float] = []
    shares: dict[str, int] = {}
    key_ms: list[float] = []
    non_ms: list[float] = []
    stages: dict[str, float] = {}
    n = 0
    for vid, frames in videos:
        session = make_session(
            model,
            keyframes=keyframes,
            reuse_protos=reuse_protos,
            propagate=propagate,
            **prec_kw,
            **post_kwargs,
        )
        for t, f in enumerate(frames):
            if max_frames and n >= max_frames:
                break
            res = session(read_image(f))
            info = session.last
            assert info is not None
            total.append(info.total_ms)
            (key_ms if info.keyframe else non_ms).append(info.total_ms)
            p = info.precision or "none"
            shares[p] = shares.get(p, 0) + 1
            for k, v in info.ms.items():
                stages[k] = stages.get(k, 0.0) + v
            if ev is not None:
                ev.add(vid, t, res)
            n += 1
    if n == 0:
        raise DataError(f"no frames to process in {data}")
    mask_ap, box_ap = _mask_box_ap(ev.summarize()) if ev is not None else (None, None)
    return VideoRun(
        keyframes=keyframes,
        frames=n,
        keyframe_fraction=len(key_ms) / n,
        ms_per_frame=float(np.mean(total)),
        ms_keyframe=float(np.mean(key_ms)) if key_ms else None,
        ms_non_keyframe=float(np.mean(non_ms)) if non_ms else None,
        stage_ms={k: v / n for k, v in stages.items()},
        mask_ap=mask_ap,
        box_ap=box_ap,
        propagate=propagate,
        precision=session.precision_policy.describe(),
        precision_share={k: v / n for k, v in sorted(shares.items())},
    )


def compare_modes(
    model: Any,
    data: str | os.PathLike[str],
    modes: tuple[str | VideoMode, ...] = ("none", "fixed:5", "adaptive"),
    *,
    rounds: int = 1,
    **kwargs: Any,
) -> list[VideoRun]:
    """:func:`run_video` per mode, same model and frames, in ``rounds`` alternating rounds
    (mode A, B, C, A, B, C, ...) so a change in machine load hits every mode alike; times are
    the per-mode median over rounds, APs those of the first round (they do not change).

    Args:
        modes: :class:`~edgevision.video.modes.VideoMode` values, or keyframe policy texts
            (the other settings then come from ``kwargs``).
        **kwargs: passed to :func:`run_video`; a ``VideoMode``'s fields override
            ``keyframes``, ``propagate`` and ``precision``.
    """
    per: list[list[VideoRun]] = [[] for _ in modes]
    for _ in range(max(1, rounds)):
        for i, m in enumerate(modes):
            kw = dict(kwargs)
            if isinstance(m, VideoMode):
                kw.update(keyframes=m.keyframes, propagate=m.propagate, precision=m.precision)
            else:
                kw["keyframes"] = m
            per[i].append(run_video(model, data, **kw))
    out = []
    for rs in per:
        med = lambda vals: None if any(v is None for v in vals) else float(np.median(vals))  # noqa: E731
        first = rs[0]
        first.ms_per_frame = float(np.median([r.ms_per_frame for r in rs]))
        first.ms_keyframe = med([r.ms_keyframe for r in rs])
        first.ms_non_keyframe = med([r.ms_non_keyframe for r in rs])
        first.stage_ms = {
            k: float(np.median([r.stage_ms.get(k, 0.0) for r in rs])) for k in first.stage_ms
        }
        out.append(first)
    return out


def exact_flow_propagation(
    model: Any,
    data: str | os.PathLike[str],
    every: int = 5,
    *,
    split: str = "val",
    **post_kwargs: Any,
) -> VideoRun:
    """The ceiling of result propagation: keyframes every ``every`` frames run per frame;
    the frames between get the keyframe's masks moved with the dataset's *exact* flow.

    The synthetic generator writes the forward flow ``t -> t+1``
    (``videos/SPLIT/VIDEO/flow/NNNNN.flo``); it is chained from the keyframe to the current
    frame (:func:`~edgevision.data.flow.compose_flow`) and the keyframe's masks are splatted
    with it (:func:`~edgevision.video.propagate.splat_instances`). What this scores is what
    ``propagate=...`` could reach with a perfect flow: the gap to per-frame mode that is
    left is what moving masks cannot follow (occlusion changes, objects entering, shape
    changes, keyframe errors carried) and the splat's rounding, not flow error. AP only
    (no timing).

    Args:
        model: a torch ``yolact_*`` or a :class:`~edgevision.video.ort.ComponentSet`.
        data: a YouTube-VIS-layout dataset with exact flow.
        every: keyframe interval (1 = per frame).

    Raises:
        DataError: no annotations, or a video without its flow files.
    """
    from edgevision.data.flow import compose_flow, read_flow
    from edgevision.evaluate.video import VideoEvaluator
    from edgevision.video.propagate import splat_instances

    if every < 1:
        raise DataError(f"keyframe interval must be >= 1, got {every}")
    videos, ann = video_frames(data, split)
    if ann is None:
        raise DataError(
            f"{data}: no annotations/ytvis_{split}.json (exact flow needs the synthetic layout)"
        )
    ev = VideoEvaluator(str(ann))
    n = keys = 0
    for vid, frames in videos:
        session = make_session(model, keyframes="none", **post_kwargs)
        key = None
        chain = None
        for t, path in enumerate(frames):
            if t % every == 0 or key is None:
                key, chain = session(read_image(path)), None
                ev.add(vid, t, key)
                keys += 1
            else:
                fp = Path(path).parent / "flow" / f"{t - 1:05d}.flo"
                if not fp.is_file():
                    raise DataError(
                        f"{fp}: missing (exact flow needs the synthetic generator's flow files)"
                    )
                step = read_flow(fp)
                ones = np.ones(step.shape[:2], bool)
                chain = step if chain is None else compose_flow(chain, step, ones, ones)[0]
                ev.add(vid, t, splat_instances(key, chain))
            n += 1
    mask_ap, box_ap = _mask_box_ap(ev.summarize())
    return VideoRun(
        keyframes=f"fixed:{every}",
        frames=n,
        keyframe_fraction=keys / max(n, 1),
        ms_per_frame=0.0,
        ms_keyframe=None,
        ms_non_keyframe=None,
        mask_ap=mask_ap,
        box_ap=box_ap,
    )


def warp_error(
    model: Any,
    data: str | os.PathLike[str],
    *,
    split: str = "val",
    pairs: int = 16,
    max_gap: int = 4,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """How well warping reproduces a non-keyframe's features, per flow source.

    On ``pairs`` random frame pairs up to ``max_gap`` frames apart (synthetic videos with
    ground-truth flow), the keyframe's P4, P5 and prototypes are warped to the current frame
    with zero flow (plain reuse), FeatFlowNet's flow, OpenCV's DIS flow on the frames (what
    ``propagate="dis"`` uses) and the exact ground-truth flow, and
    compared with the features computed on the current frame: relative L2 error
    ``‖warped − computed‖ / ‖computed‖``. When even the ground-truth flow leaves most of the
    zero-flow error, the limit is the features (strided convolutions are not shift-
    equivariant; rotation and scale change them), not the flow network.

    The flow's own endpoint error against the truth (input pixels, at stride 8) is reported
    too, over all pixels and over the valid ones (visible in both frames): result
    propagation moves masks with the flow, so there the flow's accuracy is what counts.

    Args:
        model: a torch ``yolact_*`` with ``flownet``.
        data: dataset folder with ``videos/{split}/*/flow``.

    Returns:
        ``{"zero"|"featflownet"|"dis"|"ground truth": {"p4", "p5", "protos", "epe_px",
        "epe_valid_px"}}`` (relative feature errors; flow endpoint errors in input px),
        plus ``"pairs"``/``"flow_input_px"``/``"valid_fraction"`` under ``"info"``.

    Raises:
        DataError: no frame pairs with flow in the split.
    """
    import torch
    import torch.nn.functional as F

    from edgevision.data.flow import FlowPairs
    from edgevision.models.flow.warp import resize_flow, warp
    from edgevision.video.pairs import pair_batch

    fp = FlowPairs(data, split, max_gap=max_gap)
    if len(fp) == 0:
        raise DataError(f"{data}: no frame pairs with ground-truth flow in split {split!r}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(fp), size=min(pairs, len(fp)), replace=False)
    samples = [fp[int(i)] for i in idx]
    key, cur, flow, valid = pair_batch(samples, model.spec)
    m = model.eval()
    # OpenCV's DIS flow (what --propagate dis uses), moved onto the input grid like the truth
    from edgevision.data.flow import flow_to_input
    from edgevision.preprocess import preprocess
    from edgevision.video.core import DisFlow

    dis = DisFlow()
    _, ts = preprocess([s.image0 for s in samples], model.spec)
    dis_in = []
    for s, t in zip(samples, ts):
        fo = dis(dis.grey(s.image0), dis.grey(s.image1), s.image0.shape[:2])
        dis_in.append(flow_to_input(fo, np.ones(fo.shape[:2], bool), t)[0])
    dis_flow = torch.from_numpy(np.stack(dis_in)).permute(0, 3, 1, 2).float()

    def feats(x: Any) -> tuple[Any, Any]:
        c3 = m.lower(x)
        pyr = m.fpn(c3, *m.upper(c3))
        return c3, {"p4": pyr[1], "p5": pyr[2], "protos": m.protonet(pyr[0]).permute(0, 3, 1, 2)}

    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        ck, fk = feats(key)
        cc, fc = feats(cur)
        f8 = m.flownet(ck, cc)[0]
        h, w = key.shape[-2:]
        gt = flow  # on the input grid, in input pixels (pair_batch)
        sources = {
            "zero": torch.zeros_like(f8),
            "featflownet": f8,
            "dis": resize_flow(dis_flow, f8.shape[-2:]),
            "ground truth": resize_flow(gt, f8.shape[-2:]),
        }
        for name, fl in sources.items():
            out[name] = {
                k: float(
                    (warp(fk[k], resize_flow(fl, fk[k].shape[-2:])) - fc[k]).norm()
                    / fc[k].norm().clamp(min=1e-12)  # all-zero features (dead ReLUs): error 0
                )
                for k in fk
            }
        # endpoint error of each flow source against the truth, in input pixels at stride 8:
        # what result propagation (which moves masks, not features) depends on; "valid" =
        # the pixels the dataset marks as visible in both frames (no occlusion, in view)
        gt8 = sources["ground truth"]
        stride = float(w) / float(f8.shape[-1])
        v8 = F.interpolate(valid, size=gt8.shape[-2:], mode="bilinear", align_corners=False)
        v8 = v8[:, 0] > 0.5
        for name, fl in sources.items():
            epe = (fl - gt8).norm(dim=1) * stride
            out[name]["epe_px"] = float(epe.mean())
            out[name]["epe_valid_px"] = float(epe[v8].mean()) if v8.any() else 0.0
        out["info"] = {
            "pairs": float(len(idx)),
            "flow_input_px": float(gt.norm(dim=1)[valid[:, 0] > 0.5].mean()),
            "valid_fraction": float(v8.float().mean()),
        }
    return out
