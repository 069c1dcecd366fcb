"""Backups of a live store with SQLite's online backup API, and the documented restore."""

from __future__ import annotations

import shutil
import stat
import threading
from pathlib import Path

import pytest

from telemetryhub.cli.main import main
from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import DB_FILENAME, SqliteStore, schema

BATCH = 200


def _batch(start: int) -> list[Sample]:
    return [
        Sample("dev-1", 1, seq, seq, 1_700_000_000.0 + seq, float(seq), 0, "C")
        for seq in range(start, start + BATCH)
    ]


def test_a_backup_taken_during_writes_holds_whole_batches_only(
    store: SqliteStore, tmp_path: Path
) -> None:
    store.write_batch(_batch(0))
    stop = threading.Event()

    def write() -> None:
        start = BATCH
        while not stop.is_set():
            store.write_batch(_batch(start))
            start += BATCH

    writer = threading.Thread(target=write, name="test-writer")
    writer.start()
    try:
        report = store.backup(tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join(10)
    assert report.samples > 0
    assert report.samples % BATCH == 0  # one snapshot: no batch torn in half
    assert report.schema_version == schema.latest_version()
    assert stat.S_IMODE(report.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.glob("copy.db*")) == ["copy.db"]  # no -wal, .partial
    copy = SqliteStore(report.path)
    try:
        assert copy.count() == report.samples
        assert copy.last_rowid() == report.samples  # the rows 1..n, nothing after a gap
    finally:
        copy.close()


def test_restore_as_documented_brings_back_samples_and_cursors(
    store: SqliteStore, tmp_path: Path
) -> None:
    store.write_batch(_batch(0))
    store.set_cursor("mqtt", 150)
    backup = store.backup(tmp_path).path  # a directory: a dated file in it
    assert backup.name.startswith("telemetry-")
    store.write_batch(_batch(BATCH))  # written after the backup: not in it
    # docs/deploy.md: stop the gateway, copy the backup to DATA_DIR/telemetry.db, start it.
    data_dir = tmp_path / "restored"
    data_dir.mkdir(mode=0o700)
    shutil.copy2(backup, data_dir / DB_FILENAME)
    restored = SqliteStore.in_data_dir(data_dir)
    try:
        assert restored.count() == BATCH
        assert restored.get_cursor("mqtt") == 150
        assert restored.newest_seq("dev-1", 1) == BATCH - 1  # where a boot resumes
        assert restored.write_batch(_batch(BATCH)) == BATCH
    finally:
        restored.close()


def test_a_backup_never_overwrites_and_needs_an_existing_directory(
    store: SqliteStore, tmp_path: Path
) -> None:
    taken = tmp_path / "b.db"
    taken.write_bytes(b"keep me")
    with pytest.raises(StoreError, match="exists; refusing to overwrite"):
        store.backup(taken)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(StoreError, match="does not exist"):
        store.backup(tmp_path / "missing" / "b.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.backup(tmp_path / "c.db")


def test_the_backup_command_copies_a_live_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = SqliteStore.in_data_dir(tmp_path / "data")
    try:
        live.write_batch(_batch(0))
        code = main(["backup", str(tmp_path / "b.db"), "--data-dir", str(tmp_path / "data")])
    finally:
        live.close()
    out = capsys.readouterr().out
    assert code == 0
    assert f"backed up {BATCH} samples (schema version" in out
    assert str(tmp_path / "b.db") in out


def test_the_backup_command_refuses_a_directory_without_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backup", str(tmp_path / "b.db"), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "no store at" in err
    assert not (tmp_path / DB_FILENAME).exists()
