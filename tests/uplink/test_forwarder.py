"""The Forwarder loop on a real SqliteStore with a scripted in-process sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from telemetryhub.errors import UplinkError
from telemetryhub.models import Sample
from telemetryhub.store import SqliteStore
from telemetryhub.uplink.base import BACKING_OFF, CONNECTED, STOPPED, Forwarder
from telemetryhub.uplink.settings import ForwarderSettings
from tests.uplink.support import make_samples, wait_until

FAST = ForwarderSettings(
    batch_size=100,
    rate_limit_sps=0,
    poll_interval_s=0.01,
    backoff_base_s=0.01,
    backoff_max_s=0.05,
    stop_timeout_s=2.0,
)


class ScriptedSink:
    """Accepts batches unless `failing` is set; records what it took."""

    kind = "fake"

    def __init__(self) -> None:
        self.received: list[Sample] = []
        self.failing = threading.Event()
        self.attempts = 0
        self.changed = threading.Condition()
        self.closed = False

    def open(self) -> None:
        pass

    def deliver(self, samples: Sequence[Sample]) -> None:
        with self.changed:
            self.attempts += 1
            self.changed.notify_all()
            if self.failing.is_set():
                raise UplinkError("scripted failure")
            self.received.extend(samples)
            self.changed.notify_all()

    def state(self) -> str:
        return CONNECTED

    def hold_off_s(self) -> float:
        return 0.0

    def close(self) -> None:
        self.closed = True

    def status(self) -> dict[str, object]:
        return {"fake": True}

    def wait_received(self, n: int, timeout_s: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= n, timeout_s)

    def wait_attempts(self, n: int, timeout_s: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.attempts >= n, timeout_s)


def test_delivers_in_order_and_persists_the_cursor(store: SqliteStore) -> None:
    samples = make_samples(350, devices=("a", "b"))
    store.write_batch(samples)
    sink = ScriptedSink()
    uplink = Forwarder("fake", store, sink, FAST)
    uplink.start()
    try:
        assert sink.wait_received(350)
        assert sink.received == samples
        assert wait_until(lambda: uplink.status()["backlog"] == 0)
    finally:
        uplink.stop()
    assert store.get_cursor("fake") == store.last_rowid()
    assert sink.closed
    assert uplink.status()["state"] == STOPPED
    assert uplink.status()["delivered"] == 350


def test_restart_resumes_after_the_cursor(store: SqliteStore) -> None:
    store.write_batch(make_samples(100))
    first = Forwarder("fake", store, ScriptedSink(), FAST)
    first.start()
    first.stop()
    store.write_batch(make_samples(50, start=100))
    sink = ScriptedSink()
    second = Forwarder("fake", store, sink, FAST)
    second.start()
    try:
        assert sink.wait_received(50)
    finally:
        second.stop()
    assert [s.seq for s in sink.received] == list(range(100, 150))


def test_failures_keep_the_cursor_and_back_off_then_recover(store: SqliteStore) -> None:
    store.write_batch(make_samples(120))
    sink = ScriptedSink()
    sink.failing.set()
    uplink = Forwarder("fake", store, sink, FAST)
    uplink.start()
    try:
        assert sink.wait_attempts(3)
        status = uplink.status()
        assert status["cursor"] == 0
        assert status["backlog"] == 120
        assert status["state"] == BACKING_OFF
        assert status["last_error"] == "scripted failure"
        assert int(str(status["failures"])) >= 3
        sink.failing.clear()
        assert sink.wait_received(120)
    finally:
        uplink.stop()
    assert store.get_cursor("fake") == 120
    assert [s.seq for s in sink.received] == list(range(120))


def test_stop_drains_without_the_rate_limit_within_its_budget(store: SqliteStore) -> None:
    store.write_batch(make_samples(1000))
    sink = ScriptedSink()
    slow = ForwarderSettings(batch_size=100, rate_limit_sps=10, burst_samples=100)
    uplink = Forwarder("fake", store, sink, slow)
    uplink.start()
    assert sink.wait_received(100)
    uplink.stop()  # the bucket would need 90 s; the final drain ignores it
    assert len(sink.received) == 1000
    assert store.get_cursor("fake") == 1000


def test_stop_with_a_dead_sink_returns_promptly_and_loses_nothing(store: SqliteStore) -> None:
    store.write_batch(make_samples(10))
    sink = ScriptedSink()
    sink.failing.set()
    uplink = Forwarder("fake", store, sink, FAST)
    uplink.start()
    assert sink.wait_attempts(1)
    started = time.monotonic()
    uplink.stop()
    uplink.stop()  # idempotent
    assert time.monotonic() - started < 2.0
    assert store.get_cursor("fake") == 0  # all ten wait in the store for the next run


def test_thread_is_named_and_not_daemon(store: SqliteStore) -> None:
    uplink = Forwarder("named", store, ScriptedSink(), FAST)
    uplink.start()
    try:
        threads = [t for t in threading.enumerate() if t.name == "uplink-named"]
        assert len(threads) == 1
        assert not threads[0].daemon
    finally:
        uplink.stop()
    assert not threads[0].is_alive()
