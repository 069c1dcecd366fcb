"""The bounded hand-over queue between the link loop and the consumer: fair across devices."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from telemetryhub.errors import QueueClosedError

T = TypeVar("T")

DEFAULT_CAPACITY = 1000
MIN_SHARE = 8  # a lane may always hold this many items, whatever the number of lanes


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
    lanes: int = 0


def _one_lane(item: object) -> Hashable:
    return None


class TelemetryQueue(Generic[T]):
    """A bounded queue with backpressure, in lanes (one per `key(item)`) served round robin.

    With no `key` it is a plain FIFO. With one, each device gets its own lane: `pop_many` takes
    one item from each lane in turn, so a board flooding the gateway cannot push a quiet board's
    batch behind a thousand of its own; and a lane may hold at most its share of the capacity
    (capacity / lanes, at least MIN_SHARE), so the flooding board is refused first while the
    others still get in. Capacity counts items, not samples. Every method is thread-safe.

    Close semantics (one rule for every pop variant): after `close()` the items already queued
    can still be popped; once the queue is closed *and* empty, `pop`, `try_pop` and `pop_many`
    raise QueueClosedError. `try_pop`/`pop_many` return None/[] only on timeout. `push` and
    `try_push` raise QueueClosedError as soon as the queue is closed; `try_push` returns False
    only when there was no room for `timeout_s` (counted in `push_timeouts`).
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, key: Callable[[T], Hashable] = _one_lane
    ) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._key = key
        self._lanes: dict[Hashable, deque[T]] = {}  # insertion order is the round-robin order
        self._size = 0
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._closed = False
        self._high_water = 0
        self._pushed = 0
        self._popped = 0
        self._push_timeouts = 0

    def push(self, item: T) -> None:
        """Append `item`, blocking while there is no room; QueueClosedError if closed."""
        key = self._key(item)
        with self._lock:
            self._not_full.wait_for(lambda: self._can_push(key))
            self._append(key, item)

    def try_push(self, item: T, timeout_s: float = 0.0) -> bool:
        """Append `item` if room appears within `timeout_s`; False (and counted) if not."""
        key = self._key(item)
        with self._lock:
            if not self._not_full.wait_for(lambda: self._can_push(key), timeout_s):
                self._push_timeouts += 1
                return False
            self._append(key, item)
            return True

    def pop(self) -> T:
        """Remove and return the next item, blocking while empty.

        Raises QueueClosedError once the queue is closed and drained.
        """
        with self._lock:
            self._not_empty.wait_for(self._can_pop)
            return self._take(1, None)[0]

    def try_pop(self, timeout_s: float = 0.0) -> T | None:
        """The next item, or None if none arrives within `timeout_s`.

        Raises QueueClosedError once the queue is closed and drained.
        """
        with self._lock:
            if not self._not_empty.wait_for(self._can_pop, timeout_s):
                return None
            return self._take(1, None)[0]

    def pop_many(
        self,
        max_items: int,
        timeout_s: float | None = None,
        ready: Callable[[Hashable], bool] | None = None,
    ) -> list[T]:
        """Up to `max_items` items, lanes taken in turn, waiting up to `timeout_s` for one.

        `ready(key)` (optional) says whether a lane may give an item now (its device's work in
        flight is at its limit, say); call `wake` when that may have changed. `timeout_s=None`
        waits without limit. Returns [] on timeout; raises QueueClosedError once the queue is
        closed and drained.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        with self._lock:
            if not self._not_empty.wait_for(lambda: self._can_pop(ready), timeout_s):
                return []
            return self._take(max_items, ready)

    def wake(self) -> None:
        """Re-check the `ready` of waiting `pop_many` calls (a lane may have become ready)."""
        with self._lock:
            self._not_empty.notify_all()

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
        return self._size

    @property
    def capacity(self) -> int:
        """The most items the queue holds."""
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
        """`try_push` calls that gave up for want of room."""
        return self._push_timeouts

    def stats(self) -> QueueStats:
        """All counters, read together under the lock."""
        with self._lock:
            return QueueStats(
                size=self._size,
                capacity=self._capacity,
                high_water=self._high_water,
                pushed=self._pushed,
                popped=self._popped,
                push_timeouts=self._push_timeouts,
                closed=self._closed,
                lanes=len(self._lanes),
            )

    # The helpers below run with self._lock held.

    def _can_push(self, key: Hashable) -> bool:
        if self._closed:
            raise QueueClosedError("push on a closed TelemetryQueue")
        if self._size >= self._capacity:
            return False
        lane = self._lanes.get(key)
        lanes = len(self._lanes) + (lane is None)
        return lane is None or len(lane) < max(MIN_SHARE, self._capacity // lanes)

    def _can_pop(self, ready: Callable[[Hashable], bool] | None = None) -> bool:
        if self._size:
            return ready is None or any(ready(key) for key in self._lanes)
        if self._closed:
            raise QueueClosedError("TelemetryQueue is closed and drained")
        return False

    def _append(self, key: Hashable, item: T) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
        lane.append(item)
        self._size += 1
        self._pushed += 1
        if self._size > self._high_water:
            self._high_water = self._size
        self._not_empty.notify()

    def _take(self, max_items: int, ready: Callable[[Hashable], bool] | None) -> list[T]:
        taken: list[T] = []
        while len(taken) < max_items and self._size:
            progressed = False
            for key in list(self._lanes):
                if len(taken) == max_items:
                    break
                if ready is not None and not ready(key):
                    continue
                lane = self._lanes.pop(key)  # and put back at the end: the round robin
                taken.append(lane.popleft())
                if lane:
                    self._lanes[key] = lane
                progressed = True
            if not progressed:
                break
        self._size -= len(taken)
        self._popped += len(taken)
        self._not_full.notify_all()
        return taken
