"""StoreRetention: keeps the sample store inside its byte and age budget, counting every eviction.

It works on its own SQLite connection to the store's file (WAL admits it beside the store's
writer; each delete is a short transaction of at most `chunk_rows` rows). Rows past the
slowest uplink's cursor that it deletes were never delivered: they are counted separately as
`evicted_undelivered`, by reason, so data loss under a full budget is visible, never silent.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from telemetryhub.errors import StoreError
from telemetryhub.uplink.settings import RetentionSettings

_log = logging.getLogger(__name__)

AGE = "age"
BYTES = "bytes"
_BUSY_TIMEOUT_S = 10.0
_BYTE_ROUNDS = 4


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
    """Enforces RetentionSettings on the store file at `db_path`.

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
        db_path: str | Path,
        settings: RetentionSettings,
        cursor_names: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.settings = settings
        self.cursor_names = tuple(cursor_names)
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # one enforcement at a time; guards the counters
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-retention")
        self._started = False
        self._stopped = False
        self._conn: sqlite3.Connection | None = None
        self._evicted = Eviction()
        self._runs = 0
        self._used_bytes: int | None = None
        self._last_error: str | None = None

    def start(self) -> None:
        """Start the periodic thread; idempotent."""
        with self._lock:
            if self._started or self._stopped:
                return
            self._started = True
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the connection; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        if self._started:
            self._thread.join()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def enforce(self) -> Eviction:
        """One pass: age budget, then byte budget. Returns what this pass evicted."""
        with self._lock, self._guard("enforce"):
            conn = self._connection()
            floor = self._delivered_floor(conn)
            age = self._evict_by_age(conn, floor)
            size = self._evict_by_bytes(conn, floor)
            done = Eviction(age[0], size[0], age[1], size[1])
            self._evicted = _add(self._evicted, done)
            self._runs += 1
            self._used_bytes = _used_bytes(conn)
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
        with self._lock, self._guard("used_bytes"):
            return _used_bytes(self._connection())

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

    # -- SQL ---------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._stopped:
                raise StoreError("store retention is stopped")
            self._conn = sqlite3.connect(
                self.db_path,
                timeout=_BUSY_TIMEOUT_S,
                check_same_thread=False,
                isolation_level=None,
            )
        return self._conn

    def _delivered_floor(self, conn: sqlite3.Connection) -> float:
        """The lowest uplink cursor: rows above it are undelivered (inf with no uplinks)."""
        if not self.cursor_names:
            return math.inf
        marks = ",".join("?" * len(self.cursor_names))
        found = dict(
            conn.execute(
                f"SELECT name, rowid FROM cursors WHERE name IN ({marks})", self.cursor_names
            )
        )
        return min(int(found.get(name, 0)) for name in self.cursor_names)

    def _evict_by_age(self, conn: sqlite3.Connection, floor: float) -> tuple[int, int]:
        if self.settings.max_age_s is None:
            return 0, 0
        cutoff = self._wall_clock() - self.settings.max_age_s
        sql = "SELECT id FROM samples WHERE ts < ? LIMIT ?"
        evicted = undelivered = 0
        while True:
            ids = [row[0] for row in conn.execute(sql, (cutoff, self.settings.chunk_rows))]
            if not ids:
                return evicted, undelivered
            _delete_ids(conn, ids)
            evicted += len(ids)
            undelivered += sum(1 for i in ids if i > floor)

    def _evict_by_bytes(self, conn: sqlite3.Connection, floor: float) -> tuple[int, int]:
        limit = self.settings.max_bytes
        if limit is None:
            return 0, 0
        target = limit * self.settings.low_water_ratio
        evicted = undelivered = 0
        # A few rounds of "estimate the rows over budget, delete them": freed pages only
        # show once whole pages empty, so one estimate can fall short; never loop unbounded.
        for _ in range(_BYTE_ROUNDS):
            used = _used_bytes(conn)
            rows = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
            if used <= limit or rows == 0:
                break
            excess = math.ceil((used - target) / max(used / rows, 1.0))
            ids = [
                r[0] for r in conn.execute("SELECT id FROM samples ORDER BY id LIMIT ?", (excess,))
            ]
            for start in range(0, len(ids), self.settings.chunk_rows):
                _delete_ids(conn, ids[start : start + self.settings.chunk_rows])
            evicted += len(ids)
            undelivered += sum(1 for i in ids if i > floor)
        return evicted, undelivered

    @contextmanager
    def _guard(self, op: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            self._last_error = str(exc)
            raise StoreError(f"store retention on {self.db_path}: {op} failed: {exc}") from exc


def _delete_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM samples WHERE id = ?", [(i,) for i in ids])
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database in use: pages minus free-list pages (which inserts reuse)."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return (pages - free) * size


def _add(a: Eviction, b: Eviction) -> Eviction:
    return Eviction(
        a.age + b.age,
        a.bytes + b.bytes,
        a.undelivered_age + b.undelivered_age,
        a.undelivered_bytes + b.undelivered_bytes,
    )
