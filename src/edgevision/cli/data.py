"""``edgevision data``: dataset tools (``synth``, ``info``, ``stats``, ``camvid-boxes``,
``semantic-to-instances``).

More subcommands can be added with another ``_register_<name>(sub)`` function listed in
:func:`register`, adding its ``run_<name>(args) -> int`` with
:func:`~edgevision.cli.common.add_command` (whose docstring is its help).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgevision.cli.common import (
    add_command,
    add_group,
    add_overrides,
    check_outputs,
    command_line,
    nonneg_int,
    pick,
    positive_int,
)


def register(subparsers: Any) -> None:
    """Add ``data`` and its subcommands to the top-level ``subparsers``."""
    sub = add_group(
        subparsers,
        "data",
        help="Dataset tools: synthetic data, dataset info, class statistics.",
        description="Dataset tools. See 'edgevision data COMMAND --help'.",
        dest="data_command",
    )
    _register_synth(sub)
    _register_info(sub)
    _register_stats(sub)
    _register_camvid_boxes(sub)
    _register_depth_mix(sub)
    _register_semantic_to_instances(sub)


def _add_dataset(p: Any, help_dir: str) -> None:
    """The dataset folder ``DIR`` and ``--split`` that ``info`` and ``stats`` read."""
    p.add_argument("dir", type=Path, help=help_dir)
    p.add_argument("--split", default="train", help="split name (default train)")


# ------------------------------------------------------------------------------------------
# synth
# ------------------------------------------------------------------------------------------
def _register_synth(sub: Any) -> None:
    from edgevision.data.synth.config import SynthConfig

    d = SynthConfig()
    p = add_command(sub, "synth", run_synth)
    p.add_argument("--out", required=True, type=Path, help="output folder (absent or empty)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"RNG seed (default {d.seed})")
    for flag, kind, default, text in (
        ("--images", nonneg_int, d.train_images, f"train images (default {d.train_images})"),
        ("--val-images", nonneg_int, None, "val images (default: a quarter of --images, >= 1)"),
        ("--videos", nonneg_int, d.train_videos, f"train videos (default {d.train_videos})"),
        ("--val-videos", nonneg_int, None, "val videos (default: half of --videos, >= 1)"),
        ("--frames", positive_int, d.frames, f"frames per video (default {d.frames})"),
    ):
        p.add_argument(flag, type=kind, default=default, metavar="N", help=text)
    p.add_argument(
        "--size",
        default=f"{d.image_size[0]}x{d.image_size[1]}",
        metavar="HxW",
        help=f"image size (default {d.image_size[0]}x{d.image_size[1]})",
    )
    add_overrides(
        p,
        "--set",
        dest="overrides",
        help="any other SynthConfig field, e.g. --set noise_std=2 --set "
        "flow_format=npy (repeatable)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT if it is a dataset written by this generator",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def synth_config_from_args(args: argparse.Namespace) -> Any:
    """Build a :class:`SynthConfig` from parsed ``synth`` arguments (ConfigError on bad ones)."""
    from edgevision.config import apply_overrides, parse_size
    from edgevision.data.synth.config import SynthConfig

    val_images = args.val_images if args.val_images is not None else max(1, args.images // 4)
    val_videos = args.val_videos if args.val_videos is not None else max(1, args.videos // 2)
    cfg = SynthConfig(
        seed=args.seed,
        image_size=parse_size(args.size, "--size"),
        train_images=args.images,
        val_images=val_images,
        train_videos=args.videos,
        val_videos=val_videos,
        frames=args.frames,
    )
    return apply_overrides(cfg, args.overrides) if args.overrides else cfg


def run_synth(args: argparse.Namespace) -> int:
    """Generate a synthetic dataset of moving shapes (images, videos, exact flow).

    Write a small synthetic dataset in the edgevision layout: still images with semantic masks
    and COCO instances, and short videos with masks, YouTube-VIS tracks and exact optical flow.
    --set depth=true adds exact depth maps, --set panoptic=true COCO panoptic truth (files
    only added; the rest stays byte-identical). Deterministic by --seed. Written into a
    temporary folder and renamed at the end, so an interrupted run leaves nothing behind.
    """
    from rich.console import Console

    from edgevision.data.synth import generate

    cfg = synth_config_from_args(args)
    check_outputs(args, folders=("out",))
    s = generate(args.out, cfg, progress=not args.no_progress, overwrite=args.overwrite)
    out = s.out_dir
    con = Console(highlight=False, soft_wrap=True)
    con.print(
        f"wrote synthetic dataset (seed {s.seed}, {s.image_size[0]}x{s.image_size[1]}) "
        f"in {s.seconds:.1f} s to {out}"
    )
    for split in ("train", "val"):
        con.print(
            f"  {split}: {s.images.get(split, 0)} images ({s.instances.get(split, 0)} instances) "
            f"-> {out / 'images' / split}, {out / 'annotations' / f'instances_{split}.json'}"
        )
        con.print(
            f"  {split}: {s.videos.get(split, 0)} videos x {s.frames} frames "
            f"({s.tracks.get(split, 0)} tracks) -> {out / 'videos' / split}, "
            f"{out / 'annotations' / f'ytvis_{split}.json'}"
        )
    con.print(f"  description: {out / 'README.md'}")
    return 0


# ------------------------------------------------------------------------------------------
# info
# ------------------------------------------------------------------------------------------
def _register_info(sub: Any) -> None:
    p = add_command(sub, "info", run_info)
    _add_dataset(
        p,
        "dataset folder (edgevision semantic or COCO layout, YOLO-txt, Cityscapes) or a "
        "detection dataset YAML",
    )
    p.add_argument(
        "--no-pixels",
        action="store_true",
        help="skip counting pixels per class (faster on large sets)",
    )


def run_info(args: argparse.Namespace) -> int:
    """Summarise a dataset: images, sequences, class pixel counts, boxes, videos.

    Print what a dataset holds for one split, in every format edgevision reads: semantic
    masks (DIR/images + DIR/labels, or Cityscapes leftImg8bit + gtFine) with the number of
    images, the sequences (NAME prefix before '_'; Cityscapes: the city) with their image
    counts, the leave-one-sequence-out folds as split selectors (train-SEQ / train:SEQ) and
    the pixels per class (reads every label); detection boxes per class from COCO
    annotations (DIR/annotations/instances_SPLIT.json), YOLO-txt labels (DIR/labels/SPLIT)
    or a dataset YAML (data.yaml); YouTube-VIS videos and tracks.
    """
    from rich.console import Console

    from edgevision.data.detection import detection_format, is_dataset_yaml
    from edgevision.data.semantic import is_cityscapes
    from edgevision.data.sequences import resolve_split
    from edgevision.errors import DataError, require_dir

    con = Console(highlight=False, soft_wrap=True)
    root: Path = args.dir
    if is_dataset_yaml(root):
        _info_detection(con, root, args.split)
        return 0
    require_dir(root, "dataset folder")
    det = detection_format(root, args.split)
    semantic = is_cityscapes(root) or (det != "yolo" and (root / "labels").is_dir())
    vis_file = lambda s: root / "annotations" / f"ytvis_{s}.json"  # noqa: E731
    base = resolve_split(args.split, lambda s: vis_file(s).is_file()).base
    vis = vis_file(base)
    if not (semantic or det or vis.is_file()):
        raise DataError(
            f"no dataset of a known format in {root} for split {args.split!r}: expected "
            f"images/ + labels/ (semantic masks or YOLO txt), annotations/instances_SPLIT.json "
            f"(COCO), leftImg8bit/ + gtFine/ (Cityscapes) or a dataset YAML"
        )
    if semantic:
        _info_semantic(con, root, args.split, pixels=not args.no_pixels)
    if det:
        _info_detection(con, root, args.split, sequences=not semantic)
    if vis.is_file():
        from edgevision.data.ytvis import YtvisDataset

        yt = YtvisDataset(vis, root / "videos" / base)
        con.print(
            f"YouTube-VIS {vis.name}: {len(yt)} videos, {sum(yt.video_lengths)} frames, "
            f"{yt.num_tracks} tracks"
        )
    return 0


def _print_sequences(con: Any, seqs: dict[str, int], split: str, filtered: bool) -> None:
    from edgevision.data.sequences import NO_SEQUENCE, format_sequences, sequence_folds

    con.print(f"sequences (NAME prefix before '_'): {format_sequences(seqs) or 'none'}")
    if len(seqs) > 1 and NO_SEQUENCE not in seqs and not filtered:
        con.print(
            "leave-one-sequence-out folds (train / validate on): "
            + "; ".join(
                f"{f.train_split} {f.train_images} / {f.val_split} {f.val_images}"
                for f in sequence_folds(seqs, split)
            )
        )


def _info_semantic(con: Any, root: Path, split: str, *, pixels: bool) -> None:
    """Images, sequences and pixels per class of a semantic split."""
    from rich.table import Table

    from edgevision.data.semantic import class_pixel_counts, open_semantic

    ds = open_semantic(root, split)
    kind = "Cityscapes" if type(ds).__name__ == "CityscapesFolder" else "semantic masks"
    con.print(
        f"{root} split {split!r} ({kind}): {len(ds)} images, {ds.num_classes} classes, "
        f"ignore_index {ds.ignore_index}"
    )
    _print_sequences(con, ds.sequences, str(ds.selector), bool(ds.selector.filters))
    if pixels and len(ds):
        counts = class_pixel_counts(ds, progress=True)
        total = max(int(counts.sum()), 1)
        t = Table("id", "class", "pixels", "share", title="pixels per class")
        for k, (name, c) in enumerate(zip(ds.class_names, counts)):
            t.add_row(str(k), name, f"{int(c):,}", f"{100 * c / total:.2f} %")
        con.print(t)


def _info_detection(con: Any, data: Path, split: str, *, sequences: bool = True) -> None:
    """Images, boxes per class and (``sequences``) the sequences of a detection split
    (COCO, YOLO, YAML)."""
    from collections import Counter

    from edgevision.data.detection import load_detection_split
    from edgevision.data.sequences import parse_split, sequence_counts

    det = load_detection_split(data, split)
    names = {int(c["id"]): str(c["name"]) for c in det.gt["categories"]}
    per = Counter(int(a["category_id"]) for a in det.gt["annotations"] if not a.get("iscrowd"))
    crowd = sum(1 for a in det.gt["annotations"] if a.get("iscrowd"))
    con.print(
        f"{det.format.upper()} boxes ({det.source}), split {split!r}: "
        f"{len(det.gt['images'])} images, {sum(per.values())} objects"
        + (f" (+{crowd} crowd regions)" if crowd else "")
        + ": "
        + ", ".join(f"{n} {per.get(cid, 0)}" for cid, n in sorted(names.items()))
    )
    if sequences:
        stems = [Path(str(im["file_name"])).stem for im in det.gt["images"]]
        _print_sequences(con, sequence_counts(stems), split, bool(parse_split(split).filters))


# ------------------------------------------------------------------------------------------
# stats
# ------------------------------------------------------------------------------------------
def _register_stats(sub: Any) -> None:
    from edgevision.losses.class_balanced import DEFAULT_BETA, DEFAULT_UNIT, UNITS

    p = add_command(sub, "stats", run_stats)
    _add_dataset(p, "dataset folder (edgevision layout or Cityscapes)")
    p.add_argument(
        "--unit",
        choices=UNITS,
        default=DEFAULT_UNIT,
        help=f"what n_c counts: labelled pixels or images with the class (default {DEFAULT_UNIT})",
    )
    p.add_argument(
        "--beta",
        type=float,
        default=None,
        help="beta in [0, 1] (default: "
        + ", ".join(f"{u} {b:.10g}" for u, b in DEFAULT_BETA.items())
        + ")",
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write JSON")
    p.add_argument(
        "--cache-dir", type=Path, default=None, metavar="DIR", help="cache folder for the counts"
    )
    p.add_argument("--no-cache", action="store_true", help="recount, read and write no cache")


def run_stats(args: argparse.Namespace) -> int:
    """Class statistics of a split and class-balanced loss weights (effective number).

    Count pixels per class and images containing each class over a whole split (one pass over
    the labels, cached in $XDG_CACHE_HOME/edgevision or ~/.cache/edgevision, recounted when the
    files change) and print the class-balanced weights w_c ~ (1-beta)/(1-beta^n_c) of Cui et
    al. 2019, normalised to sum to the number of classes.
    """
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from edgevision.data.semantic import open_semantic
    from edgevision.errors import ConfigError, DataError
    from edgevision.io import write_json_atomic
    from edgevision.losses.class_balanced import DEFAULT_BETA, class_counts

    check_outputs(args, "json", folders=("cache_dir",))
    unit: str = args.unit
    beta = DEFAULT_BETA[unit] if args.beta is None else float(args.beta)
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"--beta must be in [0, 1], got {args.beta}")
    con = Console(highlight=False, soft_wrap=True)
    root: Path = args.dir
    ds = open_semantic(root, args.split)
    if not len(ds):
        raise DataError(f"split {args.split!r} of {root} has no images")
    cc = class_counts(ds, cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=True)
    counts = cc.counts(unit)
    if not counts.any():
        raise DataError(f"split {args.split!r} of {root} has no labelled pixels")
    weights = cc.weights(beta, unit, warn_missing=False)
    labelled = max(int(cc.pixels.sum()), 1)

    source = (
        f"read from cache {cc.cache_file}"
        if cc.from_cache
        else (f"counted, cached in {cc.cache_file}" if cc.cache_file else "counted, not cached")
    )
    con.print(
        f"{root} split {args.split!r}: {cc.num_images} images, {cc.num_classes} classes, "
        f"ignore_index {cc.ignore_index} ({source})"
    )
    t = Table(
        "id",
        "class",
        "pixels",
        "share",
        "images with class",
        "weight",
        title=f"class-balanced weights, unit={unit}, beta={beta:.10g}",
    )
    for k, name in enumerate(cc.class_names):
        t.add_row(
            str(k),
            name,
            f"{int(cc.pixels[k]):,}",
            f"{100 * cc.pixels[k] / labelled:.2f} %",
            f"{int(cc.images[k])} / {cc.num_images}",
            f"{weights[k]:.4f}",
        )
    con.print(t)
    total = labelled + cc.ignored_pixels
    con.print(
        f"ignored (label {cc.ignore_index}): {cc.ignored_pixels:,} pixels "
        f"({100 * cc.ignored_pixels / max(total, 1):.2f} % of all); shares are of labelled pixels"
    )
    missing = [cc.class_names[k] for k in np.flatnonzero(counts == 0)]
    if missing:
        con.print(f"note: no {unit} of {', '.join(missing)} in this split: weight 0")
    present = weights[counts > 0]
    cap = float("inf") if beta == 1.0 else 1.0 / (1.0 - beta)
    if present.max() - present.min() < 0.01 and counts[counts > 0].min() > 5 * cap:
        con.print(
            f"note: every class has n >> 1/(1-beta) = {cap:,.0f} {unit}, so the weights are "
            f"~uniform; use a beta closer to 1 (default for {unit}: {DEFAULT_BETA[unit]:.10g})"
        )
    if args.json is not None:
        rows = [
            {
                "id": k,
                "name": name,
                "pixels": int(cc.pixels[k]),
                "share": float(cc.pixels[k] / labelled),
                "images": int(cc.images[k]),
                "weight": float(weights[k]),
            }
            for k, name in enumerate(cc.class_names)
        ]
        write_json_atomic(
            args.json,
            {
                "dataset": str(root.resolve()),
                "split": args.split,
                "num_images": cc.num_images,
                "ignore_index": cc.ignore_index,
                "ignored_pixels": cc.ignored_pixels,
                "unit": unit,
                "beta": beta,
                "classes": rows,
                "weights": [float(w) for w in weights],
            },
        )
        con.print(f"wrote {args.json}")
    return 0


# ------------------------------------------------------------------------------------------
# depth-mix
# ------------------------------------------------------------------------------------------
def _register_depth_mix(sub: Any) -> None:
    p = add_command(sub, "depth-mix", run_depth_mix)
    p.add_argument("seg", type=Path, help="folder with class labels (e.g. ../shared/data/camvid)")
    p.add_argument(
        "depth", type=Path, help="folder with depth/SPLIT/*.npy (data synth --set depth=true)"
    )
    p.add_argument("--out", type=Path, required=True, help="new output folder")
    p.add_argument(
        "--split",
        action="append",
        metavar="OUT=SEG_SELECTOR,DEPTH_SPLIT[,MAX]",
        help="an output split and its sources (repeatable; default train=train,train and "
        "val=val,val); e.g. train=train-0006R0,train val=train:0006R0,val",
    )


def run_depth_mix(args: argparse.Namespace) -> int:
    """One depthseg training folder from a class-labelled folder and a depth-only folder.

    Symlinks the class folder's images and labels and the depth folder's images and depth
    maps (renamed synthSEED_NAME, labels all ignored) into OUT, with the class folder's
    classes. FastDepthSeg then learns classes from the first and depth from the second; in a
    mixed split the selector SPLIT:synthSEED scores depth alone, SPLIT-synthSEED the classes
    alone (SEED: the generator's seed of the depth folder).
    """
    from edgevision.data.depth_mix import mix_depth_folder, parse_mix_split

    check_outputs(args, folders=("out",))
    pairs = [parse_mix_split(s) for s in (args.split or ["train=train,train", "val=val,val"])]
    splits = dict(pairs)
    if len(splits) < len(pairs):
        from edgevision.errors import ConfigError

        raise ConfigError("--split: each OUT split may be given once")
    stats = mix_depth_folder(
        args.seg, args.depth, args.out, splits=splits, command=command_line(args)
    )
    for name, s in stats.items():
        print(f"{name}: {s['seg_images']} class images, {s['depth_images']} depth images")
    print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------------------
# camvid-boxes
# ------------------------------------------------------------------------------------------
def _register_camvid_boxes(sub: Any) -> None:
    p = add_command(sub, "camvid-boxes", run_camvid_boxes)
    p.add_argument("camvid", type=Path, help="CamVid folder (e.g. ../shared/data/camvid)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--splits", default="train,val", help="comma-separated splits (default train,val)"
    )
    p.add_argument(
        "--min-area",
        type=positive_int,
        default=50,
        help="smallest component in pixels (default 50)",
    )
    p.add_argument(
        "--split-solidity",
        type=float,
        default=0.7,
        help="try to split components less solid than this, 0-1 (default 0.7)",
    )
    p.add_argument("--copy", action="store_true", help="copy images instead of symlinking")
    p.add_argument(
        "--max-images", type=nonneg_int, default=0, help="first N images per split (0: all)"
    )


def run_camvid_boxes(args: argparse.Namespace) -> int:
    """Derive a COCO detection set (Car, Pedestrian, Bicyclist, SignSymbol) from CamVid.

    Boxes from connected components of the CamVid thing classes, small components dropped,
    merged blobs split by erosion. Writes OUT/annotations/instances_SPLIT.json,
    OUT/images/SPLIT/ (symlinks unless --copy) and OUT/README.md (counts and known
    imperfections).
    """
    import sys

    from edgevision.data.camvid_boxes import BoxDerivation, derive_camvid_boxes
    from edgevision.errors import ConfigError, require_dir

    require_dir(args.camvid, "CamVid folder")
    if not 0 <= args.split_solidity <= 1:
        raise ConfigError(f"--split-solidity must be in [0, 1], got {args.split_solidity}")
    check_outputs(args, folders=("out",))
    splits = [s for s in args.splits.split(",") if s]
    stats = derive_camvid_boxes(
        args.camvid,
        args.out,
        splits=splits,
        cfg=BoxDerivation(min_area=args.min_area, split_solidity=args.split_solidity),
        copy_images=args.copy,
        max_images=args.max_images,
        progress=sys.stderr.isatty(),
        command=command_line(args),
    )
    for split, s in stats.items():
        per = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
        print(
            f"{split}: {s['images']} images, {s['boxes']} boxes ({per}); {s['split']} blobs split"
        )
    print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------------------
# semantic-to-instances
# ------------------------------------------------------------------------------------------
def _register_semantic_to_instances(sub: Any) -> None:
    p = add_command(sub, "semantic-to-instances", run_semantic_to_instances)
    p.add_argument("data", type=Path, help="semantic dataset folder (images/, labels/)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--classes",
        required=True,
        help="comma-separated thing classes, e.g. Car,Pedestrian,Bicyclist",
    )
    p.add_argument("--splits", default="train,val", help="comma-separated (default train,val)")
    p.add_argument(
        "--min-area", type=positive_int, default=50, help="smallest instance, px (default 50)"
    )
    p.add_argument("--no-split", action="store_true", help="connected components only")
    p.add_argument(
        "--min-peak", type=float, default=3.0, help="smallest distance peak seeding a part, px"
    )
    p.add_argument(
        "--neck-ratio",
        type=float,
        default=0.7,
        help="keep two parts merged while saddle/peak >= this (0-1, default 0.7)",
    )
    p.add_argument("--boundary-px", type=int, default=1, help="ignore band around outlines")
    p.add_argument("--split-band-px", type=int, default=2, help="ignore band around split lines")
    p.add_argument("--copy", action="store_true", help="copy images instead of symlinking")
    p.add_argument(
        "--max-images", type=nonneg_int, default=0, help="first N images per split (0: all)"
    )


def run_semantic_to_instances(args: argparse.Namespace) -> int:
    """Pseudo instance labels (COCO, RLE) from a semantic-mask dataset.

    Connected components of each thing class, merged blobs split by distance transform +
    watershed, fragments under --min-area ignored, an ignore region (void, fragments, bands
    around outlines and split lines) and a confidence per pseudo-instance. Writes
    OUT/annotations/instances_SPLIT.json, OUT/ignore/SPLIT/, OUT/images/SPLIT/ (symlinks
    unless --copy) and OUT/README.md.
    """
    import sys

    from edgevision.data.pseudo_instances import PseudoLabelConfig, semantic_to_instances
    from edgevision.errors import require_dir

    require_dir(args.data, "dataset folder")
    check_outputs(args, folders=("out",))
    cfg = PseudoLabelConfig(
        classes=tuple(c.strip() for c in args.classes.split(",") if c.strip()),
        split=not args.no_split,
        **pick(args, "min_area", "min_peak", "neck_ratio", "boundary_px", "split_band_px"),
    )
    stats = semantic_to_instances(
        args.data,
        args.out,
        cfg,
        splits=[s for s in args.splits.split(",") if s],
        copy_images=args.copy,
        max_images=args.max_images,
        progress=sys.stderr.isatty(),
        command=command_line(args),
    )
    for split, s in stats.items():
        per = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
        print(
            f"{split}: {s['images']} images, {s['instances']} instances ({per}); "
            f"{s['from_splits']} from splits; {s['ignored_pct']:.1f} % of pixels ignored; "
            f"mean confidence {s['mean_confidence']:.3f}"
        )
    print(f"wrote {args.out}")
    return 0
