"""``Predictor``: image(s) -> result type, via the spec's preprocessing, an engine, and the
spec's numpy postprocessor; optionally timing each stage."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.config import ModelSpec
from edgevision.errors import ModelFileError
from edgevision.io import read_image
from edgevision.postprocess import check_options, get_postprocessor
from edgevision.preprocess import preprocess
from edgevision.runtime.base import Engine


class Predictor:
    """Callable wrapper: ``predictor(image) -> Detections | InstanceMasks | SemanticMask``.

    Args:
        engine: a loaded :class:`Engine`.
        input_size: ``(H, W)`` override of ``engine.spec.input_size`` (dynamic-shape models).
        bgr: images come as **BGR** (``cv2.imread``, OpenCV frames) instead of RGB.
        **post_kwargs: postprocessing options, checked here: ``conf`` (score threshold,
            0–1), ``iou`` (NMS IoU, 0–1), ``max_det`` ... (the postprocessor's keywords;
            ``conf_threshold``/``iou_threshold`` are accepted too). ``None`` = default.

    Raises:
        ModelFileError: the engine's model does not take ``(N, 3, H, W)`` images.
        ConfigError: an option the model's postprocessing does not take, or out of range.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        input_size: tuple[int, int] | None = None,
        bgr: bool = False,
        **post_kwargs: Any,
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
        self.bgr = bool(bgr)
        self.post_kwargs = check_options(self.spec.postprocess, post_kwargs)
        self._post = get_postprocessor(self.spec.postprocess)

    def _image(self, image: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):  # a file: decoded in the expected order
            return read_image(image, color_order="BGR" if self.bgr else "RGB")
        return image

    def predict_batch(self, images: Sequence[np.ndarray | str | os.PathLike[str]]) -> list[Any]:
        """Results for a list of ``(H, W, 3)`` uint8 RGB images (BGR with ``bgr``) or image
        files (one engine call)."""
        batch = [self._image(im) for im in images]
        x, transforms = preprocess(batch, self.spec, self.input_size, bgr=self.bgr)  # type: ignore[arg-type]
        return self._post(self.engine.run(x), self.spec, transforms, **self.post_kwargs)

    def __call__(self, image: np.ndarray | str | os.PathLike[str]) -> Any:
        """Result for one ``(H, W, 3)`` uint8 RGB image (BGR with ``bgr``) or image file."""
        return self.predict_batch([image])[0]

    def timed(self, image: np.ndarray) -> tuple[Any, dict[str, float]]:
        """Like ``__call__``, plus ``{"preprocess", "inference", "postprocess"}`` in ms."""
        t0 = time.perf_counter()
        x, transforms = preprocess([image], self.spec, self.input_size, bgr=self.bgr)  # type: ignore[arg-type]
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
