"""StoreRetention on a real SQLite store: age and byte budgets, undelivered evictions counted,
the newest row kept so rowids (and uplink cursors) never go back."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetryhub.errors import StoreError
from telemetryhub.store import SqliteStore
from telemetryhub.store.retention import RetentionSettings, StoreRetention
from tests.uplink.support import make_samples, wait_until

T0 = 1_700_000_000.0  # make_samples gives sample i the time T0 + i


def test_age_budget_evicts_old_rows_and_counts_the_undelivered(store: SqliteStore) -> None:
    store.write_batch(make_samples(5000))
    store.set_cursor("mqtt", 1000)
    store.set_cursor("http", 3000)  # the slowest uplink (mqtt) decides what is delivered
    settings = RetentionSettings(max_age_s=5000, chunk_rows=300)
    now = [T0 + 6000]
    retention = StoreRetention(store, settings, ("mqtt", "http"), wall_clock=lambda: now[0])
    try:
        first = retention.enforce()
        assert (first.age, first.undelivered_age) == (1000, 0)  # ids 1..1000: all delivered
        now[0] += 1000
        second = retention.enforce()
        assert (second.age, second.undelivered_age) == (1000, 1000)
        assert store.count() == 3000
        assert store.read_after(0, 1)[0][1].seq == 2000  # the oldest left is the next one
        status = retention.status()
    finally:
        retention.stop()
    assert status["evicted_age"] == 2000
    assert status["evicted_undelivered"] == status["evicted_undelivered_age"] == 1000
    assert status["evicted_bytes"] == 0


def test_byte_budget_evicts_the_oldest_undelivered_and_counts_them(store: SqliteStore) -> None:
    store.write_batch(make_samples(20_000, ("a", "b")))
    retention = StoreRetention(store, RetentionSettings(max_bytes=1), ("mqtt",))
    budget = retention.used_bytes() // 2
    retention = StoreRetention(store, RetentionSettings(max_bytes=budget), ("mqtt",))
    try:
        done = retention.enforce()
        status = retention.status()
    finally:
        retention.stop()
    left = store.count()
    assert done.bytes == 20_000 - left > 0
    assert done.undelivered_bytes == done.bytes  # no uplink delivered anything
    assert int(str(status["used_bytes"])) <= budget
    assert status["evicted_undelivered_bytes"] == status["evicted_undelivered"] == done.bytes
    oldest_rowid = store.read_after(0, 1)[0][0]
    assert oldest_rowid == done.bytes + 1  # exactly the oldest rows went


def test_an_idle_store_aged_out_keeps_its_newest_row_so_uplinks_see_new_samples(
    store: SqliteStore,
) -> None:
    store.write_batch(make_samples(100))
    store.set_cursor("mqtt", store.last_rowid())  # everything delivered
    settings = RetentionSettings(max_age_s=10)
    retention = StoreRetention(store, settings, ("mqtt",), wall_clock=lambda: T0 + 10_000)
    try:
        assert retention.enforce().age == 99  # every sample is too old; the newest row stays
    finally:
        retention.stop()
    store.write_batch(make_samples(5, start=100))
    fresh = store.read_after(store.get_cursor("mqtt"))
    assert [s.seq for _, s in fresh] == [100, 101, 102, 103, 104]  # no rowid was reused


def test_a_stopped_retention_refuses_to_enforce(store: SqliteStore) -> None:
    retention = StoreRetention(store, RetentionSettings(max_age_s=1), ())
    retention.stop()
    with pytest.raises(StoreError, match="stopped"):
        retention.enforce()


def test_a_store_error_is_kept_as_last_error_and_raised(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    retention = StoreRetention(store, RetentionSettings(max_age_s=1), ())
    store.close()
    with pytest.raises(StoreError, match="closed"):
        retention.enforce()
    assert "closed" in str(retention.status()["last_error"])
    retention.stop()


def test_without_uplinks_nothing_counts_as_undelivered(store: SqliteStore) -> None:
    store.write_batch(make_samples(100))
    settings = RetentionSettings(max_age_s=50)
    retention = StoreRetention(store, settings, (), wall_clock=lambda: T0 + 100)
    try:
        done = retention.enforce()
    finally:
        retention.stop()
    assert (done.age, done.undelivered_age) == (50, 0)


def test_the_thread_enforces_periodically_and_stops(store: SqliteStore) -> None:
    store.write_batch(make_samples(100))
    settings = RetentionSettings(max_age_s=10, period_s=0.02)
    retention = StoreRetention(store, settings, ("mqtt",), wall_clock=lambda: T0 + 1000)
    retention.start()
    try:
        assert int(str(retention.status()["used_bytes"])) > 0  # known before the first pass
        assert wait_until(lambda: retention.status()["evicted_age"] == 99)  # newest row stays
        store.write_batch(make_samples(10, start=100))
        assert wait_until(lambda: retention.status()["evicted_undelivered"] == 109)
    finally:
        retention.stop()
        retention.stop()
    assert retention.status()["runs"] >= 2
