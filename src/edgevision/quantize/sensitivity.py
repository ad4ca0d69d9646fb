"""Sensitivity analysis and measured search of per-component precision.

Everything is measured on the real runtime (ONNX Runtime, CPU): each candidate is an actual
QDQ model built by ``onnxruntime.quantization.quantize_static`` from one shared calibration
(ranges cached in a JSON file, so calibration runs once), and scored by

* output error of its logits against FP32 on the calibration images (SQNR in dB, relative
  L2, fraction of pixels whose argmax is unchanged), and
* with ``eval_data``, the metric on held-out data (the evaluation's headline through
  :func:`edgevision.evaluate`: mIoU, box AP or mask AP; detectors and instance models need it),
  reported as the drop against FP32 in points (0–100 scale).

:func:`analyze` quantizes one component (or one layer) at a time ("only") and everything
but one component ("all but"), ranks them, and proposes the exclusion list: components are
set to FP32, most sensitive first, until the quantized model is within the accuracy budget.
:func:`search` (``--auto``) builds the candidates all-INT8 → exclusion steps → FP32, times
them with the bench harness in one alternating run, and picks the fastest one within budget.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgevision.errors import ConfigError
from edgevision.progress import track
from edgevision.quantize.config import QuantConfig
from edgevision.tasks import get_task

QUANT_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
"""Op types scored individually in the per-layer analysis (the weighted layers)."""


@dataclass
class Score:
    """One measured configuration.

    Attributes:
        name: what was quantized (``"backbone"``, ``"all but head"``, a node name ...).
        kind: ``"component"``, ``"all_but"``, ``"layer"`` or ``"config"``.
        sqnr_db: SQNR of the logits vs FP32 (dB; higher is better).
        rel_l2: relative L2 error of the logits.
        argmax_agreement: fraction of pixels with unchanged argmax (0–1).
        metric: the headline metric × 100 on ``eval_data`` (mIoU, box or mask AP; ``None``
            without it).
        drop: accuracy drop vs FP32 in points: mIoU drop with ``eval_data``, else
            ``100 × (1 − argmax_agreement)`` (the fraction of changed pixels, a proxy).
        precision: component -> precision of this configuration.
        latency_ms: p50 latency (search only).
    """

    name: str
    kind: str
    sqnr_db: float
    rel_l2: float
    argmax_agreement: float
    metric: float | None = None
    drop: float = 0.0
    precision: dict[str, str] = field(default_factory=dict)
    latency_ms: float | None = None


@dataclass
class SensitivityReport:
    """Ranked sensitivities and the proposed exclusion list.

    Attributes:
        model: registry name.
        drop_measure: ``"miou"``, ``"box_ap"`` or ``"mask_ap"`` (points of the task's
            headline metric on ``eval_data``) or ``"argmax"`` (semantic only: percent
            of pixels whose class changes vs FP32 on calibration images).
        fp32_metric: FP32 headline metric × 100 (``None`` without eval data).
        all_int8: score of the fully quantized model.
        components: one score per component quantized alone, most sensitive first.
        all_but: one score per component left in FP32 (rest INT8), best first.
        layers: top-k layers quantized alone, most sensitive first.
        exclude: proposed FP32 components (empty if all-INT8 is within budget).
        proposed: the score of the proposal.
        max_drop: the accuracy budget used (points).
        searched: explored configurations with latency (``--auto`` only), FP32 first.
        chosen: the fastest quantized configuration within budget (``--auto``).
        notes: remarks, e.g. when FP32 itself is faster than every quantized candidate.
    """

    model: str
    drop_measure: str
    fp32_metric: float | None
    all_int8: Score
    components: list[Score]
    all_but: list[Score]
    layers: list[Score]
    exclude: list[str]
    proposed: Score
    max_drop: float
    searched: list[Score] = field(default_factory=list)
    chosen: Score | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Bench:
    """Shared state: FP32 model, pre-processed model, calibration, node map, references."""

    def __init__(
        self,
        target: str | os.PathLike[str],
        work: Path,
        cfg: QuantConfig,
        calib_data: str | os.PathLike[str],
        *,
        input_size: tuple[int, int] | None,
        check_images: int,
        eval_data: str | os.PathLike[str] | None,
        eval_split: str,
        eval_images: int,
        threads: int,
        progress: bool,
    ) -> None:
        import onnx

        from edgevision.export.components import build_node_map
        from edgevision.quantize.calibration import ImageFolderReader
        from edgevision.quantize.ptq import (
            _input_name,
            fp32_onnx,
            preprocess_for_quant,
            run_all_outputs,
        )

        if cfg.mode != "static":
            raise ConfigError("sensitivity analysis and search use --mode static")
        self.work, self.cfg = work, cfg
        self.src, self.spec = fp32_onnx(target, work, input_size=input_size)
        if not get_task(self.spec.task).quant_proxy and eval_data is None:
            raise ConfigError(
                f"--analyze/--auto on a {self.spec.task!r} model need --eval-data DIR: its "
                "accuracy drop is measured in AP points (the changed-pixel proxy is for "
                "semantic models only)"
            )
        self.input_name = _input_name(self.src)
        self.reader = ImageFolderReader(
            calib_data,
            self.spec,
            count=cfg.calib_size,
            input_name=self.input_name,
            split=cfg.calib_split,
            input_size=input_size,
        )
        self.pre = preprocess_for_quant(self.src, work / "pre.onnx")
        proto = onnx.load(str(self.pre), load_external_data=False)
        self.node_map = build_node_map(proto, self.spec)
        if not self.node_map.components:
            raise ConfigError(f"model {self.spec.name!r} declares no components")
        self.cache = work / "calibration.json"
        self.batch = self.reader.data[: max(1, min(check_images, len(self.reader)))]
        self.ref = run_all_outputs(self.src, self.batch, self.input_name)
        self.eval_data, self.eval_split, self.eval_images = eval_data, eval_split, eval_images
        self.threads, self.progress = threads, progress
        self.fp32_metric = self.metric(self.src) if eval_data is not None else None
        self._n = 0

    def metric(self, path: Path) -> float:
        from edgevision.evaluate import evaluate
        from edgevision.runtime import Predictor, load_engine

        rep = evaluate(
            Predictor(load_engine(path, threads=self.threads)),
            self.eval_data,  # type: ignore[arg-type]
            self.eval_split,
            max_images=self.eval_images,
            progress=False,
        )
        return 100.0 * float(rep.headline or 0.0)

    def build(self, quantize: list[str] | None, exclude: list[str] | None) -> Path:
        from edgevision.quantize.ptq import quantize_onnx_static

        self._n += 1
        out = self.work / f"cand{self._n}.onnx"
        quantize_onnx_static(
            self.pre,
            out,
            self.reader,
            self.cfg,
            nodes_to_quantize=quantize,
            nodes_to_exclude=exclude,
            calibration_cache=self.cache,
        )
        return out

    def score(
        self, path: Path, name: str, kind: str, precision: dict[str, str] | None = None
    ) -> Score:
        from edgevision.quantize.ptq import output_error, run_all_outputs

        err = output_error(self.ref, run_all_outputs(path, self.batch, self.input_name))
        s = Score(
            name=name,
            kind=kind,
            sqnr_db=err["sqnr_db"],
            rel_l2=err["rel_l2"],
            argmax_agreement=err["argmax_agreement"],
            precision=dict(precision or {}),
        )
        if self.fp32_metric is not None:
            s.metric = self.metric(path)
            s.drop = self.fp32_metric - s.metric
        else:
            s.drop = 100.0 * (1.0 - err["argmax_agreement"])
        return s

    def config_nodes(self, fp32: list[str]) -> tuple[list[str], dict[str, str]]:
        """Excluded nodes and the full precision map for a set of FP32 components."""
        from edgevision.export.components import OTHER, OTHER_NAME, resolve_precision, split_nodes

        names = [OTHER_NAME if c == OTHER else c for c in fp32]  # full maps key it as OTHER
        full = resolve_precision(dict.fromkeys(names, "fp32"), "int8", self.node_map.components)
        _, excl = split_nodes(self.node_map, full)
        return excl, full

    def nodes(self, component: str) -> list[str]:
        """Nodes of a declared component, or of :data:`~edgevision.export.components.OTHER`
        by its public name ``"other"``."""
        from edgevision.export.components import OTHER, OTHER_NAME

        return self.node_map.nodes(OTHER if component == OTHER_NAME else component)

    @property
    def components(self) -> list[str]:
        """Declared components, plus ``"other"`` when nodes lie outside all of them (output
        glue such as Concat/Softmax: quantizing it can collapse accuracy on its own)."""
        from edgevision.export.components import OTHER_NAME

        comps = list(self.node_map.components)
        return [*comps, OTHER_NAME] if self.nodes(OTHER_NAME) else comps


def _progress(items: list[Any], what: str, enabled: bool) -> Any:
    return track(items, len(items), what, enabled, every=1)


def analyze(
    target: str | os.PathLike[str],
    calib_data: str | os.PathLike[str],
    config: QuantConfig | None = None,
    *,
    eval_data: str | os.PathLike[str] | None = None,
    eval_split: str = "val",
    eval_images: int = 0,
    max_drop: float = 1.0,
    top_k: int = 10,
    layers: bool = True,
    input_size: tuple[int, int] | None = None,
    check_images: int = 8,
    threads: int = 2,
    auto: bool = False,
    out: str | os.PathLike[str] | None = None,
    bench_runs: int = 20,
    progress: bool = True,
) -> SensitivityReport:
    """Per-component and per-layer sensitivity of static INT8, and the exclusion proposal.

    Args:
        target: checkpoint, registry name or FP32 ``.onnx`` with edgevision metadata.
        calib_data: calibration folder (also the images for the output-error check).
        config: static-mode options (method, calib size, types).
        eval_data: dataset folder for the metric (mIoU); without it the drop is the percent
            of pixels whose argmax changes on the calibration images.
        eval_split: split of ``eval_data``.
        eval_images: cap on evaluation images (0: all).
        max_drop: accuracy budget in points.
        top_k: layers listed in the per-layer ranking.
        layers: run the per-layer analysis (one quantization per weighted layer).
        input_size: ``(H, W)`` override.
        check_images: calibration images used for the output error.
        threads: ONNX Runtime threads for evaluation and timing.
        auto: also time the candidates and choose the fastest within budget (``--auto``).
        out: with ``auto``, where to write the chosen model (with metadata).
        bench_runs: timed runs per candidate in the search.
        progress: progress bars on stderr.

    Raises:
        DataError, ConfigError, ModelFileError, QuantizationError: as :func:`quantize_model`.
    """
    cfg = config or QuantConfig()
    if max_drop < 0:
        raise ConfigError(f"max_drop must be >= 0, got {max_drop}")
    with tempfile.TemporaryDirectory(prefix="edgevision-sens-") as td:
        b = _Bench(
            target,
            Path(td),
            cfg,
            calib_data,
            input_size=input_size,
            check_images=check_images,
            eval_data=eval_data,
            eval_split=eval_split,
            eval_images=eval_images,
            threads=threads,
            progress=progress,
        )
        comps = b.components
        _, full_int8 = b.config_nodes([])
        int8_path = b.build(None, None)  # calibrates once, fills the cache
        all_int8 = b.score(int8_path, "all int8", "config", full_int8)

        only: list[Score] = []
        for c in _progress(comps, "components", progress):
            nodes = b.nodes(c)
            if not nodes:
                continue
            p = b.build(nodes, None)
            only.append(b.score(p, c, "component", {c: "int8"}))
        only.sort(key=lambda s: (-s.drop, s.sqnr_db))

        all_but: list[Score] = []
        for c in _progress(comps, "all but one", progress):
            if not b.nodes(c):
                continue
            excl, full = b.config_nodes([c])
            p = b.build(None, excl)
            all_but.append(b.score(p, f"all but {c}", "all_but", full))
        all_but.sort(key=lambda s: (s.drop, -s.sqnr_db))

        layer_scores: list[Score] = []
        if layers:
            cand = [n for n, op in b.node_map.node_op.items() if op in QUANT_OPS]
            for n in _progress(cand, "layers", progress):
                p = b.build([n], None)
                layer_scores.append(b.score(p, n, "layer"))
                p.unlink()
            layer_scores.sort(key=lambda s: (-s.drop, s.sqnr_db))
            layer_scores = layer_scores[:top_k]

        # proposal: FP32 components, most sensitive first, until within budget
        exclude: list[str] = []
        steps: list[Score] = [all_int8]
        proposed = all_int8
        order = [s.name for s in only]
        while proposed.drop > max_drop and len(exclude) < len(order) - 1:
            exclude.append(order[len(exclude)])
            excl, full = b.config_nodes(exclude)
            p = b.build(None, excl)
            proposed = b.score(p, "fp32: " + ",".join(exclude), "config", full)
            steps.append(proposed)
        report = SensitivityReport(
            model=b.spec.name,
            drop_measure=get_task(b.spec.task).eval_headline if eval_data is not None else "argmax",
            fp32_metric=b.fp32_metric,
            all_int8=all_int8,
            components=only,
            all_but=all_but,
            layers=layer_scores,
            exclude=exclude,
            proposed=proposed,
            max_drop=max_drop,
        )
        if auto:
            _search(b, report, steps, all_but, max_drop, bench_runs, out)
    return report


def _search(
    b: _Bench,
    report: SensitivityReport,
    steps: list[Score],
    all_but: list[Score],
    max_drop: float,
    runs: int,
    out: str | os.PathLike[str] | None,
) -> None:
    """Time the candidate configurations in one alternating run; pick the fastest in budget."""
    # candidates: the greedy steps, every single-component exclusion, and FP32 itself
    cands: dict[str, tuple[Score, list[str]]] = {}
    seen: set[tuple[str, ...]] = set()
    for s in [*steps, *all_but]:
        fp32 = sorted(c for c, p in s.precision.items() if p == "fp32")
        if tuple(fp32) not in seen:  # the same configuration reached twice is timed once
            seen.add(tuple(fp32))
            cands[s.name] = (s, fp32)
    paths: dict[str, Path] = {}
    for name, (_, fp32) in cands.items():
        excl, _ = b.config_nodes(fp32)
        paths[name] = b.build(None, excl or None)
    names = list(cands)
    # time FP32 + candidates alternately in fresh processes (bench harness)
    targets = [b.src, *(paths[n] for n in names)]
    from edgevision.bench import benchmark_many
    from edgevision.config import BenchConfig

    res = benchmark_many(
        [str(t) for t in targets],
        BenchConfig(threads=b.threads, runs=runs, warmup=max(2, runs // 5)),
        blocks=min(3, runs),
        progress=b.progress,
        stages=False,
        flops=False,
    )
    fp32_score = Score("fp32", "config", float("inf"), 0.0, 1.0, b.fp32_metric, 0.0)
    fp32_score.latency_ms = res[0].latency_ms["p50"]
    explored = [fp32_score]
    for n, r in zip(names, res[1:]):
        s = cands[n][0]
        s.latency_ms = r.latency_ms["p50"]
        explored.append(s)
    report.searched = explored
    ok = [s for s in explored[1:] if s.drop <= max_drop]
    if not ok:
        raise ConfigError(
            f"no quantized configuration is within --max-drop {max_drop} (best: "
            f"{min(explored[1:], key=lambda s: s.drop).drop:.2f}); nothing written"
        )
    chosen = min(ok, key=lambda s: s.latency_ms or float("inf"))
    report.chosen = chosen
    if (fp32_score.latency_ms or 0.0) <= (chosen.latency_ms or 0.0):
        report.notes.append(
            f"FP32 ({fp32_score.latency_ms:.2f} ms) is not slower than the fastest quantized "
            f"configuration within budget ({chosen.latency_ms:.2f} ms) on this machine"
        )
    if out is not None:
        from edgevision.quantize.ptq import _finalize

        fp32_names = [c for c, p in chosen.precision.items() if p == "fp32"]
        excl, full = b.config_nodes(fp32_names)
        record = {
            "mode": "static",
            "method": b.cfg.method,
            "calib_size": len(b.reader),
            "activation_type": b.cfg.activation_type,
            "weight_type": b.cfg.weight_type,
            "per_channel": b.cfg.per_channel,
            "reduce_range": b.cfg.reduce_range,
            "precision": full,
            "excluded_nodes": len(excl),
            "tool": "onnxruntime.quantization",
            "search": {"max_drop": max_drop, "drop": chosen.drop, "p50_ms": chosen.latency_ms},
        }
        _finalize(
            paths[chosen.name],
            Path(out),
            b.spec,
            "mixed" if fp32_names else "int8",
            record,
        )


__all__ = ["Score", "SensitivityReport", "analyze"]
