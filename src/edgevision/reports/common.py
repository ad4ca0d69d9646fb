"""Helpers shared by the page writers: where figures of dataset images go."""

from __future__ import annotations

from typing import Any

__all__ = ["DATASET_FIGURES", "dataset_figure_lines"]

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
