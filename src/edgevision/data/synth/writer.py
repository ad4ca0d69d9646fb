"""Write a complete synthetic dataset folder (see :func:`generate`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.config import to_dict
from edgevision.data.synth.config import SEMANTIC_CLASSES, THING_CLASSES, SynthConfig
from edgevision.data.synth.render import (
    Frame,
    Scene,
    frame_depth,
    make_scene,
    render_frame,
    scene_flow,
)
from edgevision.errors import DataError
from edgevision.results import encode_rle, panoptic_id_to_rgb, rle_encode

__all__ = ["GENERATOR", "SPLITS", "SynthSummary", "generate"]

GENERATOR = "edgevision.data.synth"
"""Value of ``generator`` in the ``dataset.yaml`` of generated folders (marks them as safe to
replace with ``overwrite=True``)."""

SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 0, "val": 1}
_KIND_IMAGE, _KIND_VIDEO = 0, 1
IGNORE_INDEX = 255


@dataclass
class SynthSummary:
    """What :func:`generate` wrote.

    Attributes:
        out_dir: the dataset folder.
        seed: the seed used.
        image_size: ``(H, W)``.
        images: still images per split.
        videos: videos per split.
        frames: frames per video.
        instances: COCO annotations (visible objects) per split.
        tracks: YouTube-VIS tracks per split.
        polygons: COCO annotations stored as polygons (the rest are compressed RLE).
        seconds: wall time of the run.
    """

    out_dir: Path
    seed: int
    image_size: tuple[int, int]
    images: dict[str, int] = field(default_factory=dict)
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    instances: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    polygons: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = to_dict(self)
        d["out_dir"] = str(self.out_dir)
        return d


# ------------------------------------------------------------------------------------------
# small writers (inside the temporary folder, so no per-file atomicity is needed)
# ------------------------------------------------------------------------------------------
def _imwrite(path: Path, image: np.ndarray, params: list[int] | None = None) -> None:
    import cv2

    img = image
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, enc = cv2.imencode(path.suffix, img, params or [])
    if not ok:
        raise DataError(f"cannot encode image: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    enc.tofile(str(path))


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)


def _png_params() -> list[int]:
    import cv2

    return [cv2.IMWRITE_PNG_COMPRESSION, 3]


def _dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")


def _box_xywh(mask: np.ndarray) -> list[float]:
    """Tight box of a non-empty mask in pixel-corner coordinates: ``[x, y, w, h]``."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return [float(xs[0]), float(ys[0]), float(xs[-1] - xs[0] + 1), float(ys[-1] - ys[0] + 1)]


def _semantic(scene: Scene, frame: Frame) -> np.ndarray:
    lut = np.array([0] + [o.class_index + 1 for o in scene.objects], dtype=np.uint8)
    return lut[frame.layer_map]


def _categories() -> list[dict[str, Any]]:
    return [{"id": k + 1, "name": n, "supercategory": "shape"} for k, n in enumerate(THING_CLASSES)]


BACKGROUND_CATEGORY = len(THING_CLASSES) + 1
"""COCO panoptic category id of the background (stuff)."""

#: SynthConfig fields added after datasets were first published: recorded in
#: ``dataset.yaml`` only when set, so a run without them stays byte-identical
_ADDITIVE = ("depth", "panoptic", "still_frames")


def _panoptic_categories() -> list[dict[str, Any]]:
    things = [{**c, "isthing": 1} for c in _categories()]
    stuff = {"id": BACKGROUND_CATEGORY, "name": SEMANTIC_CLASSES[0], "supercategory": "stuff"}
    return [*things, {**stuff, "isthing": 0}]


def _panoptic(
    scene: Scene, frame: Frame, name: str, image_id: int
) -> tuple[dict[str, Any], np.ndarray]:
    """COCO panoptic annotation and PNG of a frame: segment id = layer index + 1."""
    seg_map = frame.layer_map.astype(np.int64) + 1
    infos = []
    cats = [BACKGROUND_CATEGORY] + [o.class_index + 1 for o in scene.objects]
    for layer, cat in enumerate(cats):
        vis = frame.layer_map == layer
        area = int(vis.sum())
        if area == 0:
            continue
        infos.append(
            {
                "id": layer + 1,
                "category_id": cat,
                "iscrowd": 0,
                "bbox": _box_xywh(vis),
                "area": area,
            }
        )
    ann = {"image_id": image_id, "file_name": f"{name}.png", "segments_info": infos}
    return ann, panoptic_id_to_rgb(seg_map)


def _rng(cfg: SynthConfig, split: str, kind: int, index: int) -> np.random.Generator:
    # one independent stream per item: changing a count does not change the other items
    return np.random.default_rng([cfg.seed, _SPLIT_CODE[split], kind, index])


# ------------------------------------------------------------------------------------------
# splits
# ------------------------------------------------------------------------------------------
def _write_images(
    tmp: Path, split: str, n: int, cfg: SynthConfig, summary: SynthSummary, advance: Any
) -> None:
    import cv2

    h, w = cfg.image_size
    ext = ".jpg" if cfg.image_format == "jpg" else ".png"
    img_params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if ext == ".jpg" else _png_params()
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    names: list[str] = []
    pan_anns: list[dict[str, Any]] = []
    polygons = 0
    for i in range(n):
        rng = _rng(cfg, split, _KIND_IMAGE, i)
        scene = make_scene(rng, cfg, 1, still=True)
        frame = render_frame(scene, 0, rng=rng, noise_std=cfg.noise_std)
        name = f"{split}_{i:05d}"
        names.append(name)
        _imwrite(tmp / "images" / split / f"{name}{ext}", frame.image, img_params)
        _imwrite(tmp / "labels" / split / f"{name}.png", _semantic(scene, frame), _png_params())
        image_id = i + 1
        images.append({"id": image_id, "file_name": f"{name}{ext}", "height": h, "width": w})
        if cfg.depth:
            _save_npy(tmp / "depth" / split / f"{name}.npy", frame_depth(scene, 0, frame.layer_map))
        if cfg.panoptic:
            pan, png = _panoptic(scene, frame, name, image_id)
            pan_anns.append(pan)
            _imwrite(tmp / "panoptic" / split / f"{name}.png", png, _png_params())
        for k, obj in enumerate(scene.objects):
            vis = frame.visible_mask(k)
            area = int(vis.sum())
            if area == 0:
                continue
            poly = frame.polygons[k]
            inside = bool((poly >= 0).all() and (poly[:, 0] <= w).all() and (poly[:, 1] <= h).all())
            if inside and area == int(frame.full_masks[k].sum()):
                # not occluded, not cut by the border: the polygon decodes to exactly `vis`
                seg: Any = [[float(v) for v in poly.reshape(-1)]]
                polygons += 1
            else:
                seg = encode_rle(vis)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": obj.class_index + 1,
                    "bbox": _box_xywh(vis),
                    "area": area,
                    "iscrowd": 0,
                    "segmentation": seg,
                }
            )
        advance()
    (tmp / f"{split}.txt").write_text("".join(f"{nm}\n" for nm in names))
    (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
    (tmp / "labels" / split).mkdir(parents=True, exist_ok=True)
    _dump_json(
        tmp / "annotations" / f"instances_{split}.json",
        {
            "info": {
                "description": f"edgevision synthetic shapes, seed {cfg.seed}",
                "version": "1.0",
            },
            "images": images,
            "annotations": anns,
            "categories": _categories(),
        },
    )
    if cfg.panoptic:
        (tmp / "panoptic" / split).mkdir(parents=True, exist_ok=True)
        _dump_json(
            tmp / "annotations" / f"panoptic_{split}.json",
            {
                "info": {"description": f"edgevision synthetic shapes, panoptic, seed {cfg.seed}"},
                "images": images,
                "annotations": pan_anns,
                "categories": _panoptic_categories(),
            },
        )
    if cfg.depth:
        (tmp / "depth" / split).mkdir(parents=True, exist_ok=True)
    summary.images[split] = n
    summary.instances[split] = len(anns)
    summary.polygons += polygons


def _write_videos(
    tmp: Path, split: str, n: int, cfg: SynthConfig, summary: SynthSummary, advance: Any
) -> None:
    from edgevision.data.flow import write_flow

    h, w = cfg.image_size
    T = cfg.frames
    base = tmp / "videos" / split
    base.mkdir(parents=True, exist_ok=True)
    videos: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i in range(n):
        rng = _rng(cfg, split, _KIND_VIDEO, i)
        scene = make_scene(rng, cfg, T, still=False)
        name = f"{split}_vid{i:03d}"
        vdir = base / name
        frames = [render_frame(scene, t, rng=rng, noise_std=cfg.noise_std) for t in range(T)]
        for t, fr in enumerate(frames):
            _imwrite(vdir / f"{t:05d}.png", fr.image, _png_params())
            _imwrite(vdir / "labels" / f"{t:05d}.png", _semantic(scene, fr), _png_params())
            _imwrite(
                vdir / "instances" / f"{t:05d}.png", fr.layer_map.astype(np.uint8), _png_params()
            )
            if cfg.depth:
                _save_npy(vdir / "depth" / f"{t:05d}.npy", frame_depth(scene, t, fr.layer_map))
            if t + 1 < T:
                flow, valid = scene_flow(scene, t, fr.layer_map, frames[t + 1].layer_map)
                write_flow(vdir / "flow" / f"{t:05d}.{cfg.flow_format}", flow)
                _imwrite(
                    vdir / "flow" / f"{t:05d}_valid.png",
                    valid.astype(np.uint8) * 255,
                    _png_params(),
                )
            advance()
        if cfg.write_mp4:
            _write_mp4(base / f"{name}.mp4", [f.image for f in frames], cfg.fps)
        video_id = i + 1
        video: dict[str, Any] = {
            "id": video_id,
            "width": w,
            "height": h,
            "length": T,
            "file_names": [f"{name}/{t:05d}.png" for t in range(T)],
        }
        if tuple(cfg.motion_range) != (1.0, 1.0):
            video["motion"] = round(scene.motion, 4)  # this video's motion factor
        videos.append(video)
        for k, obj in enumerate(scene.objects):
            segs: list[Any] = []
            boxes: list[Any] = []
            areas: list[Any] = []
            for fr in frames:
                vis = fr.visible_mask(k)
                if vis.any():
                    segs.append(rle_encode(vis))
                    boxes.append(_box_xywh(vis))
                    areas.append(int(vis.sum()))
                else:
                    segs.append(None)
                    boxes.append(None)
                    areas.append(None)
            if all(s is None for s in segs):
                continue
            anns.append(
                {
                    "id": len(anns) + 1,
                    "video_id": video_id,
                    "category_id": obj.class_index + 1,
                    "instance_id": k + 1,
                    "iscrowd": 0,
                    "height": h,
                    "width": w,
                    "segmentations": segs,
                    "bboxes": boxes,
                    "areas": areas,
                }
            )
    _dump_json(
        tmp / "annotations" / f"ytvis_{split}.json",
        {
            "info": {"description": f"edgevision synthetic shapes (videos), seed {cfg.seed}"},
            "videos": videos,
            "annotations": anns,
            "categories": _categories(),
        },
    )
    summary.videos[split] = n
    summary.tracks[split] = len(anns)


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(path), fourcc, float(fps), (w, h))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write mp4 (codec mp4v unavailable): {path}")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


# ------------------------------------------------------------------------------------------
# metadata
# ------------------------------------------------------------------------------------------
def _dataset_yaml(cfg: SynthConfig) -> str:
    import yaml

    data = {
        "name": "edgevision-synth",
        "generator": GENERATOR,
        "seed": cfg.seed,
        "classes": list(SEMANTIC_CLASSES),
        "ignore_index": IGNORE_INDEX,
        "thing_classes": list(THING_CLASSES),
        "image_size": list(cfg.image_size),
        "config": {
            k: v
            for k, v in to_dict(cfg).items()
            if k not in _ADDITIVE or v != getattr(SynthConfig, k)
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


#: SynthConfig fields with a flag of their own in ``edgevision data synth`` (the others are
#: ``--set`` overrides), in the order the recorded command lists them
_FLAGS = {
    "train_images": "--images",
    "val_images": "--val-images",
    "train_videos": "--videos",
    "val_videos": "--val-videos",
    "frames": "--frames",
    "image_size": "--size",
}


def _command(cfg: SynthConfig) -> str:
    d = SynthConfig()
    parts = ["edgevision data synth --out DIR", f"--seed {cfg.seed}"]
    for name, flag in _FLAGS.items():
        v = getattr(cfg, name)
        if v != getattr(d, name):
            parts.append(f"{flag} {'x'.join(map(str, v)) if name == 'image_size' else v}")
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if f.name != "seed" and f.name not in _FLAGS and v != getattr(d, f.name):
            parts.append(f"--set {f.name}={str(v).lower() if isinstance(v, bool) else v}")
    return " ".join(parts)


def _readme(cfg: SynthConfig, s: SynthSummary) -> str:
    h, w = cfg.image_size
    ext = cfg.image_format
    ff = cfg.flow_format
    flow_kind = "Middlebury .flo" if ff == "flo" else ".npy"
    lines = [
        "# edgevision synthetic shapes dataset",
        "",
        f"Generated by `{GENERATOR}` with seed **{cfg.seed}**, {h}x{w} (HxW) pixels.",
        "The same seed and config regenerate byte-identical labels, annotations and flows.",
        "",
        f"Command: `{_command(cfg)}`",
        "",
        "Scenes: textured backgrounds (smooth noise and/or stripes) panning, with textured",
        "shapes that translate, rotate and scale and occlude each other (later objects on top).",
        "",
        "## Classes",
        "",
        "| semantic id | class | COCO / YouTube-VIS category id |",
        "|---|---|---|",
        "| 0 | background | - |",
        *[f"| {k + 1} | {n} | {k + 1} |" for k, n in enumerate(THING_CLASSES)],
        "",
        f"`ignore_index` is {IGNORE_INDEX} (not used by the generator).",
        "",
        "## Contents",
        "",
        "| split | images | COCO instances | videos | frames/video | tracks |",
        "|---|---|---|---|---|---|",
        *[
            f"| {sp} | {s.images.get(sp, 0)} | {s.instances.get(sp, 0)} | {s.videos.get(sp, 0)} "
            f"| {cfg.frames} | {s.tracks.get(sp, 0)} |"
            for sp in SPLITS
        ],
        "",
        "## Layout",
        "",
        "```",
        "dataset.yaml                         classes, ignore_index, thing_classes, seed, config",
        "{split}.txt                          image NAMEs of the split",
        f"images/{{split}}/NAME.{ext:<4}            RGB image",
        "labels/{split}/NAME.png              semantic class ids (uint8, same size)",
        "annotations/instances_{split}.json   COCO: boxes + masks of each object's visible part",
        "annotations/ytvis_{split}.json       YouTube-VIS 2019: per-video object tracks",
        "videos/{split}/VIDEO/NNNNN.png       frames (lossless)",
        "videos/{split}/VIDEO/labels/NNNNN.png     semantic class ids",
        "videos/{split}/VIDEO/instances/NNNNN.png  per-video instance id (0 = background)",
        f"videos/{{split}}/VIDEO/flow/NNNNN.{ff:<4}     forward flow NNNNN -> NNNNN+1",
        "videos/{split}/VIDEO/flow/NNNNN_valid.png  255 where that flow is valid",
        "videos/{split}/VIDEO.mp4             the frames as a video (mp4v)"
        if cfg.write_mp4
        else "(no mp4 files: write_mp4 was false)",
        *(
            [
                "depth/{split}/NAME.npy               depth, float32 metres (exact, scene model)",
                "videos/{split}/VIDEO/depth/NNNNN.npy     depth of each frame",
            ]
            if cfg.depth
            else []
        ),
        *(
            [
                "annotations/panoptic_{split}.json    COCO panoptic: segments of each image",
                "panoptic/{split}/NAME.png            segment ids, id = R + 256 G + 256^2 B",
            ]
            if cfg.panoptic
            else []
        ),
        "```",
        "",
        "## Conventions",
        "",
        "* COCO boxes `[x, y, w, h]` are the exact extent of the visible mask in pixel-corner",
        "  coordinates (`x = min column`, `w = max column - min column + 1`).",
        "* COCO masks: objects that are neither occluded nor cut by the image border are stored",
        "  as polygons (which decode to exactly the visible mask); all others as compressed RLE.",
        f"  {s.polygons} annotations are polygons. YouTube-VIS masks are uncompressed RLE, `null`",
        "  in frames where the object is not visible; `instance_id` matches the instance PNGs.",
        "* Flow is float32 `(dx, dy)` in pixels: the point at pixel `(x, y)` of frame t is at",
        "  `(x + dx, y + dy)` in frame t+1 (pixel centres at integers). It is exact (computed",
        "  from the same affine motions that rendered the frames); it is invalid where the point",
        "  leaves the image or is hidden in frame t+1 (or lands on an object edge).",
        f"  Read it with `edgevision.data.flow.read_flow` ({flow_kind}).",
        f"* Pixel noise std: {cfg.noise_std}.",
        *(
            [
                "* Depth: the background is a ground plane, 60 m at the top row to 10 m at the",
                "  bottom (inverse depth linear in the row); objects are flat, 6 m (back) to 2 m",
                "  (front), divided by their current scale.",
            ]
            if cfg.depth
            else []
        ),
        *(
            [
                "* Panoptic: segment id = layer + 1 (1 = background, category "
                f"{BACKGROUND_CATEGORY}, stuff; objects are things with their COCO category).",
            ]
            if cfg.panoptic
            else []
        ),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# atomic output folder
# ------------------------------------------------------------------------------------------
def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"output folder is not empty: {out} (use --overwrite to replace it)")
        meta = out / "dataset.yaml"
        if not (meta.is_file() and f"generator: {GENERATOR}" in meta.read_text()):
            raise DataError(
                f"refusing to overwrite {out}: it is not a dataset written by {GENERATOR}"
            )


@contextlib.contextmanager
def _staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder next to ``out`` that replaces ``out`` only on success."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    old: Path | None = None
    try:
        yield tmp
        _check_out(out, overwrite)  # again: something may have appeared meanwhile
        if out.is_dir():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as prog:
        task = prog.add_task("synth: rendering", total=total)
        yield lambda: prog.advance(task)


def generate(
    out_dir: str | os.PathLike[str],
    cfg: SynthConfig | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> SynthSummary:
    """Generate the synthetic dataset into ``out_dir`` (layout in ``out_dir/README.md``).

    Everything is written into a hidden temporary folder next to ``out_dir`` that is renamed
    to ``out_dir`` at the end, so an interrupted run leaves no partial dataset behind.

    Args:
        out_dir: destination folder; must be absent or empty unless ``overwrite``.
        cfg: generator settings (default :class:`SynthConfig`).
        progress: show a rich progress bar.
        overwrite: replace an existing dataset previously written by this generator.

    Returns:
        A :class:`SynthSummary` of what was written.

    Raises:
        DataError: ``out_dir`` is a file, or non-empty without ``overwrite``, or (with
            ``overwrite``) not a folder written by this generator.
    """
    cfg = cfg if cfg is not None else SynthConfig()
    out = Path(out_dir).absolute()
    _check_out(out, overwrite)
    start = time.perf_counter()
    summary = SynthSummary(out, cfg.seed, cfg.image_size, frames=cfg.frames)
    counts_img = {"train": cfg.train_images, "val": cfg.val_images}
    counts_vid = {"train": cfg.train_videos, "val": cfg.val_videos}
    total = sum(counts_img.values()) + sum(counts_vid.values()) * cfg.frames
    with _staging(out, overwrite) as tmp, _progress(progress, total) as advance:
        for split in SPLITS:
            _write_images(tmp, split, counts_img[split], cfg, summary, advance)
            _write_videos(tmp, split, counts_vid[split], cfg, summary, advance)
        (tmp / "dataset.yaml").write_text(_dataset_yaml(cfg))
        (tmp / "README.md").write_text(_readme(cfg, summary))
    summary.seconds = time.perf_counter() - start
    return summary
