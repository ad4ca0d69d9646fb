"""The speed targets of a trained detector against a YOLOv8n-sized reference, in one run.

``edgevision report detection-speed WEIGHTS --data DIR`` exports the detector at 320×320
(FP32 ONNX), quantizes it to static INT8 (QDQ, U8 activations / S8 per-channel weights,
calibrated on the first training images of ``DIR``), exports the YOLOv8n-architecture
speed reference (:mod:`edgevision.reports.reference`) and times the three alternately in fresh
ONNX Runtime processes on 2 threads (:func:`~edgevision.bench.harness.benchmark_many`):
engine-only latency and the end-to-end Predictor path (letterbox pre-processing, inference,
numpy decode + NMS) per stage. It also times decode + NMS alone at exactly 100 candidate
boxes above the score threshold, and scores AP50 on the val split for FP32 and INT8.

Targets checked (written to the page with the numbers that decide them):

* detector INT8 end-to-end FPS ≥ 2× the reference's FP32 FPS (reported against both the
  reference's end-to-end and its engine-only FPS: the stricter reading);
* decode + NMS at 100 candidates ≤ 10 % of the detector's INT8 end-to-end latency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgevision.reports.detection_ablation import postprocess_share, quantize_int8
from edgevision.tasks import get_task

__all__ = ["detection_speed_report"]


def _fmt(v: Any, nd: int = 2) -> str:
    try:
        return f"{float(v):.{nd}f}"
    except (TypeError, ValueError):
        return "n/a"


def detection_speed_report(
    weights: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str] = "docs/results/detection_speed.md",
    work: str | os.PathLike[str] = "runs/detection_speed",
    input_size: tuple[int, int] = (320, 320),
    runs: int = 60,
    blocks: int = 4,
    calib_images: int = 32,
    evaluate_ap: bool = True,
    command: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Measure and write the page (see the module docstring); returns the numbers.

    Raises:
        DataError: ``data`` is not a COCO-layout detection folder with a train split.
        ConfigError: ``weights`` is not a detector.
    """
    from edgevision.bench.harness import benchmark_many
    from edgevision.config import BenchConfig
    from edgevision.errors import ConfigError
    from edgevision.export import export_onnx
    from edgevision.export.metadata import read_spec
    from edgevision.io import write_json_atomic, write_text_atomic
    from edgevision.reports.reference import export_yolov8n_reference
    from edgevision.train.detection import load_split

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    calib = load_split(Path(data), "train").files[: max(1, calib_images)]
    name = Path(weights).stem
    fp32 = work / f"{name}_{input_size[0]}x{input_size[1]}.onnx"
    int8 = work / f"{name}_{input_size[0]}x{input_size[1]}_int8.onnx"
    ref = work / f"yolov8n_reference_{input_size[0]}x{input_size[1]}.onnx"
    export_onnx(weights, fp32, input_size=input_size)
    spec = read_spec(fp32)
    if get_task(spec.task).coco_types != ("bbox",):
        raise ConfigError(f"{weights} is a {spec.task!r} model, not a detector")
    quantize_int8(fp32, int8, calib)
    export_yolov8n_reference(ref, input_size)

    targets = [ref, fp32, int8]
    labels = [
        "YOLOv8n-architecture reference FP32 (random weights)",
        f"{name} FP32",
        f"{name} INT8",
    ]
    bench = benchmark_many(
        [str(t) for t in targets],
        BenchConfig(threads=2, input_size=input_size, runs=runs, warmup=5),
        blocks=blocks,
        progress=progress,
        command=command,
    )
    rows: list[dict[str, Any]] = []
    for label, b in zip(labels, bench):
        st = b.stages_ms or {}
        rows.append(
            {
                "label": label,
                "params_m": (b.params or 0) / 1e6,
                "gflops": b.gflops,
                "engine_ms": b.latency_ms["p50"],
                "engine_p90_ms": b.latency_ms.get("p90"),
                "engine_fps": 1e3 / b.latency_ms["p50"],
                "pre_ms": st.get("preprocess"),
                "inf_ms": st.get("inference"),
                "post_ms": st.get("postprocess"),
                "e2e_ms": st.get("total"),
                "e2e_fps": 1e3 / st["total"] if st.get("total") else None,
            }
        )
    if evaluate_ap:
        from edgevision.evaluate import evaluate
        from edgevision.runtime import Predictor, load_engine

        for row, f in zip(rows[1:], (fp32, int8)):
            rep = evaluate(Predictor(load_engine(f, threads=2)), data, "val", progress=progress)
            row["ap50"] = float(rep.metrics["bbox"]["AP50"])
            row["ap"] = float(rep.metrics["bbox"]["AP"])
    post = postprocess_share(spec)
    ref_row, int8_row = rows[0], rows[2]
    res = {
        "rows": rows,
        "post_ms_100": post["post_ms_p50"],
        "post_share_100": post["post_ms_p50"] / int8_row["e2e_ms"],
        "ratio_vs_ref_e2e": int8_row["e2e_fps"] / ref_row["e2e_fps"],
        "ratio_vs_ref_engine": int8_row["e2e_fps"] / ref_row["engine_fps"],
        "input_size": list(input_size),
        "machine": bench[0].meta.get("machine", {}),
        "command": command,
    }
    write_json_atomic(work / "detection_speed.json", res)
    write_text_atomic(Path(out), _markdown(res, name=name, runs=runs, blocks=blocks))
    return res


def _markdown(res: dict[str, Any], *, name: str, runs: int, blocks: int) -> str:
    h, w = res["input_size"]
    m = res["machine"]
    mach = ", ".join(f"{k} {v}" for k, v in m.items()) if isinstance(m, dict) else str(m)
    lines = [
        "# Detection speed targets (generated)",
        "",
        f"Written by `{res['command']}` — do not edit by hand.",
        "",
        f"Machine: {mach}",
        "",
        f"ONNX Runtime on the CPU, 2 threads, {h}x{w} input, batch 1; the three models timed "
        f"alternately in fresh processes ({runs} timed runs each in {blocks} blocks). "
        "*engine*: `engine.run` p50; *e2e*: the Predictor path (letterbox pre-processing, "
        "inference, numpy decode + class-aware NMS) p50 per stage on a random image. INT8: "
        "static QDQ, U8 activations, S8 per-channel weights (onnxruntime.quantization). The "
        "reference is the YOLOv8n graph (3.16 M parameters, 8.7 GFLOPs at 640: "
        "`edgevision.reports.reference`) with random weights; its class priors let almost "
        "nothing through the score threshold, so its e2e time is a lower bound.",
        "",
        "| model | params (M) | GFLOPs | engine ms | engine FPS | e2e ms (pre / inf / post) "
        "| e2e FPS | val AP50 | val AP |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['label']} | {_fmt(r['params_m'])} | {_fmt(r['gflops'])} | "
            f"{_fmt(r['engine_ms'])} | {_fmt(r['engine_fps'], 1)} | {_fmt(r['e2e_ms'])} "
            f"({_fmt(r['pre_ms'])} / {_fmt(r['inf_ms'])} / {_fmt(r['post_ms'])}) | "
            f"{_fmt(r['e2e_fps'], 1)} | {_fmt(r.get('ap50'), 3)} | {_fmt(r.get('ap'), 3)} |"
        )
    ok1 = res["ratio_vs_ref_engine"] >= 2.0
    ok1e = res["ratio_vs_ref_e2e"] >= 2.0
    ok2 = res["post_share_100"] <= 0.10
    lines += [
        "",
        "Targets:",
        "",
        f"- {name} INT8 end to end ≥ 2× the reference's FP32 FPS: "
        f"**{res['ratio_vs_ref_e2e']:.2f}×** its end-to-end FPS ({'met' if ok1e else 'not met'}), "
        f"**{res['ratio_vs_ref_engine']:.2f}×** its engine-only FPS "
        f"({'met' if ok1 else 'not met'}).",
        f"- decode + NMS at 100 candidate boxes ≤ 10 % of the INT8 end-to-end latency: "
        f"{res['post_ms_100']:.2f} ms = **{100 * res['post_share_100']:.1f} %** "
        f"({'met' if ok2 else 'not met'}).",
        "",
    ]
    return "\n".join(lines)
