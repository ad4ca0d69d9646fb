"""Knowledge distillation for semantic segmentation: a teacher's logits, cached on disk.

A small segmenter learns more from a strong one's per-pixel class distributions than from
the hard labels alone, especially on thin and rare classes (Pole, SignSymbol, Bicyclist) whose
labels are a few pixels wide. Running the teacher at every training step would cost more than
the student itself on a CPU, so its logits are computed **once per image** on the
un-augmented image (at the teacher's input size) and cached at 1/``stride`` resolution in
float16 (CamVid, DDRNet teacher, stride 4: 11×90×120 values, 238 KB per image):

- cache folder: ``distill/<teacher sha256[:16]>/`` under :func:`edgevision.io.cache_root`,
  one ``.npy`` per image named by a hash of its path (written atomically, reused by every
  run that names the same teacher file);
- during training (:class:`~edgevision.train.seg_data.SegTrainDataset`) the cached map is
  upsampled to the image size and goes through the sample's *geometric* augmentation (scale,
  crop, flip) with the image, never through the photometric one: the student sees a
  darkened, noisy, blurred crop and must give what the teacher gave for the clean image;
- the loss (:class:`DistillLoss`) adds ``weight · T² · KL(teacher_T ‖ student_T)`` over
  labelled pixels at 1/``stride`` resolution to the task loss (Hinton et al. 2015, per pixel
  as in structured distillation for segmentation, Liu et al. 2019).

A teacher must not have seen the sequences a run holds out: distilling a DDRNet trained on
all of CamVid's train into a student validated on ``train:0006R0`` would leak that sequence.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DistillLoss", "TeacherCache", "cache_teacher_logits"]


class TeacherCache:
    """Where a teacher's cached logits live and how to read one image's map.

    Args:
        teacher: the teacher's model file (checkpoint or ``.onnx``); its SHA-256 names the
            cache folder.
        stride: the cached maps' downsampling factor.
        root: cache root (default :func:`edgevision.io.cache_root`).
    """

    def __init__(
        self, teacher: str | os.PathLike[str], *, stride: int = 4, root: Path | None = None
    ) -> None:
        from edgevision.io import cache_root, file_sha256

        self.teacher = Path(teacher)
        self.stride = int(stride)
        self.sha = file_sha256(self.teacher)
        self.dir = (root or cache_root()) / "distill" / f"{self.sha[:16]}_s{self.stride}"

    def path(self, image_path: str | os.PathLike[str]) -> Path:
        key = hashlib.sha256(str(Path(image_path).resolve()).encode()).hexdigest()[:24]
        return self.dir / f"{key}.npy"

    def load(self, image_path: str | os.PathLike[str], size: tuple[int, int]) -> np.ndarray:
        """The cached ``(C, h, w)`` float16 map upsampled to ``size`` = ``(H, W)`` as
        ``(H, W, C)`` float32 (for the geometric augmentation)."""
        import cv2

        soft = np.load(self.path(image_path)).astype(np.float32)
        hwc = np.ascontiguousarray(soft.transpose(1, 2, 0))
        out = cv2.resize(hwc, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        return out if out.ndim == 3 else out[..., None]


def cache_teacher_logits(
    cache: TeacherCache,
    image_paths: Sequence[str | os.PathLike[str]],
    *,
    class_names: Sequence[str],
    threads: int = 2,
    progress: bool = False,
) -> int:
    """Compute and store the teacher's logits of every image not cached yet.

    Returns:
        How many images were computed now (0: all cached).

    Raises:
        ConfigError: the teacher is not a semantic model, or its classes differ.
    """
    from edgevision.errors import ConfigError
    from edgevision.io import atomic_path, read_image
    from edgevision.preprocess import preprocess
    from edgevision.runtime import load_engine
    from edgevision.tasks import get_task

    todo = [p for p in image_paths if not cache.path(p).is_file()]
    if not todo:
        return 0
    engine = load_engine(str(cache.teacher), threads=threads)
    spec = engine.spec
    if not get_task(spec.task).dense:
        raise ConfigError(f"distillation teacher {cache.teacher} is {spec.task}, not semantic")
    if list(spec.class_names) != list(class_names):
        raise ConfigError(
            f"distillation teacher {cache.teacher} has classes {list(spec.class_names)}, the "
            f"data has {list(class_names)}"
        )
    cache.dir.mkdir(parents=True, exist_ok=True)
    import cv2

    for k, p in enumerate(todo):
        image = read_image(p)
        x, _ = preprocess(image, spec)
        logits = np.asarray(engine.run(x)[0][0], np.float32)  # (C, h, w) at the input size
        h, w = image.shape[:2]
        sh, sw = max(1, h // cache.stride), max(1, w // cache.stride)
        small = cv2.resize(
            np.ascontiguousarray(logits.transpose(1, 2, 0)), (sw, sh), interpolation=cv2.INTER_AREA
        )
        small = small if small.ndim == 3 else small[..., None]
        with atomic_path(cache.path(p)) as tmp, open(tmp, "wb") as f:
            np.save(f, small.transpose(2, 0, 1).astype(np.float16))
        if progress and (k + 1) % 20 == 0:
            print(f"teacher logits: {k + 1}/{len(todo)} images", flush=True)
    return len(todo)


def _main_logits(outputs: Any) -> torch.Tensor:
    return outputs["out"] if isinstance(outputs, dict) else outputs


class DistillLoss(nn.Module):
    """``task_loss(outputs, labels) + weight · T² · KL(softmax(t/T) ‖ softmax(s/T))``.

    Targets are ``(labels, soft)``: ``labels`` ``(N, H, W)`` int64 with ``ignore_index``,
    ``soft`` ``(N, C, H/stride, W/stride)`` teacher logits. The student's main logits are
    resized (bilinear) to the soft maps' size and the KL is averaged over pixels whose
    (nearest-sampled) label is not ignored. Plain label tensors (validation, other loaders)
    get the task loss only.
    """

    def __init__(
        self, task_loss: nn.Module, *, weight: float, temperature: float, ignore_index: int
    ) -> None:
        super().__init__()
        self.task_loss = task_loss
        self.weight = float(weight)
        self.t = float(temperature)
        self.ignore_index = int(ignore_index)

    def forward(self, outputs: Any, targets: Any) -> torch.Tensor:
        if not isinstance(targets, (tuple, list)):
            return self.task_loss(outputs, targets)  # type: ignore[no-any-return]
        labels, soft = targets
        loss = self.task_loss(outputs, labels)
        s = _main_logits(outputs).float()
        h, w = soft.shape[-2:]
        if s.shape[-2:] != (h, w):
            s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
        valid = F.interpolate(labels[:, None].float(), size=(h, w), mode="nearest")[:, 0]
        valid = valid != self.ignore_index
        t = self.t
        log_p = F.log_softmax(s / t, dim=1)
        q = F.softmax(soft.float() / t, dim=1)
        kl = (q * (torch.log(q.clamp_min(1e-8)) - log_p)).sum(dim=1)  # (N, h, w)
        n = valid.sum().clamp_min(1)
        kd = (kl * valid).sum() / n * (t * t)
        return loss + self.weight * kd  # type: ignore[no-any-return]
