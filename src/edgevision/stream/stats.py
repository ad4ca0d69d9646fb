"""Run statistics: per-stream frame, drop and FPS counts, per-stage latency percentiles, and
the JSON summary written at the end of ``edgevision run``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LatencyStats", "RunStats", "StreamStats"]


class LatencyStats:
    """Keeps the last ``window`` samples (ms) of a stage for percentiles; O(1) memory."""

    def __init__(self, window: int = 4096) -> None:
        self._buf = np.zeros(window, dtype=np.float64)
        self._n = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        self._buf[self._n % len(self._buf)] = ms
        self._n += 1
        self.total += ms

    @property
    def count(self) -> int:
        return self._n

    def summary(self) -> dict[str, float]:
        """``{"mean", "p50", "p90", "p99", "max", "n"}`` over the window (ms)."""
        if self._n == 0:
            return {"n": 0}
        a = self._buf[: min(self._n, len(self._buf))]
        return {
            "n": self._n,
            "mean": round(self.total / self._n, 3),
            "p50": round(float(np.percentile(a, 50)), 3),
            "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3),
        }


@dataclass
class StreamStats:
    """Counts for one stream. ``received``: frames that reached Python from the decoder."""

    source: str
    received: int = 0
    processed: int = 0
    dropped: int = 0
    reconnects: int = 0
    decoder: dict[str, Any] = field(default_factory=dict)
    first_frame_s: float | None = None
    last_frame_s: float | None = None
    ended: str = ""

    def to_dict(self) -> dict[str, Any]:
        span = (
            (self.last_frame_s - self.first_frame_s)
            if self.first_frame_s is not None and self.last_frame_s is not None
            else 0.0
        )
        return {
            "source": self.source,
            "frames_received": self.received,
            "frames_processed": self.processed,
            "frames_dropped": self.dropped,
            "reconnects": self.reconnects,
            "fps": round(self.processed / span, 2) if span > 0 else None,
            "decoder": self.decoder,
            "ended": self.ended,
        }


class RunStats:
    """Thread-safe collector shared by the sources, the inference worker and the outputs."""

    STAGES = ("queue_wait", "preprocess", "inference", "postprocess", "track", "output", "latency")

    def __init__(self, sources: list[str]) -> None:
        self.streams = [StreamStats(s) for s in sources]
        self.stages = {k: LatencyStats() for k in self.STAGES}
        self.batches = 0
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self.rss_warm: float | None = None  # MB after the first WARMUP frames
        self.rss_peak = 0.0
        self.rss_last = 0.0

    WARMUP = 100

    def sample_rss(self) -> None:
        """Record this process's resident memory (called periodically by the runner)."""
        import psutil

        mb = psutil.Process().memory_info().rss / 2**20
        self.rss_last = mb
        self.rss_peak = max(self.rss_peak, mb)
        if self.rss_warm is None and self.total_processed() >= self.WARMUP:
            self.rss_warm = mb

    def stage(self, name: str, ms: float) -> None:
        with self._lock:
            self.stages[name].add(ms)

    def processed(self, stream: int, t: float) -> None:
        with self._lock:
            s = self.streams[stream]
            s.processed += 1
            if s.first_frame_s is None:
                s.first_frame_s = t
            s.last_frame_s = t

    def total_processed(self) -> int:
        return sum(s.processed for s in self.streams)

    def live_line(self) -> str:
        """A short status line for the live display."""
        el = max(time.monotonic() - self.t0, 1e-9)
        parts = []
        for i, s in enumerate(self.streams):
            parts.append(f"[{i}] {s.processed} fr, {s.dropped} drop")
        inf = self.stages["inference"].summary()
        lat = self.stages["latency"].summary()
        return (
            f"{self.total_processed() / el:6.1f} FPS | infer p50 {inf.get('p50', 0):.1f} ms | "
            f"latency p99 {lat.get('p99', 0):.1f} ms | " + " | ".join(parts)
        )

    def summary(self, **extra: Any) -> dict[str, Any]:
        """The run summary (JSON-safe)."""
        el = time.monotonic() - self.t0
        total = self.total_processed()
        infer_s = self.stages["inference"].total / 1e3
        engine_fps = total / infer_s if infer_s > 0 else None
        e2e = total / el if el > 0 else None
        return {
            # frames / time spent in the model call alone (batches counted once)
            "engine_only_fps": round(engine_fps, 2) if engine_fps else None,
            "e2e_over_engine": round(e2e / engine_fps, 3) if e2e and engine_fps else None,
            "wall_s": round(el, 3),
            "frames_processed": total,
            "frames_dropped": sum(s.dropped for s in self.streams),
            "aggregate_fps": round(total / el, 2) if el > 0 else None,
            "batches": self.batches,
            "stages_ms": {k: v.summary() for k, v in self.stages.items()},
            "rss_mb": {
                "after_warmup": None if self.rss_warm is None else round(self.rss_warm, 1),
                "end": round(self.rss_last, 1),
                "peak": round(self.rss_peak, 1),
                "growth_after_warmup": (
                    None if self.rss_warm is None else round(self.rss_last - self.rss_warm, 1)
                ),
                "warmup_frames": self.WARMUP,
            },
            "streams": [s.to_dict() for s in self.streams],
            **extra,
        }
