"""A bounded frame queue that either drops the oldest item (live sources: latency stays
bounded when inference is slower than the camera) or blocks the producer (files: every frame
is processed, as fast as the model allows). Drops are counted."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Closed", "FrameQueue"]


class Closed(Exception):
    """The queue was closed and is empty."""


class FrameQueue(Generic[T]):
    """Thread-safe bounded queue.

    Args:
        maxsize: capacity (>= 1).
        leaky: ``True``: :meth:`put` never blocks; when full the **oldest** item is dropped and
            :attr:`dropped` counts it. ``False``: :meth:`put` waits for space (back-pressure).
    """

    def __init__(self, maxsize: int = 2, *, leaky: bool = True) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.leaky = leaky
        self.dropped = 0
        self.put_count = 0
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.on_put: Callable[[], None] | None = None

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Add ``item``; returns ``False`` when the queue is closed (item discarded) or a
        blocking put timed out."""
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= self.maxsize:
                if self.leaky:
                    self._items.popleft()
                    self.dropped += 1
                elif not self._cond.wait_for(
                    lambda: self._closed or len(self._items) < self.maxsize, timeout
                ):
                    return False
                if self._closed:
                    return False
            self._items.append(item)
            self.put_count += 1
            self._cond.notify_all()
        if self.on_put is not None:
            self.on_put()
        return True

    def get(self, timeout: float | None = None) -> T | None:
        """Oldest item; ``None`` on timeout. Raises :class:`Closed` once closed and drained."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            raise Closed

    def get_nowait(self) -> T | None:
        """Oldest item or ``None`` (raises :class:`Closed` when closed and drained)."""
        with self._cond:
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            if self._closed:
                raise Closed
            return None

    def get_latest(self) -> T | None:
        """Newest item, discarding (and counting as dropped) the older ones; ``None`` when
        empty. Raises :class:`Closed` when closed and drained. Keeps live latency minimal."""
        with self._cond:
            if self._items:
                item = self._items.pop()
                self.dropped += len(self._items)
                self._items.clear()
                self._cond.notify_all()
                return item
            if self._closed:
                raise Closed
            return None

    def wait_space(self, timeout: float) -> bool:
        """Wait until a put would not block (or the queue closed); True if there is space."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or len(self._items) < self.maxsize, timeout)
            return not self._closed and len(self._items) < self.maxsize

    def close(self) -> None:
        """No more puts; getters drain what is left, then get :class:`Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_nonempty(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout)
