"""A consistent copy of a live store, made with SQLite's online backup API, checked before use.

The copy is read in one step (one read transaction), so it holds exactly the batches committed
before it started, whatever the gateway writes meanwhile (WAL lets the writer go on). It is
written to `<dest>.partial`, checked with `PRAGMA integrity_check`, made private (0600) and only
then renamed to its name: a backup that exists is a whole one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from telemetryhub.errors import StoreError
from telemetryhub.store import startup

_BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup holds."""

    path: Path
    samples: int
    schema_version: int
    size_bytes: int


def backup_file(source: Path, dest: Path) -> BackupReport:
    """Copy the store at `source` to `dest` (a new file, or a directory to put a dated file in)."""
    if dest.is_dir():
        dest = dest / time.strftime("telemetry-%Y%m%dT%H%M%SZ.db", time.gmtime())
    if dest.exists():
        raise StoreError(f"backup {dest} exists; refusing to overwrite it: name a new file")
    if not dest.parent.is_dir():
        raise StoreError(f"backup {dest}: the directory {dest.parent} does not exist")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        startup.create_private(partial)
        _copy(source, partial)
        report = _check(partial, dest)
        os.replace(partial, dest)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"backup of {source} to {dest} failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return report


def _copy(source: Path, partial: Path) -> None:
    src = sqlite3.connect(source, timeout=_BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
        finally:
            dst.close()
    finally:
        src.close()


def _check(partial: Path, dest: Path) -> BackupReport:
    conn = sqlite3.connect(partial)
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(3)")]
        if problems != ["ok"]:
            raise StoreError(f"backup {dest} failed its integrity check: {'; '.join(problems)}")
        samples = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return BackupReport(dest, samples, version, partial.stat().st_size)
