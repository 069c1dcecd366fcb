"""Start-up checks of the store's file: private, ours, intact and writable, or one clear refusal.

Each check runs before the store writes anything, so a file that is refused is left exactly as
it was found: a foreign SQLite file keeps its journal mode and content, a corrupt one keeps the
evidence. Every refusal is a StoreError of one line naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from functools import cache
from pathlib import Path

from telemetryhub.errors import StoreError

DIR_MODE = 0o700
FILE_MODE = 0o600  # SQLite gives the -wal and -shm files the mode of the database file
_PROBE_CURSOR = "telemetryhub.startup-probe"

# sqlite3 extended error codes (sqlite3.h) this module tells apart.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def prepare_data_dir(directory: Path) -> None:
    """Create `directory` (mode 0700) if absent; refuse one that is not a writable directory."""
    if not directory.exists():
        try:
            directory.mkdir(parents=True, mode=DIR_MODE)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {directory}: {_why(exc)}") from exc
    if not directory.is_dir():
        raise StoreError(f"data directory {directory} is not a directory")
    try:  # a real write: permission bits, read-only mounts and capabilities all show here
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StoreError(f"data directory {directory} is not writable: {_why(exc)}") from exc


def create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only, unless it exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def check_readable_store(conn: sqlite3.Connection, path: Path, schema: str) -> None:
    """Refuse a file that is not a SQLite database, holds foreign tables, or fails quick_check.

    Only reads: call it before anything that may write (journal mode, schema).
    """
    try:
        found = _tables(conn)
        foreign = sorted(set(found) - set(_expected(schema)))
        if foreign:
            raise StoreError(
                f"{path} is not a TelemetryHub store (it holds table {', '.join(foreign)}); "
                "left untouched: set data_dir to another directory"
            )
        for table, columns in found.items():
            missing = sorted(_expected(schema)[table] - columns)
            if missing:
                raise StoreError(
                    f"{path} is not a TelemetryHub store (table {table} lacks "
                    f"{', '.join(missing)}); left untouched: set data_dir to another directory"
                )
        problems = [" ".join(str(row[0]).split()) for row in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc
    if problems != ["ok"]:
        raise StoreError(
            f"{path} is corrupt (PRAGMA quick_check: {'; '.join(problems)}); left untouched: "
            "restore it from a backup, or move it away to start an empty store"
        )


def probe_write(conn: sqlite3.Connection, path: Path) -> None:
    """Write and commit a row and remove it again: a store that cannot write fails here, now."""
    try:
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO cursors (name, rowid) VALUES (?, 0)", (_PROBE_CURSOR,)
            )
            conn.execute("DELETE FROM cursors WHERE name = ?", (_PROBE_CURSOR,))
    except sqlite3.Error as exc:
        raise StoreError(f"sample store {path} cannot be written: {exc}") from exc


def _tables(conn: sqlite3.Connection) -> dict[str, set[str]]:
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        name: {str(row[1]) for row in conn.execute(f"PRAGMA table_info({_quote(name)})")}
        for name in names
    }


@cache
def _expected(schema: str) -> dict[str, set[str]]:
    """Tables and columns that `schema` creates, read back from an in-memory database."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(schema)
        return _tables(conn)
    finally:
        conn.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_NOTADB:
        return StoreError(
            f"{path} is not a SQLite database; left untouched: set data_dir to another directory"
        )
    if code is not None and code & 0xFF == _SQLITE_CORRUPT:
        return StoreError(
            f"{path} is corrupt ({exc}); left untouched: restore it from a "
            "backup, or move it away to start an empty store"
        )
    return StoreError(f"sample store {path} cannot be opened: {exc}")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
