"""CircuitBreaker: stop calling a failing endpoint, probe it again after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    """Closed -> open after `failure_threshold` consecutive failures -> half-open after
    `cooldown_s` (one probe call allowed) -> closed on its success, open again on its failure.

    Pure state: no I/O, no threads; the caller reports each outcome. Not thread-safe (one
    forwarder thread owns each breaker); `snapshot` may be read from any thread.
    """

    def __init__(
        self,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.opens = 0
        self.probes = 0

    @property
    def state(self) -> str:
        """closed, open or half-open (an open breaker past its cool-down reads half-open)."""
        if self._state == OPEN and self.retry_in_s() == 0.0:
            return HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go out now? Past the cool-down this admits exactly one probe."""
        if self._state == CLOSED:
            return True
        if self._state == OPEN and self.retry_in_s() == 0.0:
            self._state = HALF_OPEN
            self.probes += 1
            return True
        return False  # open and cooling down, or half-open with the probe still out

    def retry_in_s(self) -> float:
        """Seconds until a probe is allowed (0 when closed or due)."""
        if self._state != OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def record_success(self) -> None:
        self._state = CLOSED
        self._failures = 0

    def record_failure(self) -> None:
        self._failures += 1
        if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
            self._open()

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self._failures,
            "opens": self.opens,
            "probes": self.probes,
            "retry_in_s": round(self.retry_in_s(), 3),
        }

    def _open(self) -> None:
        if self._state != OPEN:
            self.opens += 1
        self._state = OPEN
        self._opened_at = self._clock()
