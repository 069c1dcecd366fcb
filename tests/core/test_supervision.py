"""No thread of the gateway ends unnoticed: logged with its traceback, counted, and /health red
(or the part restarts itself); and no sample is lost to it without a count."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import QueueClosedError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.store.sqlite import SqliteStore
from tests.integration.support import wait_until

FAST = LoopSettings(port=PortSettings(backoff_max_s=0.05))


def test_a_dead_consumer_turns_health_red_and_its_samples_are_counted(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)
    core = GatewayCore(store, CoreSettings(link=FAST), index=store)
    core.add_source("sim", lambda: board)
    core.open()
    wait_until(lambda: store.count() > 50, 10, "samples stored")
    queue = core.pipeline.queue
    real_pop = queue.pop_many

    def broken(max_items: int, timeout_s: float | None = None) -> list[object]:
        if threading.current_thread().name == "core-consumer":
            raise RuntimeError("injected")
        return real_pop(max_items, timeout_s)  # type: ignore[return-value]

    queue.pop_many = broken  # type: ignore[method-assign]
    wait_until(lambda: core.health() != [], 5, "health turns red")
    assert core.health() == ["thread core-consumer* is not running"]
    assert core.get_metrics()["thread_deaths"] == 1
    death = next(r for r in caplog.records if r.getMessage() == "thread core-consumer died")
    assert death.levelno == logging.ERROR
    assert death.exc_info is not None
    queue.pop_many = real_pop  # type: ignore[method-assign]
    summary = core.close()
    assert summary.received == (
        summary.stored + summary.duplicates + summary.rejected + summary.dropped_total
    )
    assert summary.dropped.get("shutdown", 0) > 0  # what the dead consumer left, counted
    assert summary.dropped_gone == 0  # and the board still holds it


def test_a_bug_while_serving_one_port_resets_that_port_only(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1, seed=4)
    faulty = SimulatedBoard(period_ms=1, seed=5, device_id="sim-0002")
    real_read = faulty.read_available
    raised = threading.Event()

    def read_once_broken() -> bytes:
        if not raised.is_set() and faulty.next_seq > 20:
            raised.set()
            raise ZeroDivisionError("injected")
        return real_read()

    faulty.read_available = read_once_broken  # type: ignore[method-assign]
    core = GatewayCore(store, CoreSettings(link=FAST), index=store)
    core.add_source("sim-1", lambda: board)
    core.add_source("sim-2", lambda: faulty)
    with core:
        wait_until(raised.is_set, 10, "the injected bug")
        wait_until(lambda: core.get_metrics()["link_loop_errors"] == 1, 5, "the bug counted")
        before = faulty.next_seq
        wait_until(lambda: store.count("sim-0002") > before + 20, 10, "sim-2 back")
        assert core.health() == []
    seqs = sorted(s.seq for s in store.query("sim-0002", limit=10**6))
    assert seqs == list(range(len(seqs)))  # the reset lost nothing: the board resent it
    assert core.get_metrics()["thread_deaths"] == 0


def test_close_is_bounded_even_when_the_consumer_is_gone(store: SqliteStore) -> None:
    core = GatewayCore(store, CoreSettings(link=FAST), index=store)
    board = SimulatedBoard(period_ms=1)
    core.add_source("sim", lambda: board)
    core.open()
    wait_until(lambda: store.count() > 10, 10, "samples stored")
    core.pipeline.queue.close()  # the consumer ends; nothing takes batches any more
    wait_until(lambda: not core.pipeline.consumer.is_alive(), 5, "consumer gone")
    started = time.monotonic()
    core.close()
    assert time.monotonic() - started < 10
    assert core.pipeline.queue.closed
    with pytest.raises(QueueClosedError):
        core.pipeline.queue.pop()
