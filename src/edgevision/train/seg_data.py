"""Training data for semantic segmentation: augmentation, a seeded sampler, loaders.

Determinism does not depend on worker processes or on resuming: the random numbers of the
augmentation of sample ``i`` in epoch ``e`` come from their own generator seeded by
``(seed, e, i)``, and the order of samples in epoch ``e`` is a permutation seeded by
``(seed, e)`` (:class:`SeededSampler`). Any epoch, or any point inside one, can therefore be
replayed exactly, with any ``num_workers``.

Augmentation (numpy + OpenCV, on ``(H, W, 3)`` uint8 RGB images and ``(H, W)`` int64 labels):
random scale, padding to the crop (image with the mean colour, labels with
``ignore_index``), random crop, horizontal flip, photometric jitter (brightness, contrast,
saturation, hue), optionally the camera/lighting changes of a new street
(:func:`street_photometric`: gamma, colour temperature, blur, sensor noise, JPEG), then
normalisation with the model spec's mean/std (0–255 scale).
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from edgevision.data.semantic import SemanticDataset
from edgevision.errors import DataError

__all__ = [
    "SeededSampler",
    "SegEvalDataset",
    "SegTrainDataset",
    "augment",
    "build_eval_loader",
    "build_train_loader",
    "check_split",
    "seed_seq",
    "street_photometric",
]


def seed_seq(*keys: int) -> int:
    """A 63-bit seed mixed from integer ``keys`` (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> 1)


def _nearest_resize(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize of a label map of any integer dtype (``floor`` sampling)."""
    H, W = mask.shape
    rows = np.minimum((np.arange(h) * (H / h)).astype(np.int64), H - 1)
    cols = np.minimum((np.arange(w) * (W / w)).astype(np.int64), W - 1)
    return mask[rows[:, None], cols[None, :]]


def jitter_colors(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast, saturation (factors ``1 ± strength``) and hue (up to
    ``strength * 18°``) on ``(H, W, 3)`` uint8 RGB; returns uint8 RGB."""
    import cv2

    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    hue = rng.uniform(-strength, strength) * 9.0  # OpenCV hue units: 2° each, 0–179
    img = image.astype(np.float32) * b
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = (img - gray.mean()) * c + gray.mean()
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = gray[..., None] + (img - gray[..., None]) * s
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if abs(hue) >= 0.5:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + int(round(hue))) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def street_photometric(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """What changes between street sequences filmed by other cameras at other times of day.

    CamVid's sequences differ in light (dusk ``0001TP``, overcast, low sun) and camera
    processing more than in layout, so a model selected on frames next to its training
    frames learns one camera's look. Each change is applied independently with probability
    ``0.5 * strength`` (``strength`` in 0–1, 0 = off), its size scaled by ``strength``:

    - gamma in ``[1 / (1 + 0.8 s), 1 + 0.8 s]`` (dusk is a gamma > 1 on 0–1 intensities);
    - colour temperature: red and blue gains ``1 ± 0.15 s`` in opposite directions;
    - Gaussian blur, sigma up to ``1.5 s`` px (motion, focus, compression smoothing);
    - Gaussian sensor noise, sigma up to ``8 s`` grey levels;
    - JPEG re-encoding at a quality drawn from ``[95 - 65 s, 95]``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        rng: the sample's generator; a fixed number of numbers is drawn whatever is applied,
            so other augmentations of the sample do not depend on which changes fired.
        strength: 0–1.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    import cv2

    s = float(strength)
    fire = rng.random(5) < 0.5 * s
    u = rng.random(5)
    if not fire.any():
        return image
    img = image.astype(np.float32)
    if fire[0]:
        g = 1.0 + 0.8 * s * (2 * u[0] - 1)
        g = g if g >= 1 else 1.0 / (2.0 - g)
        img = 255.0 * (img / 255.0) ** g
    if fire[1]:
        t = 0.15 * s * (2 * u[1] - 1)
        img = img * np.array([1 + t, 1.0, 1 - t], np.float32)
    if fire[2]:
        sigma = max(0.3, 1.5 * s * u[2])
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)
    if fire[3]:
        noise = np.random.default_rng(int(u[3] * 2**31)).normal(0.0, 8.0 * s * u[3], img.shape)
        img = img + noise.astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if fire[4]:
        quality = int(round(95 - 65 * s * u[4]))
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            decoded = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
            out = np.ascontiguousarray(decoded[..., ::-1])
    return out


def augment(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: tuple[int, int],
    ignore_index: int,
    scale_range: tuple[float, float] = (0.5, 2.0),
    flip: bool = True,
    jitter: float = 0.2,
    photometric: float = 0.0,
    pad_color: Sequence[int] = (124, 116, 104),
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Random scale, pad, crop, flip and photometric jitter of one sample.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` integer class ids (``ignore_index`` allowed).
        rng: the sample's generator (all random numbers are drawn from it).
        crop: output ``(h, w)``.
        ignore_index: label value of padded pixels.
        scale_range: uniform random scale range.
        flip: random horizontal flip with probability 0.5.
        jitter: photometric strength in 0–1 (0 = off).
        photometric: strength of :func:`street_photometric` in 0–1 (0 = off, and no random
            numbers drawn for it, so existing runs replay unchanged).
        pad_color: RGB 0–255 value of padded image pixels (the normalisation mean, so padding
            becomes 0 after normalising).
        extra: an ``(H, W, C)`` float32 map (a teacher's logits) that takes the geometric
            changes (scale bilinear, pad with 0, crop, flip) and not the photometric ones; it
            draws no random numbers, so the image and labels are as without it.

    Returns:
        ``(crop_h, crop_w, 3)`` uint8 RGB image and ``(crop_h, crop_w)`` int64 labels, and
        the ``(crop_h, crop_w, C)`` extra map when ``extra`` is given.
    """
    image, mask, maps, _ = augment_maps(
        image, mask, rng, crop=crop, ignore_index=ignore_index, scale_range=scale_range,
        flip=flip, jitter=jitter, photometric=photometric, pad_color=pad_color, soft=extra,
    )  # fmt: skip
    return (image, mask) if extra is None else (image, mask, maps[-1])


def augment_maps(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: tuple[int, int],
    ignore_index: int,
    extras: Sequence[np.ndarray] = (),
    scale_range: tuple[float, float] = (0.5, 2.0),
    flip: bool = True,
    jitter: float = 0.2,
    photometric: float = 0.0,
    pad_color: Sequence[int] = (124, 116, 104),
    soft: np.ndarray | None = None,
    log_scale: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], float]:
    """:func:`augment` that also moves further per-pixel maps (depth, instance ids) with the
    image: each is resized nearest-neighbour, padded with 0 (= no truth), cropped and
    flipped like the labels. Draws the same random numbers as :func:`augment`.

    ``soft`` (an ``(H, W, C)`` float map, e.g. a teacher's logits) is resized bilinearly
    instead, padded with 0, cropped and flipped; it is appended last to ``extras``.

    ``log_scale`` draws the scale uniformly in log space (one uniform draw, as otherwise), so
    its median is the range's geometric centre (1 for ``(0.5, 2.0)``) instead of its
    midpoint (1.25): a depth target divided by the scale is then not biased towards near.

    Returns:
        ``(image, labels, extras, scale)``: ``extras`` in the input's dtypes, ``scale`` the
        random scale that was applied (a depth map's values may need dividing by it).
    """
    import cv2

    ch, cw = crop
    h, w = mask.shape
    if log_scale:
        scale = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    else:
        scale = rng.uniform(*scale_range)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    maps = [np.asarray(e) for e in extras]
    extra = soft
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        mask = _nearest_resize(mask, nh, nw)
        maps = [_nearest_resize(e, nh, nw) for e in maps]
        if extra is not None:
            extra = cv2.resize(extra, (nw, nh), interpolation=cv2.INTER_LINEAR)
            extra = extra if extra.ndim == 3 else extra[..., None]
    ph, pw = max(ch - nh, 0), max(cw - nw, 0)
    if ph or pw:
        image = cv2.copyMakeBorder(
            image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=[int(v) for v in pad_color]
        )
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=ignore_index)
        maps = [np.pad(e, ((0, ph), (0, pw))) for e in maps]
        if extra is not None:
            extra = np.pad(extra, ((0, ph), (0, pw), (0, 0)))
    y0 = int(rng.integers(0, mask.shape[0] - ch + 1))
    x0 = int(rng.integers(0, mask.shape[1] - cw + 1))
    image = image[y0 : y0 + ch, x0 : x0 + cw]
    mask = mask[y0 : y0 + ch, x0 : x0 + cw]
    maps = [e[y0 : y0 + ch, x0 : x0 + cw] for e in maps]
    if extra is not None:
        extra = extra[y0 : y0 + ch, x0 : x0 + cw]
    if flip and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
        maps = [e[:, ::-1] for e in maps]
        if extra is not None:
            extra = extra[:, ::-1]
    if jitter > 0:
        image = jitter_colors(np.ascontiguousarray(image), rng, jitter)
    if photometric > 0:
        image = street_photometric(np.ascontiguousarray(image), rng, photometric)
    return (
        np.ascontiguousarray(image),
        np.ascontiguousarray(mask).astype(np.int64),
        [np.ascontiguousarray(e) for e in maps]
        + ([] if extra is None else [np.ascontiguousarray(extra)]),
        float(scale),
    )


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float], color_order: str) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.bgr = color_order == "BGR"

    def __call__(self, image_rgb: np.ndarray) -> torch.Tensor:
        img = image_rgb[..., ::-1] if self.bgr else image_rgb
        x = (img.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


class SegTrainDataset(Dataset):
    """Augmented training samples of a :class:`SemanticFolder` or :class:`CityscapesFolder`.

    Items are ``(image, label)``: ``(3, crop_h, crop_w)`` float32 normalised with ``mean``/
    ``std`` (0–255 scale) in ``color_order``, and ``(crop_h, crop_w)`` int64 class ids with
    ``ignore_index``. Call :meth:`set_epoch` before each epoch (the trainer does).

    Args:
        folder: the split to read.
        crop: output ``(h, w)``.
        mean: normalisation mean, 0–255, in ``color_order``.
        std: normalisation std, 0–255.
        color_order: channel order the network expects.
        seed: augmentation seed.
        scale_range / flip / jitter / photometric: see :func:`augment`.
        teacher: cached teacher logits (:class:`~edgevision.train.distill.TeacherCache`):
            items are then ``(image, (label, soft))`` with ``soft`` the teacher's
            ``(C, crop_h / stride, crop_w / stride)`` logits under the same geometric
            augmentation (:mod:`edgevision.train.distill`).
    """

    def __init__(
        self,
        folder: SemanticDataset,
        *,
        crop: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        color_order: str = "RGB",
        seed: int = 0,
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        jitter: float = 0.2,
        photometric: float = 0.0,
        teacher: Any = None,
    ) -> None:
        self.folder = folder
        self.teacher = teacher
        self.crop = (int(crop[0]), int(crop[1]))
        self.normalize = Normalize(mean, std, color_order)
        self.pad_color = [int(round(v)) for v in (mean[::-1] if color_order == "BGR" else mean)]
        self.seed = int(seed)
        self.scale_range = scale_range
        self.flip = flip
        self.jitter = float(jitter)
        self.photometric = float(photometric)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation random numbers of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        sample = self.folder[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        extra = None
        if self.teacher is not None:
            extra = self.teacher.load(sample.image_path, sample.mask.shape)
        out = augment(
            sample.image,
            sample.mask,
            rng,
            crop=self.crop,
            ignore_index=self.folder.ignore_index,
            scale_range=self.scale_range,
            flip=self.flip,
            jitter=self.jitter,
            photometric=self.photometric,
            pad_color=self.pad_color,
            extra=extra,
        )
        image, mask = out[0], out[1]
        if self.teacher is None:
            return self.normalize(image), torch.from_numpy(mask)
        import cv2

        st = self.teacher.stride
        soft = cv2.resize(
            out[2], (max(1, self.crop[1] // st), max(1, self.crop[0] // st)),
            interpolation=cv2.INTER_AREA,
        )  # fmt: skip
        soft = soft if soft.ndim == 3 else soft[..., None]
        soft_t = torch.from_numpy(np.ascontiguousarray(soft.transpose(2, 0, 1)))
        return self.normalize(image), (torch.from_numpy(mask), soft_t)


class SegEvalDataset(Dataset):
    """Validation samples, no augmentation, prepared as the runtime prepares them.

    Items are ``(image (3, h, w) float32, label (H, W) int64)``: the image resized (stretch,
    bilinear, as :func:`edgevision.preprocess.resize_image`) to ``input_size`` when given and
    different, then normalised; the label at the file's full size. Scoring then upsamples
    the predicted label map to the label size, so the mIoU equals ``edgevision eval``'s.

    Args:
        folder: the split to read.
        mean: normalisation mean, 0–255, in ``color_order``.
        std: normalisation std, 0–255.
        color_order: channel order the network expects.
        input_size: network input ``(h, w)``; ``None`` = each image's own size.
    """

    def __init__(
        self,
        folder: SemanticDataset,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        color_order: str = "RGB",
        input_size: tuple[int, int] | None = None,
    ) -> None:
        self.folder = folder
        self.normalize = Normalize(mean, std, color_order)
        self.input_size = input_size

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.folder[i]
        image = s.image
        if self.input_size is not None and tuple(image.shape[:2]) != tuple(self.input_size):
            from edgevision.preprocess import resize_image

            image, _ = resize_image(image, self.input_size, "stretch")
        return self.normalize(image), torch.from_numpy(s.mask)


class SeededSampler(Sampler[int]):
    """Epoch-seeded sample order, sharded over processes (a ``DistributedSampler`` that can
    also start in the middle of an epoch).

    The order of epoch ``e`` is a permutation seeded by ``(seed, e)``; with ``pad`` it is
    extended cyclically to a multiple of ``world_size`` and rank ``r`` takes every
    ``world_size``-th index from ``r``. Without ``shuffle`` the order is ``0 .. n-1``.

    Args:
        n: dataset size.
        seed: order seed.
        shuffle: random order (training) or sequential (evaluation).
        rank: this process's rank.
        world_size: number of processes.
        pad: repeat samples so every rank gets the same count (training); without it, ranks
            may get one sample fewer (evaluation, so no sample counts twice).
    """

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, {world_size})")
        self.n, self.seed, self.shuffle = int(n), int(seed), shuffle
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Use the order of ``epoch`` and leave out this rank's first ``skip`` samples."""
        self.epoch, self.skip = int(epoch), int(skip)

    def indices(self, epoch: int) -> list[int]:
        """This rank's full sample order of ``epoch`` (ignoring ``skip``)."""
        if self.shuffle:
            g = torch.Generator().manual_seed(seed_seq(self.seed, epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.pad and order and len(order) % self.world_size:
            extra = self.world_size - len(order) % self.world_size
            order += (order * (extra // len(order) + 1))[:extra]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices(self.epoch)[self.skip :])

    def __len__(self) -> int:
        return max(len(self.indices(self.epoch)) - self.skip, 0)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker set-up: seed numpy and python ``random`` from the worker's torch
    seed, and leave SIGTERM to the main process (a service manager signals the whole process
    group; the main process finishes its step and saves ``last.pt``, and stops the workers)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def build_train_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int = 0,
    workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """Shuffled, sharded training loader over full batches (``drop_last``).

    Raises:
        DataError: fewer samples per process than ``batch_size`` (no full batch).
    """
    sampler = SeededSampler(
        len(dataset),  # type: ignore[arg-type]
        seed=seed,
        rank=rank,
        world_size=world_size,
    )
    if len(sampler) < batch_size:
        raise DataError(
            f"training split has {len(dataset)} images, {len(sampler)} per process: "  # type: ignore[arg-type]
            f"fewer than batch_size {batch_size}"
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=workers,
        worker_init_fn=seed_worker,
        # a private generator: creating an epoch's iterator does not draw from the global RNG
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def build_eval_loader(
    dataset: Dataset, *, workers: int = 0, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """Sequential loader, batch 1 (images may differ in size), sharded without repeats."""
    sampler = SeededSampler(
        len(dataset),  # type: ignore[arg-type]
        shuffle=False,
        rank=rank,
        world_size=world_size,
        pad=False,
    )
    return DataLoader(
        dataset, batch_size=1, sampler=sampler, num_workers=workers, worker_init_fn=seed_worker
    )


def check_split(folder: SemanticDataset, *, progress: bool = False) -> tuple[int, int]:
    """Read every image and label of a split once and check them, before any training.

    Checks that the split is not empty, every image decodes, every label has the image's
    size and only ids in ``[0, num_classes)`` or ``ignore_index``
    (the folder reader raises naming the file).

    Returns:
        ``(num_samples, num_labelled_pixels)``.

    Raises:
        DataError: an empty split, or the first bad file, named.
    """
    n = len(folder)
    if n == 0:
        raise DataError(f"split {folder.split!r} of {folder.root} is empty: no images")
    indices: Any = range(n)
    if progress:
        from rich.progress import track

        indices = track(indices, description=f"checking {folder.split}", transient=True)
    labelled = 0
    for i in indices:
        m = folder[i].mask
        labelled += int((m != folder.ignore_index).sum())
    return n, labelled
