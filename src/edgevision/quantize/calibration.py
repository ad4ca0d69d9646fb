"""Calibration data: images from a folder, preprocessed exactly as the model's spec says.

A folder is either a dataset in the edgevision layout (``DIR/images/{split}/*.jpg``, see
:mod:`edgevision.data.semantic`) or a plain folder of images (searched recursively). The
reader yields ``{input_name: (1, 3, H, W) float32}`` feeds until exhausted, the protocol of
``onnxruntime.quantization.CalibrationDataReader``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edgevision.config import ModelSpec
from edgevision.data.images import list_images, load_batch, select_images
from edgevision.progress import ProgressLines


class ImageFolderReader(CalibrationDataReader):  # type: ignore[misc]
    """Calibration feeds from an image folder, preprocessed by the model's :class:`ModelSpec`.

    Images are decoded once, on construction (so bad files fail before any model is written),
    and yielded one at a time; :meth:`rewind` starts again.

    Args:
        folder: dataset folder (edgevision layout) or plain image folder.
        spec: the model's spec (input size, mean/std, colour order, resize mode).
        count: number of images, evenly spaced over the folder.
        input_name: name of the ONNX input.
        split: split to read from a dataset folder.
        input_size: ``(H, W)`` override of ``spec.input_size``.

    Raises:
        DataError: missing/empty/too-small folder or an unreadable image.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        spec: ModelSpec,
        *,
        count: int,
        input_name: str = "images",
        split: str = "train",
        input_size: tuple[int, int] | None = None,
    ) -> None:
        self.files = select_images(list_images(folder, split), count)
        self.input_name = input_name
        self.data = load_batch(self.files, spec, input_size)
        self._it: Iterator[int] = iter(range(len(self.data)))
        self.progress: ProgressLines | None = None
        """Set to report each feed handed out (plain lines on stderr)."""

    def __len__(self) -> int:
        return len(self.data)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next ``{input_name: (1, 3, H, W) float32}`` feed, or ``None`` when exhausted."""
        i = next(self._it, None)
        if i is not None and self.progress is not None:
            self.progress.update(i + 1)
        return None if i is None else {self.input_name: self.data[i : i + 1]}

    def rewind(self) -> None:
        """Start again from the first image."""
        self._it = iter(range(len(self.data)))
