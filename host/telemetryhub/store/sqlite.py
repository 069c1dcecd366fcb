"""The SQLite sample store: exactly-once rows keyed by (device_id, boot_id, seq), plus cursors."""

from __future__ import annotations

import heapq
import itertools
import logging
import operator
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import schema, startup
from telemetryhub.store.backup import BackupReport, backup_file
from telemetryhub.store.base import KnownDevice

_log = logging.getLogger(__name__)

DB_FILENAME = "telemetry.db"
BUSY_TIMEOUT_MS = 10_000

_COLUMNS = "device_id, boot_id, seq, board_ms, ts, value, channel, unit"
_INSERT = f"INSERT OR IGNORE INTO samples ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

_sample_row = operator.attrgetter(*_COLUMNS.split(", "))
# a board's row: created with its first sample, its last_seen moved by every batch
_INSERT_DEVICE = (
    "INSERT INTO devices (device_id, first_seen, last_seen) VALUES (?, ?, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET "
    "last_seen = max(coalesce(last_seen, 0), excluded.last_seen)"
)
_NOTE_DEVICE = (
    "INSERT INTO devices (device_id, first_seen, last_seen, firmware, last_boot_id, port) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
    "last_seen = excluded.last_seen, firmware = excluded.firmware, "
    "last_boot_id = excluded.last_boot_id, port = excluded.port"
)


class SqliteStore:
    """Samples in one SQLite file (WAL, synchronous=NORMAL); every method is thread-safe.

    Writes go through one connection guarded by a lock (SQLite admits one writer at a time
    anyway; a lock is cheaper than busy-waiting between connections). Reads use one connection
    per calling thread, so API queries never wait behind a write batch (WAL readers see the
    last committed state). Every sqlite3 error comes out as StoreError naming the operation.
    """

    def __init__(self, path: str | Path) -> None:
        """Open the store at `path`, created 0600 if absent, after the checks of store.startup."""
        self._path = Path(path)
        self._write_lock = threading.Lock()
        self._readers_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._closed = False
        startup.prepare_data_dir(self._path.parent)
        with self._guard("open"):
            startup.create_private(self._path)
            self._writer = self._open_checked()

    def _open_checked(self) -> sqlite3.Connection:
        """The writer connection, after the start-up checks (nothing is written before them)."""
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        try:
            startup.check_readable_store(conn, self._path, schema.REQUIRED)
            schema.check_version(conn, self._path)
            new = schema.is_empty(conn)
            self._configure(conn)
            for version in schema.migrate(conn, self._path):
                if not new:
                    _log.info("store %s migrated to schema version %d", self._path, version)
            startup.probe_write(conn, self._path)
        except BaseException:
            conn.close()
            raise
        return conn

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> SqliteStore:
        """The store at `<data_dir>/telemetry.db`, creating the directory (0700) if needed."""
        return cls(Path(data_dir) / DB_FILENAME)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def journal_mode(self) -> str:
        """The journal mode in force ("wal")."""
        return str(self._fetch_value("journal_mode", "PRAGMA journal_mode"))

    def write_batch(self, samples: Sequence[Sample]) -> int:
        """Insert `samples` in one transaction; returns how many were new.

        Samples whose (device_id, boot_id, seq) is already stored are ignored: the duplicates
        count is `len(samples) - returned`.
        """
        if not samples:
            return 0
        rows = list(map(_sample_row, samples))
        newest: dict[str, float] = {}
        for sample in samples:
            if sample.ts > newest.get(sample.device_id, -1.0):
                newest[sample.device_id] = sample.ts
        device_ids = [(d, ts, ts) for d, ts in newest.items()]
        with self._write_lock, self._guard("write_batch"):
            conn = self._open_writer()
            with conn:
                conn.executemany(_INSERT_DEVICE, device_ids)
                before = conn.total_changes
                conn.executemany(_INSERT, rows)
                return conn.total_changes - before

    def query(
        self,
        device_id: str | Sequence[str] | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 1000,
        newest: bool = False,
    ) -> list[Sample]:
        """Samples with `since_ts <= ts < until_ts` (either bound optional), oldest first.

        At most `limit` samples: the oldest ones in the range, or with `newest=True` the newest
        ones (still returned oldest first). Ties in `ts` follow insertion order. `device_id` is
        one device, several (their samples merged by time) or None (every device).
        """
        if device_id is None:
            devices = self.devices()
        else:
            devices = [device_id] if isinstance(device_id, str) else list(dict.fromkeys(device_id))
        per_device = [self._query_device(d, since_ts, until_ts, limit, newest) for d in devices]
        merged = heapq.merge(*per_device, reverse=newest)
        rows = list(itertools.islice(merged, limit))
        if newest:
            rows.reverse()
        return [Sample(*row[2:]) for row in rows]

    def _query_device(
        self,
        device_id: str,
        since_ts: float | None,
        until_ts: float | None,
        limit: int,
        newest: bool,
    ) -> list[tuple[Any, ...]]:
        """(ts, id, *sample columns) rows of one device in (ts, id) order, reversed if newest."""
        where, params = _filters(device_id, since_ts, until_ts)
        order = "DESC" if newest else "ASC"
        sql = (
            f"SELECT ts, id, {_COLUMNS} FROM samples {where} "
            f"ORDER BY ts {order}, id {order} LIMIT ?"
        )
        return self._fetch_all("query", sql, (*params, limit))

    def read_after(self, rowid: int, limit: int = 1000) -> list[tuple[int, Sample]]:
        """Up to `limit` (rowid, sample) pairs with rowid > `rowid`, in insertion order."""
        sql = f"SELECT id, {_COLUMNS} FROM samples WHERE id > ? ORDER BY id LIMIT ?"
        rows = self._fetch_all("read_after", sql, (rowid, limit))
        return [(row[0], Sample(*row[1:])) for row in rows]

    def last_rowid(self) -> int:
        """The highest rowid assigned so far (0 for an empty store)."""
        found = self._fetch_value("last_rowid", "SELECT MAX(id) FROM samples")
        return int(found) if found is not None else 0

    def get_cursor(self, name: str) -> int:
        """The rowid stored under `name`, or 0 if the cursor was never set."""
        sql = "SELECT rowid FROM cursors WHERE name = ?"
        found = self._fetch_value("get_cursor", sql, (name,))
        return int(found) if found is not None else 0

    def set_cursor(self, name: str, rowid: int) -> None:
        """Remember `rowid` under `name` (durable with the next WAL checkpoint or commit)."""
        sql = (
            "INSERT INTO cursors (name, rowid) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET rowid = excluded.rowid"
        )
        with self._write_lock, self._guard("set_cursor"):
            conn = self._open_writer()
            with conn:
                conn.execute(sql, (name, rowid))

    def count(self, device_id: str | None = None) -> int:
        """How many samples are stored (for one device if given)."""
        where, params = _filters(device_id, None, None)
        sql = f"SELECT COUNT(*) FROM samples {where}"
        return int(self._fetch_value("count", sql, params))

    def devices(self) -> list[str]:
        """Every device id this store has ever stored a sample for, sorted."""
        sql = "SELECT device_id FROM devices ORDER BY device_id"
        rows: list[tuple[str]] = self._fetch_all("devices", sql)
        return [row[0] for row in rows]

    def note_device(
        self, device_id: str, firmware: str, boot_id: int, port: str, seen_at: float
    ) -> None:
        """A board connected (or booted): what it is and where, for the fleet list."""
        with self._write_lock, self._guard("note_device"):
            conn = self._open_writer()
            with conn:
                conn.execute(_NOTE_DEVICE, (device_id, seen_at, seen_at, firmware, boot_id, port))

    def known_devices(self) -> list[KnownDevice]:
        """Every board this store has heard of, with when and where it was last seen."""
        sql = (
            "SELECT device_id, first_seen, last_seen, firmware, last_boot_id, port "
            "FROM devices ORDER BY device_id"
        )
        return [KnownDevice(*row) for row in self._fetch_all("known_devices", sql)]

    def knows_device(self, device_id: str) -> bool:
        """Whether a sample of `device_id` was ever stored here."""
        sql = "SELECT 1 FROM devices WHERE device_id = ?"
        return self._fetch_value("knows_device", sql, (device_id,)) is not None

    def newest_seq(self, device_id: str, boot_id: int) -> int | None:
        """The highest stored seq of one boot (where a restarted gateway resumes), or None."""
        sql = "SELECT MAX(seq) FROM samples WHERE device_id = ? AND boot_id = ?"
        found = self._fetch_value("newest_seq", sql, (device_id, boot_id))
        return None if found is None else int(found)

    def backup(self, dest: Path) -> BackupReport:
        """A consistent copy of this store at `dest` (a new file, or a directory for a dated
        file), taken while writes go on; see store.backup."""
        if self._closed:
            raise StoreError(f"sample store {self._path} is closed")
        return backup_file(self._path, dest)

    def schema_version(self) -> int:
        """The schema version of the file (`PRAGMA user_version`)."""
        return int(self._fetch_value("schema_version", "PRAGMA user_version"))

    def used_bytes(self) -> int:
        """Bytes of the file in use: pages minus free-list pages (which inserts reuse)."""
        pages = self._fetch_value("used_bytes", "PRAGMA page_count")
        free = self._fetch_value("used_bytes", "PRAGMA freelist_count")
        size = self._fetch_value("used_bytes", "PRAGMA page_size")
        return (int(pages) - int(free)) * int(size)

    def evict_before(self, ts: float, max_rows: int, above_rowid: float) -> tuple[int, int]:
        """Delete up to `max_rows` of the oldest-inserted samples with ts < `ts`, in one
        transaction; returns (deleted, deleted with a rowid above `above_rowid`).

        The newest row (highest id) is always kept, so rowids are never reused and an uplink
        cursor never skips rows inserted after an eviction.
        """
        where = "ts < ? AND id < (SELECT MAX(id) FROM samples)"
        return self._evict("evict_before", where, (ts,), max_rows, above_rowid)

    def evict_oldest(self, max_rows: int, above_rowid: float) -> tuple[int, int]:
        """Delete the `max_rows` oldest-inserted samples (never the newest row) in one
        transaction; returns (deleted, deleted with a rowid above `above_rowid`)."""
        where = "id < (SELECT MAX(id) FROM samples)"
        return self._evict("evict_oldest", where, (), max_rows, above_rowid)

    def _evict(
        self, op: str, where: str, params: tuple[object, ...], max_rows: int, above: float
    ) -> tuple[int, int]:
        select = f"SELECT id FROM samples WHERE {where} ORDER BY id LIMIT ?"
        with self._write_lock, self._guard(op):
            conn = self._open_writer()
            with conn:
                ids = [row[0] for row in conn.execute(select, (*params, max_rows))]
                conn.executemany("DELETE FROM samples WHERE id = ?", [(i,) for i in ids])
        return len(ids), sum(1 for i in ids if i > above)

    def close(self) -> None:
        """Close every connection; idempotent. Later calls raise StoreError."""
        with self._write_lock, self._readers_lock:
            if self._closed:
                return
            self._closed = True
            for conn in (*self._readers, self._writer):
                conn.close()
            self._readers.clear()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        self._configure(conn)
        return conn

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

    def _open_writer(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"sample store {self._path} is closed")
        return self._writer

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._readers_lock:
                if self._closed:
                    raise StoreError(f"sample store {self._path} is closed")
                conn = self._connect()
                self._readers.append(conn)
            self._local.conn = conn
        elif self._closed:
            raise StoreError(f"sample store {self._path} is closed")
        return conn

    def _fetch_all(self, op: str, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of a read on this thread's connection."""
        with self._guard(op):
            return self._reader().execute(sql, params).fetchall()

    def _fetch_value(self, op: str, sql: str, params: Sequence[object] = ()) -> Any:
        """The first column of the first row of a read, or None if there is no row."""
        with self._guard(op):
            row = self._reader().execute(sql, params).fetchone()
            return None if row is None else row[0]

    @contextmanager
    def _guard(self, op: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"sample store {self._path}: {op} failed: {exc}") from exc


def _filters(
    device_id: str | None, since_ts: float | None, until_ts: float | None
) -> tuple[str, tuple[object, ...]]:
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (
        ("device_id = ?", device_id),
        ("ts >= ?", since_ts),
        ("ts < ?", until_ts),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return where, tuple(params)
