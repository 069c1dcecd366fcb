"""The core's counters and its sample-to-stored latency histogram, thread-safe."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass

# Upper bounds (seconds) of the latency buckets; Prometheus-style cumulative on export.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """Per-bucket counts (not cumulative; the last one is +Inf), their sum and total count."""

    bounds_s: tuple[float, ...]
    counts: tuple[int, ...]
    sum_s: float
    count: int

    def quantile_bound_s(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (inf past the last bound);
        None with no observation. "p99 <= 50 ms" holds if this is <= 0.05."""
        if not self.count:
            return None
        wanted, seen = q * self.count, 0
        for bound, n in zip((*self.bounds_s, float("inf")), self.counts, strict=True):
            seen += n
            if seen >= wanted:
                return bound
        return float("inf")


class LatencyHistogram:
    """Fixed-bucket histogram of durations in seconds."""

    def __init__(self, bounds_s: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self._lock = threading.Lock()
        self._bounds = bounds_s
        self._counts = [0] * (len(bounds_s) + 1)
        self._sum_s = 0.0
        self._count = 0

    def observe(self, duration_s: float, times: int = 1) -> None:
        """Record `times` observations of `duration_s`."""
        index = bisect.bisect_left(self._bounds, duration_s)
        with self._lock:
            self._counts[index] += times
            self._sum_s += duration_s * times
            self._count += times

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            return HistogramSnapshot(self._bounds, tuple(self._counts), self._sum_s, self._count)


class Counters:
    """Named monotonically increasing counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
