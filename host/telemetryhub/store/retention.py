"""StoreRetention: keeps the sample store inside its byte and age budget, counting every eviction.

It works through the store's own interface (`RetainedStore`, which SqliteStore provides): each
delete is one short transaction of at most `chunk_rows` rows on the store's writer, so ingest
never waits long behind it. Rows past the slowest uplink's cursor that it deletes were never
delivered: they are counted separately as `evicted_undelivered`, by reason, so data loss under
a full budget is visible, never silent.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from telemetryhub.errors import StoreError

_log = logging.getLogger(__name__)

_BYTE_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """The store's budget: bytes in use and sample age; None switches a limit off."""

    max_bytes: int | None = None
    max_age_s: float | None = None
    period_s: float = 10.0
    low_water_ratio: float = 0.9  # a byte eviction frees down to this share of max_bytes
    chunk_rows: int = 10_000  # rows per delete transaction, so writers never wait long


class RetainedStore(Protocol):
    """What retention needs of the store (SqliteStore provides it)."""

    def get_cursor(self, name: str) -> int: ...

    def count(self, device_id: str | None = None) -> int: ...

    def used_bytes(self) -> int: ...

    def evict_before(self, ts: float, max_rows: int, above_rowid: float) -> tuple[int, int]: ...

    def evict_oldest(self, max_rows: int, above_rowid: float) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Eviction:
    """What one enforcement pass deleted, by reason."""

    age: int = 0
    bytes: int = 0
    undelivered_age: int = 0
    undelivered_bytes: int = 0

    @property
    def total(self) -> int:
        return self.age + self.bytes


class StoreRetention:
    """Enforces RetentionSettings on `store`.

    `cursor_names` are the uplinks' cursors: rows above the lowest one are undelivered. With no
    uplinks nothing is waiting for delivery, so nothing counts as undelivered.

    Has the core's Uplink shape (name, start, stop, status), so the integrator may hand it to
    the core with the uplinks to have it started, stopped and shown under status["uplinks"].
    The "store-retention" thread runs `enforce` every `period_s`; `enforce` may also be called
    directly from any thread.
    """

    name = "retention"

    def __init__(
        self,
        store: RetainedStore,
        settings: RetentionSettings,
        cursor_names: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cursor_names = tuple(cursor_names)
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # one enforcement at a time; guards the counters
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-retention")
        self._started = False
        self._stopped = False
        self._evicted = Eviction()
        self._runs = 0
        self._used_bytes: int | None = None
        self._last_error: str | None = None

    def start(self) -> None:
        """Measure the store (so its size shows before the first pass), start the periodic
        thread; idempotent."""
        with self._lock:
            if self._started or self._stopped:
                return
            self._started = True
            with contextlib.suppress(StoreError):  # the first pass reports the error
                self._used_bytes = self.store.used_bytes()
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; idempotent. The store stays open (its owner closes it)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        if self._started:
            self._thread.join()

    def enforce(self) -> Eviction:
        """One pass: age budget, then byte budget. Returns what this pass evicted."""
        with self._lock:
            if self._stopped:
                raise StoreError("store retention is stopped")
            try:
                floor = self._delivered_floor()
                age = self._evict_by_age(floor)
                size = self._evict_by_bytes(floor)
                used = self.store.used_bytes()
            except StoreError as exc:
                self._last_error = str(exc)
                raise
            done = Eviction(age[0], size[0], age[1], size[1])
            self._evicted = _add(self._evicted, done)
            self._runs += 1
            self._used_bytes = used
            self._last_error = None
        if done.total:
            _log.warning(
                "retention evicted %d samples (age %d, bytes %d); %d were undelivered",
                done.total,
                done.age,
                done.bytes,
                done.undelivered_age + done.undelivered_bytes,
            )
        return done

    def used_bytes(self) -> int:
        """Bytes of the store file in use right now (pages minus free-list pages)."""
        return self.store.used_bytes()

    def evicted(self) -> Eviction:
        """Everything evicted since construction."""
        with self._lock:
            return self._evicted

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        """Retention has no far end to tell."""

    def status(self) -> dict[str, object]:
        with self._lock:
            e = self._evicted
            return {
                "kind": "retention",
                "max_bytes": self.settings.max_bytes,
                "max_age_s": self.settings.max_age_s,
                "used_bytes": self._used_bytes,
                "evicted_age": e.age,
                "evicted_bytes": e.bytes,
                "evicted_undelivered": e.undelivered_age + e.undelivered_bytes,
                "evicted_undelivered_age": e.undelivered_age,
                "evicted_undelivered_bytes": e.undelivered_bytes,
                "runs": self._runs,
                "last_error": self._last_error,
            }

    # -- store-retention thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.settings.period_s):
            try:
                self.enforce()
            except StoreError as exc:
                with self._lock:
                    self._last_error = str(exc)
                _log.warning("retention pass failed: %s", exc)

    # -- policy ------------------------------------------------------------------------------

    def _delivered_floor(self) -> float:
        """The lowest uplink cursor: rows above it are undelivered (inf with no uplinks)."""
        if not self.cursor_names:
            return math.inf
        return min(self.store.get_cursor(name) for name in self.cursor_names)

    def _evict_by_age(self, floor: float) -> tuple[int, int]:
        if self.settings.max_age_s is None:
            return 0, 0
        cutoff = self._wall_clock() - self.settings.max_age_s
        evicted = undelivered = 0
        while True:
            gone, above = self.store.evict_before(cutoff, self.settings.chunk_rows, floor)
            evicted, undelivered = evicted + gone, undelivered + above
            if gone < self.settings.chunk_rows:
                return evicted, undelivered

    def _evict_by_bytes(self, floor: float) -> tuple[int, int]:
        limit = self.settings.max_bytes
        if limit is None:
            return 0, 0
        target = limit * self.settings.low_water_ratio
        evicted = undelivered = 0
        # A few rounds of "estimate the rows over budget, delete them": freed pages only
        # show once whole pages empty, so one estimate can fall short; never loop unbounded.
        for _ in range(_BYTE_ROUNDS):
            used, rows = self.store.used_bytes(), self.store.count()
            if used <= limit or rows <= 1:
                break
            excess = math.ceil((used - target) / max(used / rows, 1.0))
            while excess > 0:
                gone, above = self.store.evict_oldest(min(excess, self.settings.chunk_rows), floor)
                evicted, undelivered, excess = evicted + gone, undelivered + above, excess - gone
                if gone == 0:
                    break
        return evicted, undelivered


def _add(a: Eviction, b: Eviction) -> Eviction:
    return Eviction(
        a.age + b.age,
        a.bytes + b.bytes,
        a.undelivered_age + b.undelivered_age,
        a.undelivered_bytes + b.undelivered_bytes,
    )
