"""Board time to UTC: unwraps 30-bit counters and maps board ticks_ms through a measured offset."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.protocol import SEQ_MODULUS

_MAX_DRIFT_PPM = 1000.0  # a crystal is within ~100 ppm; more means a bad measurement
_MIN_DRIFT_SPAN_MS = 10_000  # too short a baseline makes the drift estimate noise
_RTT_SLACK_S = 0.005


class Unwrapper:
    """Extends a counter that wraps at `modulus` into an unbounded int.

    Each value is placed within half a modulus of the previous one, so values may step back
    (a resend of older samples) as well as forward across a wrap.
    """

    def __init__(self, modulus: int = SEQ_MODULUS) -> None:
        self._modulus = modulus
        self._last: int | None = None

    def extend(self, raw: int) -> int:
        """The unwrapped value of `raw` (0 <= raw < modulus)."""
        last = self._last
        if last is None:
            value = raw
        else:
            delta = (raw - last) % self._modulus
            value = last + delta if delta < self._modulus // 2 else last + delta - self._modulus
        self._last = value
        return value

    def reset(self) -> None:
        """Forget the history (the board rebooted)."""
        self._last = None

    def anchor(self, value: int) -> None:
        """Continue from an unwrapped `value` known from before (e.g. the newest stored seq)."""
        self._last = value


SeqUnwrapper = Unwrapper


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One measurement: the board said `board_ms` while the host's UTC was `utc_s` ± rtt/2."""

    board_ms: int
    utc_s: float
    rtt_s: float
    taken_at_s: float


class BoardClock:
    """Maps unwrapped board ticks to UTC seconds.

    The offset comes from the measurement with the lowest round trip (a fresher one replaces it
    once it is older than `refresh_s`); drift is the least-squares slope over recent
    measurements, in ppm (positive: the board's clock runs slow against the host's).
    Thread-safe.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        *,
        refresh_s: float = 300.0,
        history: int = 32,
    ) -> None:
        self._wall = wall
        self._refresh_s = refresh_s
        self._ticks = Unwrapper(SEQ_MODULUS)
        self._best: ClockSample | None = None
        self._history: deque[ClockSample] = deque(maxlen=history)
        self._drift_ppm = 0.0
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget everything: the board rebooted and its ticks started again."""
        with self._lock:
            self._ticks.reset()
            self._best = None
            self._history.clear()
            self._drift_ppm = 0.0

    def unwrap(self, t_ms: int) -> int:
        """Extend a 30-bit board tick across wraps."""
        with self._lock:
            return self._ticks.extend(t_ms)

    def measure(self, sent_utc_s: float, t_ms: int, received_utc_s: float) -> bool:
        """Record that the board said `t_ms` between two host times; True if it became the best."""
        rtt_s = max(0.0, received_utc_s - sent_utc_s)
        with self._lock:
            board_ms = self._ticks.extend(t_ms)
            mid_utc_s = (sent_utc_s + received_utc_s) / 2
            sample = ClockSample(board_ms, mid_utc_s, rtt_s, received_utc_s)
            best = self._best
            stale = best is not None and received_utc_s - best.taken_at_s > self._refresh_s
            if best is not None and not stale and rtt_s > best.rtt_s:
                if rtt_s <= 2 * best.rtt_s + _RTT_SLACK_S:  # noisy round trips would skew drift
                    self._history.append(sample)
                    self._drift_ppm = self._fit_drift()
                return False
            self._best = sample
            self._history.append(sample)
            self._drift_ppm = self._fit_drift()
            return True

    def to_utc(self, board_ms: int) -> float:
        """UTC seconds for an unwrapped board tick; the host's clock now if never measured."""
        with self._lock:
            best = self._best
            if best is None:
                return self._wall()
            elapsed_s = (board_ms - best.board_ms) / 1000.0
            return best.utc_s + elapsed_s * (1.0 + self._drift_ppm * 1e-6)

    @property
    def synced(self) -> bool:
        """Whether at least one measurement was taken since the last reset."""
        with self._lock:
            return self._best is not None

    @property
    def rtt_s(self) -> float | None:
        """The round trip of the measurement in use."""
        with self._lock:
            return None if self._best is None else self._best.rtt_s

    @property
    def drift_ppm(self) -> float:
        """Estimated drift of the host's clock against the board's, in parts per million."""
        with self._lock:
            return self._drift_ppm

    def _fit_drift(self) -> float:
        points = list(self._history)
        if len(points) < 2 or points[-1].board_ms - points[0].board_ms < _MIN_DRIFT_SPAN_MS:
            return 0.0
        xs = [p.board_ms / 1000.0 for p in points]
        ys = [p.utc_s for p in points]
        mean_x = sum(xs) / len(xs)
        mean_y = sum(ys) / len(ys)
        sxx = sum((x - mean_x) ** 2 for x in xs)
        if sxx == 0:
            return 0.0
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
        ppm = (slope - 1.0) * 1e6
        return max(-_MAX_DRIFT_PPM, min(_MAX_DRIFT_PPM, ppm))
