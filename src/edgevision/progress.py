"""Progress on stderr: a rich bar on a terminal, plain lines when stderr is a pipe or file.

A job that writes to a log (``edgevision eval ... 2> log``, a CI job, ``nohup``) gets a line
such as ``eval val: 40/101 (40%) 12.3 s, ETA 18.4 s`` every ``every`` steps (default: each
10 % of the total) and at least every ``min_interval_s`` seconds at most once per step, so a
long run is never silent for minutes and a short one is not flooded.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

__all__ = ["ProgressLines", "track"]

T = TypeVar("T")


class ProgressLines:
    """Plain progress lines for a job of ``total`` steps.

    Args:
        description: what runs, e.g. ``"eval val"``.
        total: number of steps (0 or less: unknown, lines give the count only).
        every: a line every this many steps (0: each 10 % of ``total``).
        min_interval_s: also a line when this long has passed since the last one.
        stream: where lines go (default ``sys.stderr``).
    """

    def __init__(
        self,
        description: str,
        total: int,
        *,
        every: int = 0,
        min_interval_s: float = 30.0,
        stream: IO[str] | None = None,
    ) -> None:
        self.description = description
        self.total = int(total)
        self.every = int(every) if every > 0 else max(1, self.total // 10) if self.total > 0 else 0
        self.min_interval_s = float(min_interval_s)
        self.stream = stream
        self.start = self._last = time.monotonic()
        self.done = self._offset = 0

    def start_at(self, done: int) -> None:
        """Resume at ``done`` steps (the ETA counts only the steps run from now)."""
        self.done = self._offset = int(done)

    def update(self, done: int, extra: str = "") -> None:
        """Record ``done`` steps; print a line when due (always at the last step)."""
        self.done = int(done)
        now = time.monotonic()
        due = (self.every and self.done % self.every == 0) or self.done == self.total
        if not due and now - self._last < self.min_interval_s:
            return
        self._last = now
        elapsed = now - self.start
        if self.total > 0:
            pct = 100.0 * self.done / self.total
            line = f"{self.description}: {self.done}/{self.total} ({pct:.0f}%) {elapsed:.1f} s"
            ran = self.done - self._offset
            if ran > 0 and self.done < self.total:
                line += f", ETA {elapsed * (self.total - self.done) / ran:.1f} s"
        else:
            line = f"{self.description}: {self.done} {elapsed:.1f} s"
        if extra:
            line += f"  {extra}"
        print(line, file=self.stream or sys.stderr, flush=True)


def track(
    items: Iterable[T], total: int, description: str, enabled: bool = True, *, every: int = 0
) -> Iterator[T]:
    """Iterate ``items`` with progress on stderr.

    Args:
        items: what to iterate.
        total: the number of items expected.
        description: the label of the bar or lines.
        enabled: ``False`` prints nothing.
        every: with plain lines, one every this many items (0: each 10 %).

    Yields:
        The items of ``items``.
    """
    if not enabled:
        yield from items
        return
    if not sys.stderr.isatty():
        lines = ProgressLines(description, total, every=every)
        for i, item in enumerate(items, 1):
            yield item
            lines.update(i)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
