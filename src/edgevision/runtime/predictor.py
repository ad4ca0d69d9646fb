"""``Predictor``: image(s) -> result type, via the spec's preprocessing, an engine, and the
spec's numpy postprocessor; optionally timing each stage."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.postprocess import get_postprocessor
from edgevision.preprocess import preprocess
from edgevision.runtime.base import Engine


class Predictor:
    """Callable wrapper: ``predictor(image) -> Detections | InstanceMasks | SemanticMask``.

    Args:
        engine: a loaded :class:`Engine`.
        input_size: ``(H, W)`` override of ``engine.spec.input_size`` (dynamic-shape models).
        **post_kwargs: passed to the postprocessor (e.g. score thresholds).

    Raises:
        ModelFileError: the engine's model does not take ``(N, 3, H, W)`` images.
    """

    def __init__(
        self, engine: Engine, *, input_size: tuple[int, int] | None = None, **post_kwargs: Any
    ) -> None:
        self.engine = engine
        self.spec: ModelSpec = engine.spec
        shape = getattr(engine, "input_shape", None)  # ONNX and TensorRT engines know it
        if shape is not None and (
            len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3)
        ):  # a symbolic channel dimension passes
            raise ModelFileError(
                f"{getattr(engine, 'path', 'model')}: input {list(shape)} is not an image "
                "batch (N, 3, H, W)"
            )
        self.input_size = tuple(input_size) if input_size else tuple(self.spec.input_size)
        self.post_kwargs = post_kwargs
        self._post = get_postprocessor(self.spec.postprocess)

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Any]:
        """Results for a list of ``(H, W, 3)`` uint8 RGB images (one engine call)."""
        x, transforms = preprocess(images, self.spec, self.input_size)  # type: ignore[arg-type]
        return self._post(self.engine.run(x), self.spec, transforms, **self.post_kwargs)

    def __call__(self, image: np.ndarray) -> Any:
        """Result for one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image])[0]

    def timed(self, image: np.ndarray) -> tuple[Any, dict[str, float]]:
        """Like ``__call__``, plus ``{"preprocess", "inference", "postprocess"}`` in ms."""
        t0 = time.perf_counter()
        x, transforms = preprocess([image], self.spec, self.input_size)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        out = self.engine.run(x)
        t2 = time.perf_counter()
        res = self._post(out, self.spec, transforms, **self.post_kwargs)[0]
        t3 = time.perf_counter()
        return res, {
            "preprocess": (t1 - t0) * 1e3,
            "inference": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
        }
