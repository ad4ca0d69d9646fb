"""Depth metrics (Eigen et al. 2014): AbsRel, RMSE and δ < 1.25, per image over the pixels
with ground truth, averaged over images; and the scale bias ``scale`` = exp(mean log(pred /
truth)): 1 for a model that is not biased near or far. δ < 1.25 is a threshold, so a model
whose ``scale`` is far from 1 sits on its edge: a 1 % change of scale (e.g. from INT8) then
moves δ by points while the depth's shape has not changed. ``scale`` is a geometric mean:
a few predictions near 0 m pull it down strongly (read AbsRel beside it).

:class:`DepthFolderScore` scores a predictor's :class:`~edgevision.results.DepthSegMask`
results against a folder's depth maps ``depth/{split}/NAME.npy`` (float32 metres; 0 or
non-finite = no truth), as :mod:`edgevision.data.synth` writes with ``depth``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import DataError
from edgevision.results import DepthSegMask

__all__ = ["DepthFolderScore", "DepthMetrics", "evaluate_depth_folder"]


class DepthMetrics:
    """Accumulates per-image AbsRel, RMSE, δ<1.25 and mean log ratio (the mean over images
    is reported)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float]] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``pred`` and ``gt`` ``(H, W)`` depths in one unit; pixels whose
        truth is 0 or non-finite are left out (an image without any is skipped).

        Raises:
            ValueError: shapes differ.
        """
        p = np.asarray(pred, dtype=np.float64)
        g = np.asarray(gt, dtype=np.float64)
        if p.shape != g.shape:
            raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ")
        valid = np.isfinite(g) & (g > 0)
        if not valid.any():
            return
        p = np.maximum(p[valid], 1e-6)
        g = g[valid]
        abs_rel = float(np.mean(np.abs(p - g) / g))
        rmse = float(np.sqrt(np.mean((p - g) ** 2)))
        delta1 = float(np.mean(np.maximum(p / g, g / p) < 1.25))
        log_ratio = float(np.mean(np.log(p / g)))
        self.rows.append((abs_rel, rmse, delta1, log_ratio))

    def summarize(self) -> dict[str, float]:
        """``{"abs_rel", "rmse", "delta1", "scale"}`` (``delta1`` in 0–1; ``scale`` =
        exp of the mean over images of each image's mean log(pred / truth)), NaN without
        images."""
        if not self.rows:
            return dict.fromkeys(("abs_rel", "rmse", "delta1", "scale"), float("nan"))
        a = np.asarray(self.rows)
        return {"abs_rel": float(a[:, 0].mean()), "rmse": float(a[:, 1].mean()),
                "delta1": float(a[:, 2].mean()), "scale": float(np.exp(a[:, 3].mean()))}  # fmt: skip


class DepthFolderScore:
    """Depth metrics of a predictor's results on a folder with ``depth/{split}/NAME.npy``."""

    def __init__(self, root: Path, split: str) -> None:
        self.dir = Path(root) / "depth" / split
        self.metrics = DepthMetrics()
        self.images = 0

    def add(self, name: str, result: DepthSegMask) -> None:
        """Score the result of sample ``name`` (skipped when it has no depth file).

        Raises:
            DataError: unreadable depth file, or one of another size.
        """
        path = self.dir / f"{name}.npy"
        if not path.is_file():
            return
        try:
            gt = np.load(path, allow_pickle=False)
            self.metrics.update(result.depth, gt)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: {e}") from None
        self.images += 1

    def summarize(self) -> dict[str, Any]:
        """``abs_rel``, ``rmse`` (metres), ``delta1`` (0–1), ``scale`` and ``depth_images``."""
        return {**self.metrics.summarize(), "depth_images": self.images}


def evaluate_depth_folder(root: Path, split: str, spec: Any) -> DepthFolderScore | None:
    """A :class:`DepthFolderScore` when ``root`` has depth truth for ``split``, else ``None``
    (the task table's ``extra_eval`` of ``depthseg``)."""
    del spec  # depth needs nothing from the spec
    if not (Path(root) / "depth" / split).is_dir():
        return None
    return DepthFolderScore(Path(root), split)
