"""The store's schema version on real files: new stores are versioned, a 0.1.0 store migrates
forward with its rows, a failed step leaves the file at its version, a newer file is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import SqliteStore, schema

# What telemetryhub 0.1.0 wrote: the tables of version 1 and no user_version.
_RELEASE_0_1_0 = schema.SCHEMA_V1


def _sample(seq: int) -> Sample:
    return Sample("dev-1", 1, seq, seq, 1_700_000_000.0 + seq, 1.0, 0, "C")


def _unversioned_store(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(_RELEASE_0_1_0)
    with conn:
        conn.execute("INSERT INTO devices VALUES ('dev-1')")
        conn.execute(
            "INSERT INTO samples (device_id, boot_id, seq, board_ms, ts, value, channel, unit) "
            "VALUES ('dev-1', 1, 1, 1, 1700000001.0, 1.0, 0, 'C')"
        )
        conn.execute("INSERT INTO cursors VALUES ('mqtt', 1)")
    conn.close()


def test_a_new_store_carries_the_latest_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    try:
        assert store.schema_version() == schema.latest_version() >= 1
    finally:
        store.close()


def test_an_unversioned_store_migrates_forward_and_keeps_rows_and_cursors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    _unversioned_store(path)
    caplog.set_level("INFO", logger="telemetryhub.store.sqlite")
    store = SqliteStore(path)
    try:
        assert store.schema_version() == schema.latest_version()
        assert store.count() == 1
        assert store.get_cursor("mqtt") == 1
        assert store.write_batch([_sample(2)]) == 1
    finally:
        store.close()
    assert "migrated to schema version 1" in caplog.text


def test_a_failed_migration_step_leaves_the_file_at_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    SqliteStore(path).close()
    now = schema.latest_version()
    broken = "CREATE TABLE extra (x INTEGER);\nSELECT no_such_function();"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(
        StoreError,
        match=rf"from version {now} to {now + 1} failed, the file stays at version {now}",
    ):
        SqliteStore(path)
    conn = sqlite3.connect(path)
    try:
        assert schema.stored_version(conn) == now
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables  # the step's own DDL was rolled back with it
    finally:
        conn.close()


def test_a_store_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.latest_version() + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer than this telemetryhub knows") as info:
        SqliteStore(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before
