"""Per-client token buckets that turn request floods into 429 answers with a Retry-After."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Admission:
    """One request's fate: granted (`wait_s` 0.0) or refused, and whether this refusal starts a
    run of them (the client's previous request was granted), which is the one worth logging."""

    wait_s: float
    first_refusal: bool


class RateLimiter:
    """One token bucket per key (client IP); at most `max_clients` buckets are remembered."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate_per_s = rate_per_s
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        # key -> (tokens, last refill time, refused the last request)
        self._buckets: OrderedDict[str, tuple[float, float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> Admission:
        """Take one token for `key`, or say how long to wait before retrying."""
        now = self._clock()
        with self._lock:
            tokens, last, was_refusing = self._buckets.pop(key, (self._burst, now, False))
            tokens = min(self._burst, tokens + (now - last) * self._rate_per_s)
            wait_s = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait_s = (1.0 - tokens) / self._rate_per_s
            refusing = wait_s > 0
            self._buckets[key] = (tokens, now, refusing)
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return Admission(wait_s, refusing and not was_refusing)


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for a Retry-After header, never 0."""
    return str(max(1, math.ceil(wait_s)))
