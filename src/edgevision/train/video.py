"""YolactEdge's end-to-end video fine-tuning: the heads learn to work on warped features.

:func:`~edgevision.train.featflownet.train_featflownet` trains FeatFlowNet with everything else
frozen, so FPN, ProtoNet and the prediction head have only ever seen features computed from
the frame itself. On a non-keyframe they get P4/P5 warped from a keyframe up to ``K - 1``
frames back, which differ from the computed ones even with a perfect flow (strided
features are not shift-equivariant; objects rotate, scale and occlude each other). YolactEdge
therefore fine-tunes the network end to end on videos with the backbone frozen;
:func:`finetune_video` does that here:

* a step draws ``batch_size`` (keyframe, current frame) pairs from a YouTube-VIS split,
  ``gap`` = 1 … ``max_gap`` frames apart, in either time order, flipped left-right together
  at random;
* the current frame's pyramid is built as in video mode (:func:`partial_features`: its own C3,
  the keyframe's ``t4``/P4/P5 warped with FeatFlowNet's flow) and the YOLACT loss on the
  current frame's ground truth is taken on it (``video``);
* ``frame_weight`` × the same loss on the current frame's own full pyramid keeps the per-frame
  (keyframe) accuracy (``frame``);
* ``epe_weight`` × the end-point error of the stride-8 flow against the synthetic videos'
  exact flow (where the split has it: the keyframe after the current frame) keeps the flow a
  true motion, which result propagation needs (``epe``).

Trained: FeatFlowNet, FPN, ProtoNet, the head and the semantic head; the backbone is frozen
(eval mode). The state is written atomically every ``save_every`` steps and on Ctrl-C, and a
run continues from it; the pairs of step ``s`` are drawn from ``(seed, s)``, so a resumed run
draws what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgevision.checkpoint import load_model, load_torch_file, save_checkpoint, save_torch_file
from edgevision.config import ModelSpec
from edgevision.data.flow import flow_to_input
from edgevision.errors import CheckpointError, ConfigError, DataError
from edgevision.io import file_sha256
from edgevision.losses.yolact import InstanceTargets
from edgevision.preprocess import preprocess
from edgevision.train.featflownet import flow_epe, train_featflownet
from edgevision.train.instance import target_tensors
from edgevision.video.session import partial_features

__all__ = ["VideoPairBatch", "VideoPairs", "after_training", "finetune_video"]


@dataclass
class VideoPairBatch:
    """One batch of (keyframe, current frame) pairs at the network input.

    Attributes:
        key: ``(N, 3, H, W)`` normalised keyframes.
        cur: ``(N, 3, H, W)`` normalised current frames.
        targets: the current frames' :class:`~edgevision.losses.yolact.InstanceTargets`.
        flow: ``(N, 2, H, W)`` exact flow current -> keyframe in input pixels (zeros where
            unknown).
        valid: ``(N, 1, H, W)`` 1 where ``flow`` is known and valid.
        gaps: ``(N,)`` signed frame distance keyframe − current.
    """

    key: torch.Tensor
    cur: torch.Tensor
    targets: Any
    flow: torch.Tensor
    valid: torch.Tensor
    gaps: np.ndarray


class VideoPairs:
    """(keyframe, current frame, ground truth) pairs from a YouTube-VIS split.

    Args:
        data: dataset folder (``annotations/ytvis_{split}.json`` + ``videos/{split}``).
        split: split name.
        spec: the model's spec (input size, normalisation).
        max_gap: largest frame distance of a pair.
        flip: flip pairs left-right at random.

    Raises:
        DataError: missing layout, or no video longer than one frame.
    """

    def __init__(
        self,
        data: str | os.PathLike[str],
        split: str,
        spec: ModelSpec,
        *,
        max_gap: int = 4,
        flip: bool = True,
    ) -> None:
        from edgevision.data.flow import FlowPairs
        from edgevision.data.ytvis import YtvisDataset, ytvis_layout

        if max_gap < 1:
            raise ConfigError(f"max_gap must be >= 1, got {max_gap}")
        ann, root = ytvis_layout(data, split)
        self.ds = YtvisDataset(ann, root)
        self.spec, self.max_gap, self.flip = spec, max_gap, flip
        self.lengths = self.ds.video_lengths
        self.usable = [i for i, n in enumerate(self.lengths) if n >= 2]
        if not self.usable:
            raise DataError(f"{ann}: no video with two or more frames")
        try:
            self.flows: Any = FlowPairs(data, split, max_gap=1)
        except DataError:
            self.flows = None
        self._videos: dict[int, Any] = {}  # decoded ground truth, read once

    def _video(self, i: int) -> Any:
        v = self._videos.get(i)
        if v is None:
            v = self._videos[i] = self.ds[i]
        return v

    def draw(self, rng: np.random.Generator) -> tuple[int, int, int, bool]:
        """A random ``(video index, current t, keyframe t, flip)``."""
        i = int(self.usable[int(rng.integers(len(self.usable)))])
        n = self.lengths[i]
        gap = int(rng.integers(1, min(self.max_gap, n - 1) + 1))
        t = int(rng.integers(0, n - gap))
        cur, key = (t, t + gap) if rng.random() < 0.5 else (t + gap, t)
        return i, cur, key, bool(self.flip and rng.random() < 0.5)

    def batch(self, draws: Sequence[tuple[int, int, int, bool]]) -> VideoPairBatch:
        """Read and prepare the drawn pairs (:meth:`draw`)."""
        h, w = self.spec.input_size
        keys, curs, boxes, labels, masks, flows, valids = [], [], [], [], [], [], []
        for i, tc, tk, flip in draws:
            v = self._video(i)
            xc, tr = preprocess([v.read_frame(tc)], self.spec)
            xk, _ = preprocess([v.read_frame(tk)], self.spec)
            b, lab, m = target_tensors(v.targets[tc], v.image_size, (h, w))
            f = np.zeros((h, w, 2), np.float32)
            ok = np.zeros((h, w), bool)
            name = v.frames[0].parent.name
            if self.flows is not None and tk > tc and self.flows.has_pair(name, tc, tk - tc):
                s = self.flows.pair(name, tc, tk - tc)
                f, ok = flow_to_input(s.flow, s.valid, tr[0])
            ct, kt = torch.from_numpy(xc[0]), torch.from_numpy(xk[0])
            ft = torch.from_numpy(f).permute(2, 0, 1)
            vt = torch.from_numpy(ok.astype(np.float32))[None]
            if flip:
                ct, kt, m, vt = ct.flip(-1), kt.flip(-1), m.flip(-1), vt.flip(-1)
                ft = ft.flip(-1) * torch.tensor([-1.0, 1.0])[:, None, None]
                b = torch.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], 1)
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            keys.append(kt)
            curs.append(ct)
            boxes.append(b[keep])
            labels.append(lab[keep])
            masks.append(m[keep])
            flows.append(ft)
            valids.append(vt)
        return VideoPairBatch(
            torch.stack(keys),
            torch.stack(curs),
            InstanceTargets(boxes, labels, masks),
            torch.stack(flows).contiguous(),
            torch.stack(valids),
            np.array([tk - tc for _, tc, tk, _ in draws], np.int64),
        )


def video_losses(
    model: Any, criterion: Any, b: VideoPairBatch, *, frame_weight: float, epe_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (``video``, ``frame``, ``epe``) for one batch."""
    with torch.no_grad():
        ck = model.lower(b.key)
        k4, k5 = model.upper(ck)
        cc = model.lower(b.cur)
        c4, c5 = model.upper(cc) if frame_weight > 0 else (None, None)
    _, t4, t5 = model.fpn.top_down(ck, k4, k5)
    key = {"t4": t4, "p4": model.fpn.smooth_level(1, t4), "p5": model.fpn.smooth_level(2, t5)}
    flows = model.flownet(ck, cc)
    lv = criterion(model.predict(partial_features(model, key, cc, flows)), b.targets)
    total = lv
    parts = {"video": float(lv.detach())}
    if frame_weight > 0:
        lf = criterion(model.predict(model.fpn(cc, c4, c5)), b.targets)
        total = total + frame_weight * lf
        parts["frame"] = float(lf.detach())
    if epe_weight > 0 and float(b.valid.sum()) > 0:
        epe = flow_epe(flows[0], b.flow, b.valid)
        total = total + epe_weight * epe
        parts["epe"] = float(epe.detach())
    return total, parts


def _trainable(model: Any) -> list[torch.nn.Parameter]:
    return [
        p
        for n, p in model.named_parameters()
        if not n.startswith(("backbone_lower.", "backbone_upper."))
    ]


def finetune_video(
    model: torch.nn.Module,
    data: str | os.PathLike[str],
    *,
    split: str = "train",
    steps: int = 1000,
    batch_size: int = 4,
    lr: float = 2e-4,
    weight_decay: float = 1e-4,
    max_gap: int = 4,
    frame_weight: float = 1.0,
    epe_weight: float = 1.0,
    seed: int = 0,
    state_path: str | os.PathLike[str] | None = None,
    tag: str = "",
    save_every: int = 100,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Fine-tune a video YOLACT end to end on warped features (see the module docstring).

    Args:
        model: ``yolact_*`` built with ``video=True`` (``.spec`` set); trained in place.
        data: YouTube-VIS dataset folder (the synthetic videos; exact flow used if present).
        split: its split.
        steps: optimizer steps.
        batch_size: pairs per step.
        lr: AdamW peak learning rate (cosine decay to 0 after a 5 % warmup).
        weight_decay: AdamW weight decay.
        max_gap: largest keyframe distance (4 = ``fixed:5``).
        frame_weight: weight of the per-frame loss on the current frame (0 = off).
        epe_weight: weight of the flow's end-point error where the flow is known (0 = off).
        seed: seed of the pair draws.
        state_path: resumable state file (written every ``save_every`` steps, at the end
            and on Ctrl-C); an existing one is continued from. ``None`` = no state.
        tag: identifies the starting weights (e.g. their hash): a state file with another
            tag or other settings is refused.
        save_every: steps between state writes.
        progress: print a line every 20 steps.

    Returns:
        One ``{"step", "loss", "video", "frame", "epe", "lr"}`` row per step (of the whole
        run, including steps before a resume).

    Raises:
        ConfigError: no FeatFlowNet, or bad settings.
        CheckpointError: a state file of another run.
        DataError: no usable videos.
    """
    from edgevision.losses.yolact import YolactLoss
    from edgevision.train.schedule import WarmupLR

    m: Any = model
    if getattr(m, "flownet", None) is None:
        raise ConfigError("video fine-tuning needs a video model: build it with video=True")
    if steps < 1 or batch_size < 1 or lr <= 0 or min(frame_weight, epe_weight) < 0:
        raise ConfigError(
            "video fine-tuning: steps, batch_size >= 1, lr > 0 and weights >= 0 needed, got "
            f"steps={steps}, batch_size={batch_size}, lr={lr}, frame_weight={frame_weight}, "
            f"epe_weight={epe_weight}"
        )
    spec: ModelSpec = m.spec
    pairs = VideoPairs(data, split, spec, max_gap=max_gap)
    criterion = YolactLoss(
        spec.num_classes, anchor_scales=m.anchor_scales, aspect_ratios=m.aspect_ratios
    )
    for p in m.parameters():
        p.requires_grad_(False)
    params = _trainable(m)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = WarmupLR(
        opt, total_iters=steps, warmup_iters=max(1, steps // 20), warmup_factor=0.1, mode="cosine"
    )
    settings = {
        "data": str(data), "split": split, "steps": steps, "batch_size": batch_size, "lr": lr,
        "max_gap": max_gap, "frame_weight": frame_weight, "epe_weight": epe_weight, "seed": seed,
        "tag": tag,
    }  # fmt: skip
    rows: list[dict[str, float]] = []
    start = 0
    state_file = Path(state_path) if state_path is not None else None
    if state_file is not None and state_file.is_file():
        try:
            st = load_torch_file(state_file, "video fine-tuning state")
            if not isinstance(st, dict):
                raise CheckpointError(f"{state_file}: not a video fine-tuning state")
            if st.get("settings") != settings:
                raise CheckpointError(
                    f"{state_file}: a video fine-tuning state with other settings "
                    f"({st.get('settings')}); delete it to start over"
                )
            m.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            start, rows = int(st["step"]), list(st["rows"])
        except (OSError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{state_file}: cannot resume video fine-tuning: {e}") from None

    def save(step: int) -> None:
        if state_file is None:
            return
        state = {
            "settings": settings,
            "step": step,
            "rows": rows,
            "model": m.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
        }
        save_torch_file(state, state_file)

    m.eval()
    m.fpn.train(), m.protonet.train(), m.head.train(), m.flownet.train()
    step = start
    try:
        while step < steps:
            rng = np.random.default_rng([seed, step])
            b = pairs.batch([pairs.draw(rng) for _ in range(batch_size)])
            loss, parts = video_losses(
                m, criterion, b, frame_weight=frame_weight, epe_weight=epe_weight
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            sched.step()
            step += 1
            lr_now = float(opt.param_groups[0]["lr"])
            rows.append({"step": step, "loss": float(loss.detach()), "lr": lr_now, **parts})
            if progress and step % 20 == 0:
                recent = rows[-20:]
                mean = {k: np.mean([r[k] for r in recent if k in r]) for k in parts}
                print(
                    f"video step {step}/{steps}: loss {np.mean([r['loss'] for r in recent]):.3f} "
                    + " ".join(f"{k} {v:.3f}" for k, v in mean.items()),
                    file=sys.stderr,
                )
            if step % save_every == 0 or step == steps:
                save(step)
    except KeyboardInterrupt:
        save(step)
        raise
    for p in m.parameters():
        p.requires_grad_(True)
    m.eval()
    return rows


def after_training(cfg: Any, result: Any, *, device: Any, quiet: bool) -> dict[str, Any]:
    """The instance task's video stages after :func:`edgevision.train.run.train`, as its
    :class:`~edgevision.train.instance.InstanceTrainConfig` asks:

    - ``flow_steps`` > 0: train the FeatFlowNet of the best (else last) image model
      (:func:`~edgevision.train.featflownet.train_featflownet`) -> ``OUT/video.pt``;
    - ``video_steps`` > 0: fine-tune that video model end to end on warped features
      (:func:`finetune_video`, resumable) -> ``OUT/video_ft.pt``.

    Returns:
        ``{"video", "flow_history", "video_ft", "video_history"}`` for
        :attr:`~edgevision.train.run.TrainResult.extra`.
    """
    out = Path(cfg.out)
    video_path: Path | None = None
    flow_rows: list[dict[str, float]] = []
    if cfg.flow_steps > 0:
        vm: Any = load_model(result.best or result.last)
        if getattr(vm, "flownet", None) is None:
            raise ConfigError("flow_steps needs a video model: --set model_kwargs={video: true}")
        flow_rows = train_featflownet(
            vm,
            cfg.flow_data or cfg.data,
            split=cfg.train_split,
            steps=cfg.flow_steps,
            lr=cfg.flow_lr,
            schedule=cfg.flow_schedule,
            max_gap=cfg.flow_max_gap,
            augment=cfg.flow_augment,
            epe_weight=cfg.flow_epe_weight,
            feature_weight=cfg.flow_feature_weight,
            seed=cfg.seed,
            progress=not quiet,
        )
        video_path = out / "video.pt"
        extra = dict(vm.spec.extra)
        extra["flow"] = {
            "steps": cfg.flow_steps,
            "lr": cfg.flow_lr,
            "schedule": cfg.flow_schedule,
            "augment": cfg.flow_augment,
            "epe_weight": cfg.flow_epe_weight,
            "feature_weight": cfg.flow_feature_weight,
            "data": cfg.flow_data or cfg.data,
            "final_epe": flow_rows[-1]["epe"],
        }
        save_checkpoint(video_path, vm.cpu(), dataclasses.replace(vm.spec, extra=extra))
    video_ft_path: Path | None = None
    video_rows: list[dict[str, Any]] = []
    if cfg.video_steps > 0:
        video_ft_path, video_rows = _finetune_stage(cfg, out, device, quiet=quiet)
    return {
        "video": video_path,
        "flow_history": flow_rows,
        "video_ft": video_ft_path,
        "video_history": video_rows,
    }


def _finetune_stage(
    cfg: Any, out: Path, device: Any, *, quiet: bool
) -> tuple[Path, list[dict[str, float]]]:
    """``OUT/video.pt`` fine-tuned end to end on warped features -> ``OUT/video_ft.pt``."""
    src = out / "video.pt"
    if not src.is_file():
        raise ConfigError(
            f"video_steps needs a trained FeatFlowNet ({src} is missing): set flow_steps"
        )
    vm: Any = load_model(src)
    data = cfg.video_data or cfg.flow_data or cfg.data
    rows = finetune_video(
        vm.to(device),
        data,
        split=cfg.train_split,
        steps=cfg.video_steps,
        batch_size=cfg.video_batch_size,
        lr=cfg.video_lr,
        max_gap=cfg.flow_max_gap,
        frame_weight=cfg.video_frame_weight,
        epe_weight=cfg.video_epe_weight,
        seed=cfg.seed,
        state_path=out / "video_ft.state.pt",
        tag=file_sha256(src),
        progress=not quiet,
    )
    extra = dict(vm.spec.extra)
    extra["video_finetune"] = {
        "steps": cfg.video_steps,
        "lr": cfg.video_lr,
        "batch_size": cfg.video_batch_size,
        "data": str(data),
        "max_gap": cfg.flow_max_gap,
        "frame_weight": cfg.video_frame_weight,
        "epe_weight": cfg.video_epe_weight,
        "final_loss": float(np.mean([r["loss"] for r in rows[-50:]])),
    }
    path = out / "video_ft.pt"
    save_checkpoint(path, vm.cpu(), dataclasses.replace(vm.spec, extra=extra))
    return path, rows
