"""DeviceViews: what the API shows live for each board, fed by the consumer thread: the latest
sample, a short history for charts, when data last arrived, and the board's share of the
pipeline's counts (stored, duplicate, rejected, dropped). Thread-safe."""

from __future__ import annotations

import heapq
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from telemetryhub.core.metrics import HistogramSnapshot, LatencyHistogram
from telemetryhub.models import Sample


@dataclass(slots=True)
class _View:
    recent: deque[Sample]
    latest: Sample | None = None
    arrived_at: float | None = None  # monotonic
    counts: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class DeviceViews:
    """Per-device live views; `recent_per_device` samples of history each."""

    def __init__(self, recent_per_device: int) -> None:
        self._lock = threading.Lock()
        self._recent = recent_per_device
        self._views: dict[str, _View] = {}

    def note_batch(self, device_id: str, samples: tuple[Sample, ...], arrived_at: float) -> None:
        with self._lock:
            view = self._view(device_id)
            view.latest = samples[-1]
            view.recent.extend(samples)
            view.arrived_at = arrived_at

    def count(self, device_id: str, key: str, amount: int) -> None:
        if amount:
            with self._lock:
                self._view(device_id).counts[key] += amount

    def observe_latency(self, device_id: str, seconds: float, samples: int) -> None:
        with self._lock:
            view = self._view(device_id)
        view.latency.observe(seconds, samples)

    def latency(self, device_id: str) -> HistogramSnapshot | None:
        """One device's arrival -> commit latency, or None if it never committed."""
        with self._lock:
            view = self._views.get(device_id)
        return None if view is None else view.latency.snapshot()

    def counts(self, device_id: str) -> dict[str, int]:
        with self._lock:
            view = self._views.get(device_id)
            return {} if view is None else dict(view.counts)

    def latest(self, device_id: str | None = None) -> Sample | None:
        """One device's latest sample, or (None) the newest of every device's."""
        with self._lock:
            if device_id is not None:
                view = self._views.get(device_id)
                return None if view is None else view.latest
            found = [v.latest for v in self._views.values() if v.latest is not None]
        return max(found, key=lambda s: s.ts, default=None)

    def recent(self, seconds: float, device_id: str | None = None) -> list[Sample]:
        """Samples of the last `seconds` (wall clock), oldest first; every device's if None."""
        cutoff = time.time() - seconds
        with self._lock:
            views = (
                list(self._views.values())
                if device_id is None
                else ([self._views[device_id]] if device_id in self._views else [])
            )
            per_device = [[s for s in v.recent if s.ts >= cutoff] for v in views]
        return list(heapq.merge(*per_device, key=lambda s: s.ts))

    def age_s(self, device_id: str | None = None) -> float | None:
        """Seconds since data last arrived (from one device, or from any), None if never."""
        with self._lock:
            views = (
                self._views.values()
                if device_id is None
                else ([self._views[device_id]] if device_id in self._views else [])
            )
            times = [v.arrived_at for v in views if v.arrived_at is not None]
        return None if not times else time.monotonic() - max(times)

    def _view(self, device_id: str) -> _View:
        view = self._views.get(device_id)
        if view is None:
            view = self._views[device_id] = _View(deque(maxlen=self._recent))
        return view
