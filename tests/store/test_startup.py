"""The store's start-up checks on real files: foreign, corrupt and non-SQLite files are refused
untouched; new files are private; a fresh or existing store of ours opens."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import DB_FILENAME, SqliteStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _refused(directory: Path, match: str) -> str:
    """Open the store in `directory`, which must be refused with one line and no change."""
    before = _snapshot(directory)
    with pytest.raises(StoreError, match=match) as info:
        SqliteStore.in_data_dir(directory)
    assert _snapshot(directory) == before, "a refused file was modified"
    message = str(info.value)
    assert "\n" not in message
    assert str(directory / DB_FILENAME) in message
    return message


def test_a_foreign_sqlite_file_is_refused_without_being_modified(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()
    _refused(tmp_path, r"is not a TelemetryHub store \(it holds table invoices\); left untouched")
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_a_table_of_our_name_with_other_columns_is_foreign(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY, reading REAL)")
    conn.close()
    message = _refused(tmp_path, r"is not a TelemetryHub store \(table samples lacks ")
    assert "board_ms" in message


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"these are my notes, not a database\n" * 200)
    _refused(tmp_path, r"is not a SQLite database; left untouched")


def test_a_corrupt_page_is_found_at_start_and_the_file_kept(tmp_path: Path) -> None:
    store = SqliteStore.in_data_dir(tmp_path)
    store.write_batch([Sample("d", 1, i, i, 1e9 + i, 1.0, 0, "C") for i in range(20_000)])
    store.close()
    database = tmp_path / DB_FILENAME
    assert database.stat().st_size > 30 * 4096
    with database.open("r+b") as f:  # one b-tree page in the middle overwritten
        f.seek(20 * 4096)
        f.write(b"\xa5" * 4096)
    _refused(tmp_path, r"is corrupt \(PRAGMA quick_check: .*Page 21.*\); left untouched: restore")


def test_a_new_store_is_private_and_its_directory_too(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    store = SqliteStore.in_data_dir(data_dir)
    store.write_batch([Sample("d", 1, 0, 0, 1e9, 1.0, 0, "C")])
    try:
        assert _mode(data_dir) == 0o700
        assert _mode(data_dir / DB_FILENAME) == 0o600
        wal = data_dir / f"{DB_FILENAME}-wal"
        assert wal.exists()
        assert _mode(wal) == 0o600
    finally:
        store.close()


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    SqliteStore.in_data_dir(tmp_path).close()
    assert _mode(tmp_path) == 0o755


def test_the_write_probe_leaves_no_trace(tmp_path: Path) -> None:
    store = SqliteStore.in_data_dir(tmp_path)
    store.close()
    store = SqliteStore.in_data_dir(tmp_path)  # reopening an existing store of ours
    try:
        assert store.get_cursor("telemetryhub.startup-probe") == 0
        assert store.count() == 0
    finally:
        store.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".write-probe")] == []


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    with pytest.raises(StoreError, match=r"^data directory .*data is not a directory$"):
        SqliteStore.in_data_dir(tmp_path / "data")
    with pytest.raises(StoreError, match=r"^cannot create the data directory .*: Not a directory"):
        SqliteStore.in_data_dir(tmp_path / "data" / "below")
