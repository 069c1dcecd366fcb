"""SqliteStore against a real SQLite file: WAL, duplicates, queries, cursors, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import DB_FILENAME, SqliteStore


def _sample(
    seq: int, device_id: str = "dev-1", boot_id: int = 1, ts: float | None = None
) -> Sample:
    when = 1_700_000_000.0 + seq if ts is None else ts
    return Sample(device_id, boot_id, seq, seq * 1000, when, seq / 2, 0, "C")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore.in_data_dir(tmp_path / "data")
    yield store
    store.close()


def test_creates_data_dir_in_wal_mode(store: SqliteStore, tmp_path: Path) -> None:
    assert store.path == tmp_path / "data" / DB_FILENAME
    assert store.path.exists()
    assert store.journal_mode() == "wal"
    assert store.count() == 0
    assert store.last_rowid() == 0
    assert store.write_batch([]) == 0


def test_round_trip_keeps_every_field(store: SqliteStore) -> None:
    sample = Sample("dev-1", 42, 7, 123_456, 1_700_000_001.25, -3.5, 2, "mV")
    assert store.write_batch([sample]) == 1
    assert store.query() == [sample]


def test_duplicates_are_ignored_and_counted(store: SqliteStore) -> None:
    assert store.write_batch([_sample(i) for i in range(10)]) == 10
    batch = [_sample(i) for i in range(5, 15)]
    new = store.write_batch(batch)
    assert (new, len(batch) - new) == (5, 5)
    assert store.write_batch([_sample(1, boot_id=2)]) == 1  # another boot: a new sample
    assert store.count() == 16
    assert store.count("dev-1") == 16
    assert store.count("nobody") == 0


def test_query_by_device_and_time_range(store: SqliteStore) -> None:
    store.write_batch([_sample(i, "a") for i in range(10)])
    store.write_batch([_sample(i, "b", ts=1_700_000_000.5 + i) for i in range(10)])
    assert store.devices() == ["a", "b"]
    since, until = 1_700_000_002.0, 1_700_000_004.0
    assert [s.seq for s in store.query("a", since, until)] == [2, 3]
    both = store.query(since_ts=since, until_ts=until)
    assert [(s.device_id, s.seq) for s in both] == [("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    assert [s.seq for s in store.query("b", limit=3)] == [0, 1, 2]
    assert [s.seq for s in store.query("b", limit=3, newest=True)] == [7, 8, 9]
    newest = store.query(limit=3, newest=True)
    assert [(s.device_id, s.seq) for s in newest] == [("b", 8), ("a", 9), ("b", 9)]
    assert [s.seq for s in store.query(until_ts=1_700_000_001.0)] == [0, 0]


def test_query_of_several_devices_merges_them_by_time_and_leaves_the_others_out(
    store: SqliteStore,
) -> None:
    for device, offset in (("a", 0.0), ("b", 0.25), ("c", 0.5)):
        store.write_batch([_sample(i, device, ts=1_700_000_000.0 + offset + i) for i in range(4)])
    picked = store.query(["c", "a", "c"], limit=5)
    assert [(s.device_id, s.seq) for s in picked] == [
        ("a", 0), ("c", 0), ("a", 1), ("c", 1), ("a", 2),
    ]  # fmt: skip
    assert [s.seq for s in store.query(("b",), limit=2, newest=True)] == [2, 3]
    assert store.query([]) == []


def test_read_after_and_cursors(store: SqliteStore) -> None:
    store.write_batch([_sample(i) for i in range(5)])
    store.write_batch([_sample(i) for i in range(3, 8)])  # 3 and 4 are duplicates
    rows = store.read_after(0, limit=100)
    assert [s.seq for _, s in rows] == list(range(8))
    rowids = [rowid for rowid, _ in rows]
    assert rowids == sorted(rowids)
    assert store.last_rowid() == rowids[-1]
    assert [s.seq for _, s in store.read_after(rowids[2], limit=2)] == [3, 4]
    assert store.get_cursor("mqtt") == 0
    store.set_cursor("mqtt", rowids[4])
    store.set_cursor("mqtt", rowids[5])
    assert store.get_cursor("mqtt") == rowids[5]
    assert [s.seq for _, s in store.read_after(store.get_cursor("mqtt"))] == [6, 7]


def test_eviction_keeps_newest_row_so_rowids_never_repeat(store: SqliteStore) -> None:
    store.write_batch([_sample(i) for i in range(5)])
    last = store.last_rowid()
    assert store.evict_before(1_800_000_000.0, 100, above_rowid=2) == (4, 2)
    assert store.count() == 1
    assert store.evict_oldest(100, above_rowid=0) == (0, 0)
    store.write_batch([_sample(10)])
    assert store.read_after(last)[0][0] > last


def test_evict_oldest_goes_in_insertion_order_and_counts_above_a_rowid(
    store: SqliteStore,
) -> None:
    store.write_batch([_sample(i) for i in range(10)])
    assert store.evict_oldest(3, above_rowid=2) == (3, 1)
    assert [s.seq for _, s in store.read_after(0, 2)] == [3, 4]
    assert store.used_bytes() > 0


def test_cursor_and_data_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = SqliteStore(path)
    first.write_batch([_sample(i) for i in range(3)])
    first.set_cursor("http", 2)
    first.close()
    second = SqliteStore(path)
    assert (second.count(), second.get_cursor("http"), second.devices()) == (3, 2, ["dev-1"])
    assert second.write_batch([_sample(i) for i in range(3)]) == 0
    second.close()


def test_concurrent_writers_and_readers(store: SqliteStore) -> None:
    writers, batches, batch_size = 4, 40, 50
    new_counts = [0] * writers
    errors: list[BaseException] = []

    def write(slot: int) -> None:
        for b in range(batches):
            # each writer also re-sends half of the previous batch: duplicates across threads
            start = max(0, b * batch_size - batch_size // 2)
            batch = [_sample(i, f"dev-{slot % 2}") for i in range(start, (b + 1) * batch_size)]
            new_counts[slot] += store.write_batch(batch)

    def read() -> None:
        try:
            for _ in range(50):
                store.query(limit=10, newest=True)
                store.read_after(0, limit=10)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    per_device = batches * batch_size
    assert sum(new_counts) == store.count() == 2 * per_device


def test_errors_are_wrapped_in_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=r"cannot create the data directory .*sub"):
        SqliteStore(blocker / "sub" / "t.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"garbage\.db is not a SQLite database"):
        SqliteStore(garbage)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    store.count()  # opens this thread's reader
    store.close()
    store.close()  # idempotent
    for call in (
        store.count,
        lambda: store.write_batch([_sample(1)]),
        lambda: store.set_cursor("x", 1),
        lambda: store.evict_oldest(1, 0),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()
    done: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(store.devices, done))
    thread.start()
    thread.join(10)
    assert isinstance(done[0], StoreError)


def _capture(call: object, into: list[BaseException]) -> None:
    try:
        call()  # type: ignore[operator]
    except StoreError as exc:
        into.append(exc)


def test_sqlite_error_during_write_is_wrapped(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("DROP TABLE devices")
    conn.close()
    with pytest.raises(StoreError, match="write_batch failed: no such table"):
        store.write_batch([_sample(1)])


def test_the_devices_table_knows_every_board_and_when_it_was_last_seen(tmp_path: Path) -> None:
    store = SqliteStore.in_data_dir(tmp_path)
    try:
        store.write_batch([Sample("a", 1, 0, 0, 100.0, 1.0, 0, "u")])
        store.write_batch([Sample("a", 1, 1, 1, 160.0, 1.0, 0, "u")])
        store.note_device("b", "fw 2", 0xABCD, "/dev/ttyACM1", 200.0)
        a, b = store.known_devices()
        assert (a.device_id, a.first_seen, a.last_seen, a.firmware) == ("a", 100.0, 160.0, None)
        assert (b.device_id, b.firmware, b.last_boot_id, b.port) == (
            "b",
            "fw 2",
            0xABCD,
            "/dev/ttyACM1",
        )
        store.write_batch([Sample("a", 1, 2, 2, 150.0, 1.0, 0, "u")])  # an older resend
        assert store.known_devices()[0].last_seen == 160.0  # never moves back
    finally:
        store.close()
