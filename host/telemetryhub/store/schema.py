"""The store's schema, its version (SQLite's `user_version`) and the forward migrations to it.

Version 0 is a file no TelemetryHub release has versioned: empty, or written by 0.1.0 (whose
tables are exactly version 1's). Each migration runs in its own transaction together with the
version bump, so a failed step leaves the file at the version before it. A file of a newer
version than this code knows is refused untouched: an older gateway never writes to it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from telemetryhub.errors import StoreError

# `id` (the rowid) is the insertion order that uplink cursors follow. SQLite gives a new row
# max(id) + 1, so an id is never reused as long as the newest row is never deleted: retention
# (`SqliteStore.evict_*`) always keeps it. That is the AUTOINCREMENT guarantee without its ~20 %
# insert cost. The natural key (device_id, boot_id, seq) is the UNIQUE constraint that refuses
# duplicates. Time queries go through (device_id, ts); a query across devices merges the
# per-device results, so no second time index slows every insert (measured: -25 %).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS samples (
    id        INTEGER PRIMARY KEY,
    device_id TEXT    NOT NULL,
    boot_id   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    board_ms  INTEGER NOT NULL,
    ts        REAL    NOT NULL,
    value     REAL    NOT NULL,
    channel   INTEGER NOT NULL,
    unit      TEXT    NOT NULL,
    UNIQUE (device_id, boot_id, seq)
);
CREATE INDEX IF NOT EXISTS samples_device_ts ON samples (device_id, ts);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS cursors (
    name  TEXT PRIMARY KEY,
    rowid INTEGER NOT NULL
);
"""

# Version 2: what the gateway knows of each board, so offline boards are listed with when they
# were last heard from (the fleet's `/devices`).
V1_TO_V2 = """
ALTER TABLE devices ADD COLUMN first_seen   REAL;
ALTER TABLE devices ADD COLUMN last_seen    REAL;
ALTER TABLE devices ADD COLUMN firmware     TEXT;
ALTER TABLE devices ADD COLUMN last_boot_id INTEGER;
ALTER TABLE devices ADD COLUMN port         TEXT;
"""

# MIGRATIONS[n] takes a file from version n to n + 1. Append only; never edit a shipped step.
MIGRATIONS: list[str] = [SCHEMA_V1, V1_TO_V2]
REQUIRED = SCHEMA_V1  # the tables and columns every version has (what start-up checks expect)


def latest_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


def stored_version(conn: sqlite3.Connection) -> int:
    """The file's `user_version` (0 for a file no release has versioned)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's version; StoreError, before anything is written, if it is newer than ours."""
    found = stored_version(conn)
    if found > latest_version():
        raise StoreError(
            f"{path} has store schema version {found}, newer than this telemetryhub knows "
            f"({latest_version()}); left untouched: upgrade telemetryhub, or set data_dir to "
            "another directory"
        )
    return found


def is_empty(conn: sqlite3.Connection) -> bool:
    """Whether the file holds no table yet (a new store, not one to migrate)."""
    return int(conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]) == 0


def migrate(conn: sqlite3.Connection, path: Path) -> list[int]:
    """Bring the file forward to latest_version(); returns the versions it passed through."""
    done: list[int] = []
    for version in range(check_version(conn, path), latest_version()):
        script = f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(
                f"{path}: migrating the store schema from version {version} to {version + 1} "
                f"failed, the file stays at version {version}: {exc}"
            ) from exc
        done.append(version + 1)
    return done
