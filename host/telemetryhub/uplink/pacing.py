"""Pacing for uplinks: exponential backoff with full jitter, and a token bucket in samples/s."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays after consecutive failures: uniform(0, min(cap_s, base_s * 2**n)) ("full jitter").

    Full jitter spreads a fleet of gateways that lost the same cloud at the same moment, so
    they do not come back in lock-step.
    """

    def __init__(
        self, base_s: float, cap_s: float, rng: Callable[[float, float], float] | None = None
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self._uniform = rng or random.uniform
        self.attempt = 0

    def ceiling_s(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 62))

    def next_delay_s(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        delay = self._uniform(0.0, self.ceiling_s())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class TokenBucket:
    """A rate limit of `rate_per_s` with bursts up to `burst`; rate 0 means unlimited.

    `reserve(n)` never refuses: it takes n tokens (going into debt if needed) and returns how
    long the caller must wait before acting, so the long-run rate holds exactly even when a
    batch is larger than the burst.
    """

    def __init__(
        self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def reserve(self, n: int) -> float:
        """Take `n` tokens; the seconds to wait before using them (0.0 if available now)."""
        if self.rate_per_s <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s
