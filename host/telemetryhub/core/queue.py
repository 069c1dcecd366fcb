"""The bounded, blocking hand-over queue between the core's producer and consumer threads."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from telemetryhub.errors import QueueClosedError

T = TypeVar("T")

DEFAULT_CAPACITY = 1000


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A consistent snapshot of a TelemetryQueue's counters (taken under its lock)."""

    size: int
    capacity: int
    high_water: int
    pushed: int
    popped: int
    push_timeouts: int
    closed: bool


class TelemetryQueue(Generic[T]):
    """A bounded FIFO with backpressure: a full queue blocks (or times out) the producer.

    Capacity counts items, not samples: the core pushes one item per read chunk. Waiting uses
    two condition variables on one lock (no polling). Every method is thread-safe.

    Close semantics (one rule for every pop variant): after `close()` the items already queued
    can still be popped; once the queue is closed *and* empty, `pop`, `try_pop` and `pop_many`
    raise QueueClosedError. `try_pop`/`pop_many` return None/[] only on timeout. `push` and
    `try_push` raise QueueClosedError as soon as the queue is closed; `try_push` returns False
    only when the queue stayed full for `timeout_s` (counted in `push_timeouts`).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._closed = False
        self._high_water = 0
        self._pushed = 0
        self._popped = 0
        self._push_timeouts = 0

    def push(self, item: T) -> None:
        """Append `item`, blocking while the queue is full; raises QueueClosedError if closed."""
        with self._lock:
            self._not_full.wait_for(self._can_push)
            self._append(item)

    def try_push(self, item: T, timeout_s: float = 0.0) -> bool:
        """Append `item` if room appears within `timeout_s`; False (and counted) if not."""
        with self._lock:
            if not self._not_full.wait_for(self._can_push, timeout_s):
                self._push_timeouts += 1
                return False
            self._append(item)
            return True

    def pop(self) -> T:
        """Remove and return the oldest item, blocking while empty.

        Raises QueueClosedError once the queue is closed and drained.
        """
        with self._lock:
            self._not_empty.wait_for(self._can_pop)
            return self._take(1)[0]

    def try_pop(self, timeout_s: float = 0.0) -> T | None:
        """The oldest item, or None if none arrives within `timeout_s`.

        Raises QueueClosedError once the queue is closed and drained.
        """
        with self._lock:
            if not self._not_empty.wait_for(self._can_pop, timeout_s):
                return None
            return self._take(1)[0]

    def pop_many(self, max_items: int, timeout_s: float | None = None) -> list[T]:
        """Up to `max_items` oldest items at once, waiting up to `timeout_s` for the first.

        `timeout_s=None` waits without limit. Returns [] on timeout; raises QueueClosedError
        once the queue is closed and drained. One lock round trip for the whole batch.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        with self._lock:
            if not self._not_empty.wait_for(self._can_pop, timeout_s):
                return []
            return self._take(max_items)

    def close(self) -> None:
        """Refuse further pushes and wake every waiting thread; idempotent."""
        with self._lock:
            self._closed = True
            self._not_full.notify_all()
            self._not_empty.notify_all()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    @property
    def size(self) -> int:
        """Items queued right now."""
        return len(self._items)

    @property
    def capacity(self) -> int:
        """The most items the queue holds before `push` blocks."""
        return self._capacity

    @property
    def high_water(self) -> int:
        """The largest size ever reached."""
        return self._high_water

    @property
    def pushed(self) -> int:
        """Items ever accepted."""
        return self._pushed

    @property
    def popped(self) -> int:
        """Items ever handed out."""
        return self._popped

    @property
    def push_timeouts(self) -> int:
        """`try_push` calls that gave up because the queue stayed full."""
        return self._push_timeouts

    def stats(self) -> QueueStats:
        """All counters, read together under the lock."""
        with self._lock:
            return QueueStats(
                size=len(self._items),
                capacity=self._capacity,
                high_water=self._high_water,
                pushed=self._pushed,
                popped=self._popped,
                push_timeouts=self._push_timeouts,
                closed=self._closed,
            )

    # The helpers below run with self._lock held.

    def _can_push(self) -> bool:
        if self._closed:
            raise QueueClosedError("push on a closed TelemetryQueue")
        return len(self._items) < self._capacity

    def _can_pop(self) -> bool:
        if self._items:
            return True
        if self._closed:
            raise QueueClosedError("TelemetryQueue is closed and drained")
        return False

    def _append(self, item: T) -> None:
        self._items.append(item)
        self._pushed += 1
        size = len(self._items)
        if size > self._high_water:
            self._high_water = size
        self._not_empty.notify()

    def _take(self, max_items: int) -> list[T]:
        items = self._items
        count = min(max_items, len(items))
        taken = [items.popleft() for _ in range(count)]
        self._popped += count
        self._not_full.notify(count)
        return taken
