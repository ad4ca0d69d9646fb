"""Bounded frame queues: leaky (drop oldest, count) and blocking."""

from __future__ import annotations

import threading

import pytest

from edgevision.stream.queues import Closed, FrameQueue


def test_leaky_queue_drops_oldest_and_counts():
    q: FrameQueue[int] = FrameQueue(3, leaky=True)
    for i in range(10):
        assert q.put(i)
    assert q.dropped == 7
    assert q.put_count == 10
    assert [q.get_nowait() for _ in range(3)] == [7, 8, 9]
    assert q.get_nowait() is None


def test_blocking_queue_applies_back_pressure():
    q: FrameQueue[int] = FrameQueue(2, leaky=False)
    assert q.put(1) and q.put(2)
    assert not q.put(3, timeout=0.05)  # full: times out, nothing dropped
    assert q.dropped == 0
    got: list[int] = []

    def consume() -> None:
        while True:
            try:
                item = q.get(timeout=1.0)
            except Closed:
                return
            if item is not None:
                got.append(item)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(3, 50):
        assert q.put(i, timeout=2.0)
    q.close()
    t.join(5.0)
    assert got == [1, 2, *range(3, 50)]


def test_close_drains_then_raises():
    q: FrameQueue[int] = FrameQueue(2)
    q.put(1)
    q.close()
    assert not q.put(2)
    assert q.get(timeout=0.1) == 1
    with pytest.raises(Closed):
        q.get(timeout=0.1)
    with pytest.raises(ValueError):
        FrameQueue(0)


def test_get_latest_counts_skipped_items_as_dropped():
    q: FrameQueue[int] = FrameQueue(4, leaky=True)
    for i in range(6):
        q.put(i)
    assert q.dropped == 2
    assert q.get_latest() == 5
    assert q.dropped == 5 and len(q) == 0
    assert q.get_latest() is None
    assert q.wait_space(0.01)
    q.close()
    with pytest.raises(Closed):
        q.get_latest()
    assert not q.wait_space(0.01)
