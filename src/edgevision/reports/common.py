"""Helpers shared by the page writers: where figures of dataset images go, and how a grid
of images is drawn."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.io import atomic_path

__all__ = ["DATASET_FIGURES", "dataset_figure_lines", "save_image_grid"]

#: where report figures that show a dataset's own images or labels go (git-ignored): the
#: data stays outside the repository, so such figures are made on demand, not committed
DATASET_FIGURES = "runs/figures"


def dataset_figure_lines(path: Any, data: Any, what: str) -> list[str]:
    """Markdown lines that point at a figure of dataset images instead of embedding it."""
    return [
        f"{what}: `{path}`, written by the command above and not committed, because it "
        f"shows images and labels of `{data}`, which stay outside the repository. Rerun "
        "the command to see it.",
        "",
    ]


def save_image_grid(
    rows: Sequence[Sequence[tuple[np.ndarray, str | None]]],
    path: str | os.PathLike[str],
    *,
    cell: tuple[float, float],
    pad: float = 0.0,
    fontsize: int = 8,
) -> Path:
    """Draw ``rows`` of ``(image, title)`` panels (``(H, W, 3)`` uint8 RGB; ``None``: no
    title) in a grid without ticks and write it as a PNG to ``path``, atomically.

    ``cell`` is the figure size per column and per row in inches (at 110 dpi), ``pad`` extra
    height. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(len(row) for row in rows)
    fig = Figure(figsize=(cell[0] * cols, cell[1] * len(rows) + pad), dpi=110)
    FigureCanvasAgg(fig)
    for r, row in enumerate(rows):
        for c, (img, title) in enumerate(row):
            ax = fig.add_subplot(len(rows), cols, r * cols + c + 1)
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if title is not None:
                ax.set_title(title, fontsize=fontsize)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(str(tmp), format="png")
    return Path(path)
