"""NNCF's accuracy-control mode of static PTQ (``quantize --engine nncf --max-drop PTS``).

``nncf.quantize_with_accuracy_control`` quantizes the graph, scores FP32 and INT8 with a
validation function, and while the drop exceeds the budget it ranks groups of quantizers by
the metric with each group reverted and reverts the costliest ones to FP32. The validation
function here scores a candidate ``ModelProto`` with the project's own evaluation: the
candidate is written to a temporary ONNX file carrying the model's edgevision metadata,
loaded with ONNX Runtime or OpenVINO (:func:`~edgevision.runtime.load_engine`; the engine the
file will be deployed on, since one QDQ file can lose more on one than on the other) behind a
:class:`~edgevision.runtime.Predictor`, and scored by :func:`~edgevision.evaluate.evaluate`
on the validation images NNCF asks for (the task's headline: mIoU, box or mask AP).

It returns ``(metric, None)``: NNCF's *metric mode*, which asks again per image for the
per-item values it ranks with. (Its other mode, ranking by output differences, has no ONNX
implementation in NNCF 3.x: its NMSE function exists for OpenVINO models only.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevision.config import ModelSpec
from edgevision.tasks import get_task


@dataclass
class AccuracyControl:
    """What accuracy control did, as recorded in the file and the :class:`QuantResult`.

    Attributes:
        max_drop: the budget, in points (headline × 100).
        metric: name of the headline scored (``miou``, ``box_ap``, ``mask_ap``, ``pq``).
        fp32: FP32 headline × 100 on the validation images.
        int8: headline × 100 of the model NNCF returned.
        drop: how much worse INT8 is than FP32, in points.
        images: validation images scored.
        data: validation dataset folder.
        split: its split.
        models_scored: models loaded for scoring (FP32, INT8 and the partly reverted
            candidates NNCF asked about; a model asked about again after another counts
            again).
        backend: the engine that scored them (``onnxruntime`` or ``openvino``).
        int8_initial: headline × 100 of the fully quantized model NNCF scored first
            (before reverting anything); ``None`` if NNCF scored no INT8 model.
        reverted: quantizers (``DequantizeLinear`` nodes: one per quantized activation or
            weight, whether the weight is stored quantized or fake-quantized) the returned
            model has fewer than that first INT8 model: the ones NNCF put back to FP32.
    """

    max_drop: float
    metric: str
    fp32: float
    int8: float
    drop: float
    images: int
    data: str
    split: str
    models_scored: int
    backend: str = "onnxruntime"
    int8_initial: float | None = None
    reverted: int | None = None


class Validator:
    """NNCF's ``validation_fn(model_proto, items) -> (metric, None)``.

    Items are indices into the validation split (in :func:`evaluate`'s order). The metric
    is the task's headline in its own 0–1 scale (negated if lower is better, since NNCF's
    drop assumes higher is better). The last candidate's ONNX Runtime session is kept, so
    NNCF's per-image calls on one model load it once.

    Args:
        spec: the model's spec (embedded into every candidate file).
        data: validation dataset folder.
        split: its split.
        max_images: cap on validation images (``0``: all).
        work: folder for the candidate file.
        threads: engine threads.
        backend: the engine that scores the candidates (``onnxruntime`` or ``openvino``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        data: str | Path,
        split: str,
        *,
        max_images: int,
        work: Path,
        threads: int = 2,
        backend: str = "onnxruntime",
    ) -> None:
        self.spec, self.data, self.split = spec, str(data), split
        self.backend = backend
        self.max_images, self.work, self.threads = max_images, work, threads
        self.task = get_task(spec.task)
        self.images = 0
        """Validation images (known after :meth:`prime`)."""
        self.models_scored = 0
        self._key: str | None = None
        self._predictor: Any = None
        self._full: dict[str, float] = {}  # model hash -> headline on every validation image
        self._fp32_key: str | None = None
        self._initial_key: str | None = None  # the first INT8 model scored on every image
        self._last_key: str | None = None  # the last model scored on every image
        self._quantizers: dict[str, int] = {}  # model hash -> DequantizeLinear nodes

    def prime(self, proto: Any) -> float:
        """Score the FP32 model on the validation images before NNCF starts (a bad
        validation folder fails here, before the slow part); returns its headline (0–1).

        Raises:
            DataError: missing or malformed validation data.
        """
        from edgevision.evaluate import evaluate

        key = _model_key(proto)
        rep = evaluate(
            self._load(proto, key),
            self.data,
            self.split,
            max_images=self.max_images,
            progress=False,
        )
        self.images = rep.num_images
        self._full[key] = float(rep.headline or 0.0)
        self._fp32_key = key
        return self._full[key]

    @property
    def items(self) -> list[int]:
        """The validation items NNCF iterates: image indices ``0 .. images-1``."""
        return list(range(self.images))

    def headline(self, proto: Any) -> float:
        """Headline (0–1) of ``proto`` on every validation image (scored once per model)."""
        key = _model_key(proto)
        if key not in self._full:
            self._full[key] = self._score(proto, key, self.items)
        quantizers = self._quantizers.setdefault(key, _count_quantizers(proto))
        if quantizers > 0 and key != self._fp32_key:
            if self._initial_key is None:
                self._initial_key = key
            self._last_key = key
        return self._full[key]

    def __call__(self, proto: Any, items: Iterable[Any]) -> tuple[float, None]:
        idx = [int(i) for i in items]
        key = _model_key(proto)
        if idx == self.items:
            v = self.headline(proto)
        else:
            v = self._score(proto, key, idx)
        return (v if self.task.higher_is_better else -v), None

    def _score(self, proto: Any, key: str, idx: list[int]) -> float:
        from edgevision.evaluate import evaluate

        rep = evaluate(self._load(proto, key), self.data, self.split, images=idx, progress=False)
        return float(rep.headline or 0.0)

    def _load(self, proto: Any, key: str) -> Any:
        """A Predictor over ``proto`` (the cached one if ``proto`` was the last model)."""
        if key == self._key:
            return self._predictor
        import onnx

        from edgevision.export.metadata import embed_spec
        from edgevision.quantize.qdq import scalar_qdq_params
        from edgevision.runtime import Predictor, load_engine

        m = onnx.ModelProto()
        m.CopyFrom(proto)
        embed_spec(m, self.spec)
        scalar_qdq_params(m)  # ORT refuses NNCF's [1]-shaped scales in QLinearAveragePool
        path = self.work / f"candidate{self.models_scored}.onnx"
        onnx.save(m, str(path))
        self._predictor = Predictor(load_engine(path, backend=self.backend, threads=self.threads))
        self._key = key
        self.models_scored += 1
        path.unlink()  # the session holds the model; keep the work folder small
        return self._predictor

    def report(self, max_drop: float, fp32: float, int8: float) -> AccuracyControl:
        """The :class:`AccuracyControl` record for headlines ``fp32`` and ``int8`` (0–1);
        ``int8`` is the model last scored through :meth:`headline` (the one NNCF returned)."""
        first, last = self._initial_key, self._last_key
        return AccuracyControl(
            max_drop=max_drop,
            metric=self.task.eval_headline,
            fp32=100.0 * fp32,
            int8=100.0 * int8,
            drop=100.0 * (fp32 - int8 if self.task.higher_is_better else int8 - fp32),
            images=self.images,
            data=self.data,
            split=self.split,
            models_scored=self.models_scored,
            backend=self.backend,
            int8_initial=None if first is None else 100.0 * self._full[first],
            reverted=(
                None
                if first is None or last is None
                else self._quantizers[first] - self._quantizers[last]
            ),
        )


def _count_quantizers(proto: Any) -> int:
    """``DequantizeLinear`` nodes in ``proto``'s main graph: one per quantizer NNCF inserted.

    Not ``QuantizeLinear``: the model NNCF returns stores its weights quantized (a constant
    INT8 tensor into a ``DequantizeLinear``), while the candidates it scores first carry
    FP32 weights through a ``QuantizeLinear``/``DequantizeLinear`` pair.
    """
    return sum(n.op_type == "DequantizeLinear" for n in proto.graph.node)


def _model_key(proto: Any) -> str:
    """Content hash of a ModelProto (NNCF hands over new objects for every candidate)."""
    return hashlib.sha256(proto.SerializeToString()).hexdigest()
