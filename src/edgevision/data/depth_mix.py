"""One ``depthseg`` training folder from a class-labelled folder and a depth-only folder.

FastDepthSeg learns classes where they are labelled (CamVid) and depth where depth is
known (the synthetic generator's exact ``depth/*.npy``); its loss is masked where a target is
missing (:class:`edgevision.losses.dense_multi.DepthSegLoss`). :func:`mix_depth_folder`
writes the semantic layout that :class:`~edgevision.train.dense_multi.DepthSegTrainDataset`
reads, without copying either source::

    OUT/dataset.yaml                 the class folder's classes and ignore index, the sources
    OUT/images/SPLIT/NAME.EXT        symlinks: the class folder's images (their own NAMEs)
                                     and the depth folder's as ``synthSEED_NAME``
    OUT/labels/SPLIT/NAME.png        symlinks to the class labels; for ``synthSEED_NAME``
                                     a written label that is ``ignore_index`` everywhere
    OUT/depth/SPLIT/synthSEED_NAME.npy  symlinks to the depth maps
    OUT/README.md                    what was mixed, and the command

Every depth image becomes the sequence ``synthSEED`` (:func:`depth_prefix`, e.g.
``synth51``; :mod:`edgevision.data.sequences`), so a selector scores either part of a mixed
split alone: ``val:synth51`` (depth only) or ``val-synth51`` (classes only, e.g. CamVid's
held-out ``0006R0``).

The output is written into a temporary folder beside ``OUT`` and renamed at the end: an
interrupted run leaves no folder that looks complete.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import ConfigError, DataError, OutputError

__all__ = ["DEPTH_PREFIX", "MixSplit", "depth_prefix", "mix_depth_folder", "parse_mix_split"]

DEPTH_PREFIX = "synth"
"""Prefix (and so the sequence) of the depth folder's samples in the mixed folder, followed
by the generator's seed where the folder's ``dataset.yaml`` records one (``synth51``): two
seeds are two different "streets", so a test folder of another seed is not scored as
in-sequence validation."""


def depth_prefix(depth_root: str | os.PathLike[str]) -> str:
    """:data:`DEPTH_PREFIX` plus the seed of the depth folder's ``dataset.yaml`` (if any)."""
    from edgevision.data.semantic import read_dataset_yaml

    try:
        seed = (read_dataset_yaml(depth_root) or {}).get("seed")
    except DataError:
        seed = None
    return f"{DEPTH_PREFIX}{int(seed)}" if isinstance(seed, int) and seed >= 0 else DEPTH_PREFIX


@dataclass(frozen=True)
class MixSplit:
    """One split of the mixed folder.

    Attributes:
        seg: split selector of the class folder (``train-0006R0``; empty: none).
        depth: split of the depth folder (empty: none).
        max_depth: at most this many depth images (0: all).
    """

    seg: str
    depth: str
    max_depth: int = 0


def parse_mix_split(text: str) -> tuple[str, MixSplit]:
    """``OUT=SEG_SELECTOR,DEPTH_SPLIT[,MAX]`` -> ``(OUT, MixSplit)``; either source may be
    empty (``val=train:0006R0,`` takes no depth images). OUT is a plain split name."""
    name, eq, rest = text.partition("=")
    parts = rest.split(",")
    if eq and name and (not re.fullmatch(r"[A-Za-z0-9_.]+", name) or name in (".", "..")):
        raise ConfigError(
            f"--split {text!r}: OUT must be a plain split name (letters, digits, _ .)"
        )
    if not eq or not name or len(parts) not in (2, 3) or not (parts[0] or parts[1]):
        raise ConfigError(
            f"--split {text!r}: expected OUT=SEG_SELECTOR,DEPTH_SPLIT[,MAX_DEPTH_IMAGES]"
        )
    try:
        cap = int(parts[2]) if len(parts) == 3 and parts[2] else 0
    except ValueError:
        raise ConfigError(f"--split {text!r}: MAX_DEPTH_IMAGES must be an integer") from None
    if cap < 0:
        raise ConfigError(f"--split {text!r}: MAX_DEPTH_IMAGES must be >= 0")
    return name, MixSplit(seg=parts[0], depth=parts[1], max_depth=cap)


def _depth_items(root: Path, split: str, cap: int) -> list[tuple[str, Path, Path, tuple[int, int]]]:
    from edgevision.io import IMAGE_SUFFIXES, image_size

    img_dir = root / "images" / split
    if not img_dir.is_dir():
        raise DataError(f"depth folder has no split {split!r}: {img_dir} is missing")
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if cap:
        images = images[:cap]
    if not images:
        raise DataError(f"split {split!r} of {root} has no images")
    items = []
    for p in images:
        d = root / "depth" / split / f"{p.stem}.npy"
        if not d.is_file():
            raise DataError(f"no depth map for {p}: {d} is missing")
        items.append((p.stem, p, d, image_size(p)))
    return items


def mix_depth_folder(
    seg_root: str | os.PathLike[str],
    depth_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    splits: Mapping[str, MixSplit],
    command: str = "edgevision data depth-mix",
) -> dict[str, dict[str, int]]:
    """Write the mixed folder (module docstring). Everything is read and checked before
    anything is written.

    Args:
        seg_root: folder with class labels (semantic layout, or CamVid by its preset).
        depth_root: folder with ``images/SPLIT`` and ``depth/SPLIT/NAME.npy`` (the
            synthetic generator with ``--set depth=true``); its classes are not used.
        out: the new folder (must not exist).
        splits: output split name -> sources.
        command: the command line to record in the README.

    Returns:
        Per output split: ``{"seg_images", "depth_images"}``.

    Raises:
        DataError: a missing split or depth map, a split without images.
        OutputError: ``out`` exists, or cannot be written.
    """
    import yaml

    from edgevision.data.semantic import SemanticFolder
    from edgevision.io import link_or_copy, write_image

    seg, depth, dst = Path(seg_root), Path(depth_root), Path(out)
    prefix = depth_prefix(depth)
    if dst.exists():
        raise OutputError(f"{dst} exists; choose a new folder")
    if not splits:
        raise DataError("no splits to write")
    plan: dict[str, tuple[list[tuple[str, Path, Path]], list[Any]]] = {}
    classes: list[str] | None = None
    ignore = 255
    for name, s in splits.items():
        seg_items: list[tuple[str, Path, Path]] = []
        if s.seg:
            folder = SemanticFolder(seg, s.seg)
            if classes is not None and folder.class_names != classes:
                raise DataError(f"split {s.seg!r} of {seg} has other classes than the rest")
            classes, ignore = folder.class_names, folder.ignore_index
            seg_items = list(zip(folder.names, folder.image_paths, folder.label_paths))
            clash = [n for n, _, _ in seg_items if n.startswith(f"{prefix}_")]
            if clash:
                raise DataError(f"{seg}: sample {clash[0]!r} clashes with the depth prefix")
        depth_items = _depth_items(depth, s.depth, s.max_depth) if s.depth else []
        plan[name] = (seg_items, depth_items)
    if classes is None:
        raise DataError("no split names a class-labelled source: the classes are unknown")
    if not 0 <= ignore <= 255:
        raise DataError(f"ignore index {ignore} does not fit an 8-bit label")

    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder gets the usual mode
    except OSError as e:
        raise OutputError(f"cannot write {dst}: {e.strerror or e}") from None
    stats: dict[str, dict[str, int]] = {}
    try:
        for name, (seg_items, depth_items) in plan.items():
            img_dir, lab_dir, dep_dir = (tmp / k / name for k in ("images", "labels", "depth"))
            for d in (img_dir, lab_dir, dep_dir):
                d.mkdir(parents=True)
            for n, img, lab in seg_items:
                link_or_copy(img, img_dir / f"{n}{img.suffix.lower()}", copy=False)
                link_or_copy(lab, lab_dir / f"{n}{lab.suffix.lower()}", copy=False)
            blank: dict[tuple[int, int], np.ndarray] = {}
            for n, img, dep, hw in depth_items:
                new = f"{prefix}_{n}"
                link_or_copy(img, img_dir / f"{new}{img.suffix.lower()}", copy=False)
                link_or_copy(dep, dep_dir / f"{new}.npy", copy=False)
                if hw not in blank:
                    blank[hw] = np.full(hw, ignore, np.uint8)
                write_image(lab_dir / f"{new}.png", blank[hw])
            stats[name] = {"seg_images": len(seg_items), "depth_images": len(depth_items)}
        meta = {
            "name": f"{seg.name}+depth",
            "classes": classes,
            "ignore_index": ignore,
            "sources": {
                "classes": str(seg.resolve()),
                "depth": str(depth.resolve()),
                "splits": {k: {"seg": v.seg, "depth": v.depth} for k, v in splits.items()},
            },
        }
        (tmp / "dataset.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        rows = "\n".join(
            f"| {k} | `{splits[k].seg or '-'}` ({v['seg_images']}) | "
            f"`{splits[k].depth or '-'}` ({v['depth_images']}) |"
            for k, v in stats.items()
        )
        (tmp / "README.md").write_text(
            "# Classes + depth, mixed for depthseg training\n\n"
            f"Classes from `{seg.resolve()}`, depth from `{depth.resolve()}` (its images are "
            f"the sequence `{prefix}`, their labels all `{ignore}` = ignored). Files "
            "are symlinks; only the blank labels are written.\n\n"
            "| split | class images (selector) | depth images (split) |\n|---|---|---|\n"
            f"{rows}\n\nWritten by `{command}`.\n"
        )
        tmp.rename(dst)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {dst}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats
