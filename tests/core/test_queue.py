"""TelemetryQueue: backpressure, timeouts, exact counters under contention, close semantics."""

from __future__ import annotations

import threading

import pytest

from telemetryhub.core.queue import TelemetryQueue
from telemetryhub.errors import QueueClosedError

WAIT_S = 5.0


def _start(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name="test-helper")  # type: ignore[arg-type]
    thread.start()
    return thread


def test_fifo_and_counters() -> None:
    queue: TelemetryQueue[int] = TelemetryQueue(capacity=3)
    for item in (1, 2, 3):
        queue.push(item)
    assert (queue.size, queue.capacity, queue.high_water) == (3, 3, 3)
    assert queue.pop() == 1
    assert queue.pop_many(10, timeout_s=0) == [2, 3]
    stats = queue.stats()
    assert (stats.pushed, stats.popped, stats.size, stats.high_water) == (3, 3, 0, 3)
    assert (queue.pushed, queue.popped, queue.push_timeouts) == (3, 3, 0)
    assert not stats.closed


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TelemetryQueue[int](capacity=0)
    with pytest.raises(ValueError, match="max_items"):
        TelemetryQueue[int]().pop_many(0)


def test_try_push_and_try_pop_time_out() -> None:
    queue: TelemetryQueue[int] = TelemetryQueue(capacity=1)
    assert queue.try_pop(timeout_s=0.01) is None
    assert queue.pop_many(5, timeout_s=0.01) == []
    assert queue.try_push(1, timeout_s=0.0)
    assert not queue.try_push(2, timeout_s=0.01)
    assert not queue.try_push(2)
    assert queue.push_timeouts == 2
    assert queue.try_pop() == 1


def test_full_queue_blocks_producer_until_consumer_pops() -> None:
    queue: TelemetryQueue[int] = TelemetryQueue(capacity=1)
    queue.push(0)
    entered, pushed = threading.Event(), threading.Event()

    def producer() -> None:
        entered.set()
        queue.push(1)
        pushed.set()

    thread = _start(producer)
    assert entered.wait(WAIT_S)
    assert not pushed.wait(0.05)  # still blocked: the queue is full
    assert thread.is_alive()
    assert queue.pop() == 0
    assert pushed.wait(WAIT_S)
    thread.join(WAIT_S)
    assert queue.pop() == 1


def test_empty_queue_blocks_consumer_until_push() -> None:
    queue: TelemetryQueue[str] = TelemetryQueue()
    got: list[str] = []
    done = threading.Event()

    def consumer() -> None:
        got.extend(queue.pop_many(10))
        done.set()

    thread = _start(consumer)
    assert not done.wait(0.05)
    queue.push("a")
    assert done.wait(WAIT_S)
    thread.join(WAIT_S)
    assert got == ["a"]


def test_close_wakes_blocked_producer_and_consumer() -> None:
    full: TelemetryQueue[int] = TelemetryQueue(capacity=1)
    full.push(0)
    empty: TelemetryQueue[int] = TelemetryQueue()
    errors: list[BaseException] = []

    def blocked(call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except QueueClosedError as exc:
            errors.append(exc)

    threads = [
        _start(blocked, lambda: full.push(1)),
        _start(blocked, empty.pop),
        _start(blocked, lambda: empty.pop_many(3)),
        _start(blocked, lambda: empty.try_pop(timeout_s=60)),
    ]
    full.close()
    empty.close()
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    assert len(errors) == 4
    assert full.closed


def test_closed_queue_drains_then_raises() -> None:
    queue: TelemetryQueue[int] = TelemetryQueue()
    queue.push(1)
    queue.push(2)
    queue.close()
    queue.close()  # idempotent
    with pytest.raises(QueueClosedError):
        queue.push(3)
    with pytest.raises(QueueClosedError):
        queue.try_push(3, timeout_s=1)
    assert queue.try_pop() == 1
    assert queue.pop() == 2
    for call in (queue.pop, queue.try_pop, lambda: queue.pop_many(2, 0)):
        with pytest.raises(QueueClosedError):
            call()


@pytest.mark.parametrize("use_pop_many", [False, True])
def test_counters_exact_under_contention(use_pop_many: bool) -> None:
    producers, per_producer, consumers = 4, 50_000, 3
    queue: TelemetryQueue[int] = TelemetryQueue(capacity=64)
    sums = [0] * consumers
    counts = [0] * consumers

    def produce(base: int) -> None:
        for i in range(per_producer):
            queue.push(base + i)

    def consume(slot: int) -> None:
        try:
            while True:
                items = queue.pop_many(32) if use_pop_many else [queue.pop()]
                sums[slot] += sum(items)
                counts[slot] += len(items)
        except QueueClosedError:
            return

    consumer_threads = [_start(consume, slot) for slot in range(consumers)]
    producer_threads = [_start(produce, p * per_producer) for p in range(producers)]
    for thread in producer_threads:
        thread.join(60)
    queue.close()
    for thread in consumer_threads:
        thread.join(60)
    total = producers * per_producer
    assert sum(counts) == total
    assert sum(sums) == total * (total - 1) // 2
    stats = queue.stats()
    assert (stats.pushed, stats.popped, stats.size) == (total, total, 0)
    assert stats.high_water <= 64


def test_lanes_are_served_in_turn_so_a_busy_device_cannot_bury_a_quiet_one() -> None:
    queue: TelemetryQueue[tuple[str, int]] = TelemetryQueue(1000, key=lambda item: item[0])
    for i in range(300):
        assert queue.try_push(("busy", i))
    queue.push(("quiet", 0))
    first = queue.pop_many(4, timeout_s=0)
    assert first == [("busy", 0), ("quiet", 0), ("busy", 1), ("busy", 2)]


def test_a_lane_may_hold_only_its_share_while_others_still_get_in() -> None:
    queue: TelemetryQueue[tuple[str, int]] = TelemetryQueue(100, key=lambda item: item[0])
    pushed = sum(queue.try_push(("busy", i)) for i in range(200))
    assert pushed == 100  # alone, it may fill the queue
    assert not queue.try_push(("quiet", 0))  # full: nobody gets in...
    queue.pop_many(60, timeout_s=0)
    assert queue.try_push(("quiet", 0))  # ...until there is room; now the share is 100 / 2
    assert sum(queue.try_push(("busy", i)) for i in range(50)) == 10  # busy at 50 of 100
    assert all(queue.try_push(("quiet", i)) for i in range(1, 40))  # quiet still gets in
    assert queue.stats().lanes == 2


def test_a_lane_that_is_not_ready_waits_and_the_others_go_on() -> None:
    queue: TelemetryQueue[tuple[str, int]] = TelemetryQueue(100, key=lambda item: item[0])
    for i in range(3):
        queue.push(("held", i))
        queue.push(("free", i))
    taken = queue.pop_many(10, timeout_s=0, ready=lambda key: key == "free")
    assert taken == [("free", 0), ("free", 1), ("free", 2)]
    assert queue.pop_many(10, timeout_s=0.01, ready=lambda key: key == "free") == []
    assert len(queue.pop_many(10, timeout_s=0)) == 3  # ready again
