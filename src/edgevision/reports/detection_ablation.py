"""The detection ablation (YOLO-ReT's Table 4 on this machine) -> ``docs/results/detection.md``.

Variants: ``yolo_ret_m075`` baseline (full backbone, no RFCR) / +truncate / +RFCR /
+truncate+RFCR / +truncate+RFCR+shortcut, and ``yolov5n`` with the Focus stem vs the 6×6
conv stem. Each is trained with :func:`edgevision.train.detection.train_detection` on the
same data and schedule, exported to ONNX (FP32, checked against PyTorch), quantized to
static INT8 (QDQ, U8 activations / S8 per-channel weights, calibrated on training images
through onnxruntime.quantization), scored (COCO AP50 on the val split through the runtime
path) and benchmarked in fresh ONNX Runtime processes, alternately in blocks
(:func:`edgevision.bench.benchmark_many`): engine latency, FPS and the end-to-end
pre-process / inference / post-process split. The post-processing cost is also measured at
exactly 100 candidates above the score threshold (the post-processing budget) against the
end-to-end time.

Run::

    python -m edgevision.reports.detection_ablation --data DIR --out runs/det_ablation \\
        --md docs/results/detection.md --epochs 30

``--max-train-images`` / ``--epochs`` make a small run; the page says which settings
produced it. ``--train-split train-0006R0 --val-split train:0006R0`` holds a whole street
sequence out (:mod:`edgevision.data.sequences`): every variant trains without it and is
scored on it. ``--set KEY=VALUE`` (any :class:`~edgevision.train.detection.DetTrainConfig`
field the ablation does not set itself, e.g. ``copy_paste=0.5``, ``photometric=0.5``,
``mosaic=0.8``) gives every variant the same recipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import ConfigError, EdgeVisionError

__all__ = [
    "RESERVED",
    "VARIANTS",
    "Variant",
    "postprocess_share",
    "quantize_int8",
    "run_ablation",
]

RESERVED: frozenset[str] = frozenset(
    {"model", "model_kwargs", "data", "out", "input_size", "epochs", "batch_size",
     "train_split", "val_split", "eval_every", "eval_max_images", "device", "log_every"}
)  # fmt: skip
"""DetTrainConfig fields the ablation sets itself (its own flags); ``--set`` refuses them."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of the ablation."""

    label: str
    model: str
    kwargs: dict[str, Any]


VARIANTS: tuple[Variant, ...] = (
    Variant("ret-m075 baseline", "yolo_ret_m075", {"truncate": 0, "rfcr": False}),
    Variant("ret-m075 +truncate", "yolo_ret_m075", {"truncate": 2, "rfcr": False}),
    Variant("ret-m075 +RFCR", "yolo_ret_m075", {"truncate": 0, "rfcr": True, "shortcut": False}),
    Variant(
        "ret-m075 +truncate+RFCR", "yolo_ret_m075", {"truncate": 2, "rfcr": True, "shortcut": False}
    ),
    Variant(
        "ret-m075 +truncate+RFCR+shortcut",
        "yolo_ret_m075",
        {"truncate": 2, "rfcr": True, "shortcut": True},
    ),
    Variant("yolov5n focus", "yolov5n", {"stem": "focus"}),
    Variant("yolov5n conv6x6", "yolov5n", {"stem": "conv6x6"}),
)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label).strip("_").lower()


class _CalibReader:
    """onnxruntime ``CalibrationDataReader`` over preprocessed images (yields until exhausted)."""

    def __init__(self, files: Sequence[Path], spec: Any, input_name: str) -> None:
        self.files, self.spec, self.input_name = list(files), spec, input_name
        self._it: Iterator[Path] = iter(self.files)

    def get_next(self) -> dict[str, np.ndarray] | None:
        from edgevision.io import read_image
        from edgevision.preprocess import preprocess

        f = next(self._it, None)
        if f is None:
            return None
        x, _ = preprocess([read_image(f)], self.spec)
        return {self.input_name: x}

    def rewind(self) -> None:
        self._it = iter(self.files)


def quantize_int8(fp32: str | Path, out: str | Path, calib_files: Sequence[Path]) -> Path:
    """Static INT8 (QDQ, U8 activations, S8 per-channel weights) with onnxruntime.quantization.

    The edgevision metadata is copied over with ``precision="int8"``.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from edgevision.export.metadata import embed_spec, read_spec
    from edgevision.io import atomic_path

    spec = read_spec(fp32)
    proto = onnx.load(str(fp32))
    input_name = proto.graph.input[0].name
    out = Path(out)
    with atomic_path(out) as tmp:
        quantize_static(
            str(fp32),
            str(tmp),
            _CalibReader(calib_files, spec, input_name),  # type: ignore[arg-type]
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        q = onnx.load(str(tmp))
        embed_spec(q, spec, precision="int8", **{"edgevision.quantized_by": "onnxruntime static"})
        onnx.save(q, str(tmp))
    return out


def postprocess_share(spec: Any, candidates: int = 100, runs: int = 200) -> dict[str, float]:
    """Median ms of :func:`yolo_postprocess` (decode + NMS + letterbox inverse) for one
    image with exactly ``candidates`` positions above the score threshold (random boxes)."""
    from edgevision.postprocess.yolo import grid_and_anchors, yolo_postprocess
    from edgevision.preprocess import resize_image

    h, w = spec.input_size
    anchors = spec.model_kwargs.get("anchors")
    from edgevision.postprocess.yolo import anchors_of

    n = len(grid_and_anchors((h, w), anchors_of(spec))[0])
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 0.2, size=(1, n, 5 + spec.num_classes)).astype(np.float32)
    idx = rng.choice(n, candidates, replace=False)
    pred[0, idx, :4] = rng.uniform(0.2, 0.8, size=(candidates, 4))
    pred[0, idx, 4] = rng.uniform(0.5, 1.0, size=candidates)
    pred[0, idx, 5:] = rng.uniform(0.6, 1.0, size=(candidates, spec.num_classes))
    _, t = resize_image(np.zeros((360, 480, 3), np.uint8), (h, w), "letterbox")
    del anchors
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        yolo_postprocess([pred], spec, [t], conf_threshold=0.25)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"candidates": candidates, "post_ms_p50": float(np.median(times))}


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgevision.io import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for prec, marker in (("fp32", "o"), ("int8", "s")):
        xs = [r[f"{prec}_e2e_ms"] for r in rows]
        ys = [r[f"{prec}_ap50"] for r in rows]
        ax.scatter(xs, ys, marker=marker, label=prec.upper())
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(r["label"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("end-to-end latency per image, ms (ONNX Runtime, 2 threads, 320x320)")
    ax.set_ylabel("val AP50")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def run_ablation(
    *,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    md: str | os.PathLike[str] = "docs/results/detection.md",
    epochs: int = 30,
    batch_size: int = 8,
    max_train_images: int = 0,
    eval_max_images: int = 0,
    input_size: tuple[int, int] = (320, 320),
    runs: int = 50,
    blocks: int = 3,
    calib_images: int = 32,
    variants: Sequence[Variant] = VARIANTS,
    command: str = "",
    progress: bool = False,
    train_split: str = "train",
    val_split: str = "val",
    recipe: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Train, export, quantize, score and benchmark every variant; write ``md`` + PNG.

    Args:
        train_split: split (or sequence selector, e.g. ``train-0006R0``) every variant
            trains on; calibration images come from it too.
        val_split: split (or selector, e.g. ``train:0006R0``) AP50 is scored on.
        recipe: ``KEY=VALUE`` overrides of :class:`DetTrainConfig` given to every variant
            (not the fields in :data:`RESERVED`).

    Raises:
        ConfigError: bad sizes, a reserved or unknown recipe key, a bad value.
        DataError: a missing split or sequence.

    Returns:
        One dict per variant: label, params, GFLOPs, FP32/INT8 AP50, latency, FPS, stages.
    """
    from edgevision.bench.harness import benchmark_many
    from edgevision.config import BenchConfig, apply_overrides
    from edgevision.evaluate import evaluate
    from edgevision.export import export_onnx
    from edgevision.io import write_json_atomic, write_text_atomic
    from edgevision.runtime import Predictor, load_engine
    from edgevision.train.detection import DetTrainConfig, load_split, train_detection

    if epochs < 1 or batch_size < 1 or runs < 1:
        raise ConfigError("epochs, batch_size and runs must be >= 1")
    recipe = list(recipe)
    for ov in recipe:
        key = ov.split("=", 1)[0].strip().split(".")[0]
        if key in RESERVED:
            raise ConfigError(f"--set {key}=...: the ablation sets {key} itself (use its own flag)")
    # check the recipe and both splits before anything is trained or written
    apply_overrides(DetTrainConfig(data=str(data)), recipe)
    train_data = load_split(Path(data), train_split)
    load_split(Path(data), val_split)
    calib = train_data.files[: max(1, calib_images)]
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data)
    if max_train_images:
        data_dir = _subset(Path(data), root / "data", max_train_images)
    rows: list[dict[str, Any]] = []
    onnx_files: list[str] = []
    for v in variants:
        slug = _slug(v.label)
        run_dir = root / "runs" / slug
        cfg = DetTrainConfig(
            model=v.model,
            model_kwargs=dict(v.kwargs),
            data=str(data_dir),
            train_split=train_split,
            val_split=val_split,
            input_size=input_size,
            epochs=epochs,
            batch_size=batch_size,
            eval_every=epochs,
            eval_max_images=eval_max_images,
            device="cpu",
            out=str(run_dir),
            log_every=0,
        )
        cfg = apply_overrides(cfg, recipe)
        resume = (run_dir / "last.pt").is_file()
        res = train_detection(cfg, resume=resume, quiet=not progress, progress=progress)
        weights = res.best or res.last
        fp32 = root / "onnx" / f"{slug}.onnx"
        int8 = root / "onnx" / f"{slug}_int8.onnx"
        fp32.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(weights, fp32)
        quantize_int8(fp32, int8, calib)
        row: dict[str, Any] = {"label": v.label, "model": v.model, "kwargs": v.kwargs}
        for prec, f in (("fp32", fp32), ("int8", int8)):
            rep = evaluate(
                Predictor(load_engine(f, threads=2)),
                data,
                val_split,
                max_images=eval_max_images,
                progress=progress,
            )
            row[f"{prec}_ap50"] = float(np.nan_to_num(rep.metrics["bbox"]["AP50"]))
            row[f"{prec}_ap"] = float(np.nan_to_num(rep.metrics["bbox"]["AP"]))
        from edgevision.export.metadata import read_spec

        row.update(postprocess_share(read_spec(fp32)))
        rows.append(row)
        onnx_files += [str(fp32), str(int8)]
    from edgevision.reports.reference import export_yolov8n_reference

    ref = export_yolov8n_reference(root / "onnx" / "yolov8n_reference.onnx", input_size)
    bench = benchmark_many(
        [*onnx_files, str(ref)],
        BenchConfig(threads=2, input_size=input_size, runs=runs, warmup=5),
        blocks=blocks,
        progress=progress,
        command=command,
    )
    for k, row in enumerate(rows):
        for prec, b in (("fp32", bench[2 * k]), ("int8", bench[2 * k + 1])):
            row[f"{prec}_latency_ms"] = b.latency_ms["p50"]
            row[f"{prec}_fps"] = b.fps
            st = b.stages_ms or {}
            row[f"{prec}_stages"] = st
            row[f"{prec}_e2e_ms"] = st.get("total", float("nan"))
            if prec == "fp32":
                row["params_m"] = (b.params or 0) / 1e6
                row["gflops"] = b.gflops
        row["post_share_100"] = row["post_ms_p50"] / row["int8_e2e_ms"]
    rb = bench[-1]
    reference = {
        "label": "YOLOv8n-architecture reference (FP32, random weights)",
        "params_m": (rb.params or 0) / 1e6,
        "gflops": rb.gflops,
        "fp32_latency_ms": rb.latency_ms["p50"],
        "fp32_fps": rb.fps,
        "fp32_stages": rb.stages_ms or {},
    }
    write_json_atomic(
        root / "ablation.json",
        {"rows": rows, "reference": reference, "bench": [b.to_dict() for b in bench]},
    )
    md_path = Path(md)
    png = md_path.with_name(md_path.stem + "_ap50_latency.png")
    _plot(rows, png)
    machine = bench[0].meta.get("machine", {})
    write_text_atomic(
        md_path,
        _markdown(
            rows,
            reference=reference,
            command=command,
            machine=machine,
            png=png.name,
            settings={
                "epochs": epochs,
                "batch_size": batch_size,
                "max_train_images": max_train_images or "all",
                "eval_max_images": eval_max_images or "all",
                "input": f"{input_size[0]}x{input_size[1]}",
                "runs": runs,
                "blocks": blocks,
                "calibration images": len(calib),
                "train split": _describe_split(data, train_split),
                "val split": _describe_split(data, val_split),
                "recipe": " ".join(f"`{r}`" for r in recipe) or "the DetTrainConfig defaults",
            },
        ),
    )
    return rows


def _describe_split(data: str | os.PathLike[str], split: str) -> str:
    """``"`train:0006R0` (sequences 0006R0 101)"``; the name alone where the layout does not
    list images by name (a dataset YAML)."""
    from edgevision.data.sequences import format_sequences, split_sequences

    try:
        return f"`{split}` (sequences {format_sequences(split_sequences(data, split))})"
    except EdgeVisionError:
        return f"`{split}`"


def _subset(src: Path, dst: Path, n: int) -> Path:
    """A COCO-layout copy of ``src`` whose train split holds its first ``n`` images
    (annotations filtered; images symlinked); val is linked unchanged."""
    import json

    from edgevision.io import write_json_atomic

    data = json.loads((src / "annotations" / "instances_train.json").read_text())
    keep = data["images"][:n]
    ids = {im["id"] for im in keep}
    sub = {
        **data,
        "images": keep,
        "annotations": [a for a in data["annotations"] if a["image_id"] in ids],
    }
    (dst / "annotations").mkdir(parents=True, exist_ok=True)
    write_json_atomic(dst / "annotations" / "instances_train.json", sub)
    val = dst / "annotations" / "instances_val.json"
    if not val.exists():
        val.symlink_to((src / "annotations" / "instances_val.json").resolve())
    (dst / "images").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        link = dst / "images" / split
        if not link.exists():
            link.symlink_to((src / "images" / split).resolve())
    return dst


def _f(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{float(v):.{nd}f}"


def _markdown(
    rows: list[dict[str, Any]],
    *,
    reference: dict[str, Any] | None = None,
    command: str,
    machine: dict[str, Any],
    png: str,
    settings: dict[str, Any],
) -> str:
    header = [
        "variant",
        "params (M)",
        "GFLOPs",
        "AP50 FP32",
        "AP50 INT8",
        "FP32 ms",
        "FP32 FPS",
        "INT8 ms",
        "INT8 FPS",
        "INT8 e2e ms (pre / inf / post)",
        "post @100 cand. (ms, % of INT8 e2e)",
    ]
    lines = [
        "# Detection: YOLO-ReT ablation and YOLOv5 stems (generated)",
        "",
        f"Written by `{command}` — do not edit by hand.",
        "",
        "Machine: "
        + ", ".join(f"{k} {v}" for k, v in machine.items() if isinstance(v, (str, int, float))),
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()),
        "",
        f"AP50: COCO AP at IoU 0.5 on {settings.get('val split', 'the val split')} of the "
        "dataset, through the ONNX Runtime "
        "path (letterbox, numpy decode + class-aware NMS). Latency: `engine.run` p50 on "
        "2 threads (ONNX Runtime, CPU), measured alternately in fresh processes; e2e: the "
        "Predictor path per stage on a synthetic image. INT8: static QDQ, U8 activations, "
        "S8 per-channel weights (onnxruntime.quantization).",
        "",
        "| " + " | ".join(header) + " |",
        "|:---|" + "---:|" * (len(header) - 1),
    ]
    for r in rows:
        st = r.get("int8_stages") or {}
        lines.append(
            "| "
            + " | ".join(
                [
                    r["label"],
                    _f(r.get("params_m"), 2),
                    _f(r.get("gflops"), 2),
                    _f(r["fp32_ap50"], 3),
                    _f(r["int8_ap50"], 3),
                    _f(r["fp32_latency_ms"], 2),
                    _f(r["fp32_fps"], 1),
                    _f(r["int8_latency_ms"], 2),
                    _f(r["int8_fps"], 1),
                    f"{_f(st.get('total'), 2)} ({_f(st.get('preprocess'), 2)} / "
                    f"{_f(st.get('inference'), 2)} / {_f(st.get('postprocess'), 2)})",
                    f"{_f(r['post_ms_p50'], 2)} ({_f(100 * r['post_share_100'], 1)} %)",
                ]
            )
            + " |"
        )
    if reference is not None:
        st = reference.get("fp32_stages") or {}
        lines.append(
            f"| {reference['label']} | {_f(reference.get('params_m'), 2)} | "
            f"{_f(reference.get('gflops'), 2)} | n/a | n/a | "
            f"{_f(reference['fp32_latency_ms'], 2)} | {_f(reference['fp32_fps'], 1)} | n/a | n/a | "
            f"FP32: {_f(st.get('total'), 2)} ({_f(st.get('preprocess'), 2)} / "
            f"{_f(st.get('inference'), 2)} / {_f(st.get('postprocess'), 2)}) | n/a |"
        )
        lines += [
            "",
            "The last row is the speed reference of issue 5's target (YOLOv8n's graph, "
            "`edgevision.reports.reference`, untrained: its AP means nothing; its class priors "
            "keep post-processing minimal, so its e2e time is a lower bound).",
        ]
    lines += ["", f"![AP50 vs latency]({png})", ""]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ablation's command-line options (shared by ``edgevision report detection``)."""
    p.add_argument("--data", required=True, help="COCO-layout folder (e.g. camvid-boxes output)")
    p.add_argument("--out", required=True, help="work folder (runs, ONNX files, ablation.json)")
    p.add_argument("--md", default="docs/results/detection.md", help="results page to write")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-train-images", type=int, default=0, help="first N train images (0: all)")
    p.add_argument("--eval-max-images", type=int, default=0, help="first N val images (0: all)")
    p.add_argument("--input", default="320x320", metavar="HxW")
    p.add_argument("--runs", type=int, default=50, help="timed runs per model")
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--variants", default="", help="comma-separated labels (default: all)")
    p.add_argument(
        "--train-split",
        default="train",
        help="split or sequence selector every variant trains on (e.g. train-0006R0)",
    )
    p.add_argument(
        "--val-split",
        default="val",
        help="split or sequence selector AP50 is scored on (e.g. train:0006R0, a held-out street)",
    )
    p.add_argument(
        "--set",
        dest="recipe",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a DetTrainConfig field every variant trains with, e.g. --set copy_paste=0.5 "
        "--set photometric=0.5",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads for training/eval (default 1: on a busy 2-core box more "
        "threads spin in OpenMP barriers; the ONNX Runtime timing always uses 2)",
    )


def run_args(args: argparse.Namespace, command: str) -> int:
    """Run the ablation for parsed :func:`add_arguments` options (raises EdgeVisionError)."""
    from edgevision.config import parse_size

    if args.torch_threads >= 1:
        import torch

        torch.set_num_threads(args.torch_threads)
    chosen = list(VARIANTS)
    if args.variants:
        want = [s.strip() for s in args.variants.split(",")]
        unknown = [w for w in want if w not in {v.label for v in VARIANTS}]
        if unknown:
            raise ConfigError(f"unknown variants {unknown}; known: {[v.label for v in VARIANTS]}")
        chosen = [v for v in VARIANTS if v.label in want]
    rows = run_ablation(
        data=args.data,
        out=args.out,
        md=args.md,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_train_images=args.max_train_images,
        eval_max_images=args.eval_max_images,
        input_size=parse_size(args.input, "--input"),
        runs=args.runs,
        blocks=args.blocks,
        variants=chosen,
        command=command,
        progress=sys.stderr.isatty(),
        train_split=args.train_split,
        val_split=args.val_split,
        recipe=args.recipe,
    )
    for r in rows:
        print(
            f"{r['label']}: AP50 fp32 {r['fp32_ap50']:.3f} int8 {r['int8_ap50']:.3f}, "
            f"int8 {r['int8_latency_ms']:.2f} ms"
        )
    print(f"wrote {args.md}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgevision.reports.detection_ablation``; exit 2 on bad input."""
    p = argparse.ArgumentParser(
        prog="python -m edgevision.reports.detection_ablation",
        description="Train, quantize, score and benchmark the detection ablation variants "
        "and write the results page (markdown + PNG).",
    )
    add_arguments(p)
    args = p.parse_args(argv)
    argv_l = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "-m", "edgevision.reports.detection_ablation", *argv_l])
    try:
        return run_args(args, command)
    except EdgeVisionError as e:
        print(f"detection_ablation: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
