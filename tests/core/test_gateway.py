"""GatewayCore end to end over the simulated board: every sample stored once, faults, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from telemetryhub.core.commands import probability_arg
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.core.status import summary_lines
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import DeviceNotConnectedError, InvalidStateError, StoreError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample
from telemetryhub.protocol import Command, encode_command
from telemetryhub.store.base import SampleStore
from telemetryhub.store.sqlite import SqliteStore


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


FAST_LINK = LoopSettings(port=PortSettings(backoff_max_s=0.1), hole_repair_s=0.1)


def make_core(
    board: SimulatedBoard, store: SampleStore, uplinks: Sequence[object] = (), **settings: object
) -> GatewayCore:
    core = GatewayCore(
        store,
        CoreSettings(link=FAST_LINK, **settings),  # type: ignore[arg-type]
        uplinks,  # type: ignore[arg-type]
        index=store if isinstance(store, SqliteStore) else None,
    )
    core.add_source("sim", lambda: board)
    return core


def connected(core: GatewayCore) -> bool:
    device = core.device()
    return device is not None and device.connected


def stored_seqs(store: SqliteStore) -> list[int]:
    return sorted(s.seq for s in store.query(limit=store.count()))


def test_ten_thousand_samples_are_stored_once_and_contiguous(store: SqliteStore) -> None:
    board = SimulatedBoard(fast=True, samples_per_read=256)
    core = make_core(board, store)
    core.open()
    wait_until(lambda: core.get_metrics()["samples_stored"] >= 10_000, timeout_s=60)
    summary = core.close()

    seqs = stored_seqs(store)
    assert len(seqs) >= 10_000
    assert seqs == list(range(len(seqs)))
    assert summary.stored == len(seqs)
    assert summary.received == summary.stored + summary.duplicates + summary.rejected
    assert summary.dropped_total == summary.lost_total == 0
    assert board.state == DeviceState.IDLE  # shutdown told the device to stop
    assert "stored" in "\n".join(summary_lines(summary))


def test_clean_shutdown_drains_the_queue_and_the_pool(store: SqliteStore) -> None:
    """A slow store backs the queue up; close() still stores every received sample."""
    gate = threading.Event()

    class SlowStore:
        def write_batch(self, samples: Sequence[Sample]) -> int:
            gate.wait(5)
            return store.write_batch(samples)

    board = SimulatedBoard(fast=True, samples_per_read=64)
    core = make_core(board, SlowStore(), queue_capacity=4, max_batches_in_pool=2)
    core.open()
    wait_until(lambda: core.queue.size == core.queue.capacity)  # backpressure reached
    assert core.get_metrics()["queue_high_water"] == 4
    gate.set()
    summary = core.close()
    assert summary.received == store.count() == summary.stored
    assert stored_seqs(store) == list(range(store.count()))


def test_deterministic_fault_reaches_safe_state_and_reset_recovers(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    with make_core(board, store) as core:
        wait_until(lambda: core.device_state() == DeviceState.MEASURING)
        core.inject_fault(Fault(FaultMode.DETERMINISTIC, count=20))
        wait_until(lambda: core.device_state() == DeviceState.SAFE_STATE)
        assert core.status()["state"] == "SafeState"
        with pytest.raises(InvalidStateError):
            core.start()
        core.reset_device()
        assert core.device_state() == DeviceState.IDLE
        core.inject_fault(Fault(FaultMode.NONE))
        core.start()
        before = core.get_metrics()["samples_stored"]
        wait_until(lambda: core.get_metrics()["samples_stored"] > before + 10)
    assert stored_seqs(store) == list(range(store.count()))


def test_random_faults_lose_no_sequence_number(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1, seed=3)
    with make_core(board, store) as core:
        wait_until(lambda: core.device_state() == DeviceState.MEASURING)
        core.inject_fault(Fault(FaultMode.RANDOM, probability=0.3))
        wait_until(lambda: core.get_metrics()["samples_stored"] > 200)
        counters = core.loop.read_counters(None)
        assert counters.fault_mode == FaultMode.RANDOM
        assert counters.read_failures > 30  # the fault fired (about 3 in 10 reads)...
    assert stored_seqs(store) == list(range(store.count()))  # ...and cost no seq


def test_stop_and_start_keep_counting_and_stop_flushes(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    with make_core(board, store, autostart=False) as core:
        wait_until(lambda: connected(core))
        assert core.device_state() == DeviceState.IDLE
        core.start()
        wait_until(lambda: core.get_metrics()["samples_stored"] > 50)
        core.stop()
        stored = store.count()
        assert stored == core.get_metrics()["samples_stored"]
        core.start()
        wait_until(lambda: store.count() > stored + 50)
        core.set_period(2)
    assert stored_seqs(store) == list(range(store.count()))


def test_unplug_and_replug_store_every_sample_exactly_once(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    with make_core(board, store) as core:
        wait_until(lambda: core.get_metrics()["samples_stored"] > 100)
        board.unplug()
        wait_until(lambda: not connected(core))
        with pytest.raises(DeviceNotConnectedError):
            core.start()
        board.replug()
        wait_until(lambda: connected(core), timeout_s=2.0)
        taken = board.next_seq
        wait_until(lambda: store.count() > taken + 100)
        device = core.device()
        assert device is not None
        assert device.link.reconnects >= 1
    assert stored_seqs(store) == list(range(store.count()))


def test_a_failing_store_is_retried_and_loses_nothing(store: SqliteStore) -> None:
    failures = {"left": 3}

    class FlakyStore:
        def write_batch(self, samples: Sequence[Sample]) -> int:
            if failures["left"]:
                failures["left"] -= 1
                raise StoreError("disk full")
            return store.write_batch(samples)

    board = SimulatedBoard(period_ms=1)
    core = make_core(board, FlakyStore())
    with core:
        wait_until(lambda: store.count() > 100)
        assert core.get_metrics()["store_retries"] == 3
    assert core.get_metrics()["samples_dropped"] == 0
    assert stored_seqs(store) == list(range(store.count()))


def test_a_store_failing_at_shutdown_is_counted_as_dropped(store: SqliteStore) -> None:
    class BrokenStore:
        def write_batch(self, samples: Sequence[Sample]) -> int:
            raise StoreError("disk gone")

    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)
    core = make_core(board, BrokenStore())
    core.open()
    wait_until(lambda: core.get_metrics()["store_retries"] > 0)
    summary = core.close()
    assert summary.stored == 0
    assert summary.dropped == {"shutdown": summary.received}
    assert summary.received > 0
    assert summary.dropped_gone == 0  # the board still holds them all: nothing is lost
    assert "still on the board" in "\n".join(summary_lines(summary))


def test_status_document_has_the_seed_shape(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    with make_core(board, store) as core:
        wait_until(lambda: core.latest_sample() is not None)
        status = core.status()
        assert status["state"] == "Measuring"
        latest = status["latest_sample"]
        assert isinstance(latest, dict)
        assert {"seq", "value", "unit", "ts"} <= latest.keys()
        metrics = status["metrics"]
        assert isinstance(metrics, dict)
        for key in (
            "samples_processed",
            "samples_dropped",
            "pool_jobs_processed",
            "pool_jobs_queued",
            "pool_num_threads",
            "queue_depth",
            "queue_capacity",
        ):
            assert key in metrics
        assert status["device"] is not None
        (aggregate,) = status["aggregates"]  # type: ignore[misc]
        assert aggregate["device_id"] == "sim-0001"
        assert aggregate["min"] <= aggregate["mean"] <= aggregate["max"]
        assert aggregate["count"] > 0
        assert core.recent_samples(60)
        assert core.data_age_s() is not None
    assert core.close() is core.close()  # idempotent


class RecordingUplink:
    """An uplink that records what the core tells it."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[str] = []
        self.states: list[tuple[str, str]] = []

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> None:
        self.events.append("stop")

    def status(self) -> dict[str, object]:
        return {"states": len(self.states)}

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        self.states.append((device_id, state))


def test_uplinks_start_stop_with_the_core_and_hear_device_states(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    uplink = RecordingUplink()
    core = make_core(board, store, [uplink])
    with core:
        wait_until(lambda: ("sim-0001", "Measuring") in uplink.states)
        core.inject_fault(Fault(FaultMode.DETERMINISTIC, count=5))
        wait_until(lambda: ("sim-0001", "SafeState") in uplink.states)
        assert core.status()["uplinks"] == {"recorder": {"states": len(uplink.states)}}
        replacement = RecordingUplink()
        core.replace_uplinks([replacement])
        assert replacement.events == ["start"]
    assert uplink.events == ["start", "stop"]
    assert replacement.events == ["start", "stop"]


def test_stop_returns_only_after_every_sample_read_is_stored(store: SqliteStore) -> None:
    board = SimulatedBoard(period_ms=1)
    with make_core(board, store) as core:
        wait_until(lambda: store.count() > 100)
        core.stop()
        metrics = core.get_metrics()
        assert metrics["samples_in_flight"] == 0
        assert store.count() == metrics["samples_received"] == board.next_seq


def test_nothing_is_acked_before_its_commit(store: SqliteStore) -> None:
    """A failing store: the board keeps every sample the host could not store."""

    class BrokenStore:
        def write_batch(self, samples: Sequence[Sample]) -> int:
            raise StoreError("disk full")

    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)
    with make_core(board, BrokenStore()) as core:
        wait_until(lambda: core.get_metrics()["samples_received"] > 200)
        core.stop()  # also waits: the stored count cannot move
        counters = core.loop.read_counters(None)
        assert counters.ring_used == counters.samples_taken > 200


def test_acks_free_exactly_what_was_stored(store: SqliteStore) -> None:
    """With the store stalled, what the board freed is exactly what the host committed."""
    gate = threading.Event()
    gate.set()

    class GatedStore:
        def write_batch(self, samples: Sequence[Sample]) -> int:
            gate.wait(10)
            return store.write_batch(samples)

    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)
    with make_core(board, GatedStore()) as core:
        wait_until(lambda: store.count() > 100)
        gate.clear()  # from now on nothing more is committed (one batch may be in flight)
        wait_until(lambda: core.get_metrics()["samples_received"] > store.count() + 100)
        stored = store.count()
        ack_point = core.device().ack_point  # type: ignore[union-attr]
        counters = core.loop.read_counters(None)
        freed = counters.samples_taken - counters.ring_used
        assert ack_point == stored - 1
        assert freed == stored  # an ack of seq + 1 would free one sample too many
        gate.set()


def test_a_hole_is_resent_and_the_stored_resends_are_counted_duplicates(
    store: SqliteStore,
) -> None:
    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)  # the hole stays in its ring
    with make_core(board, store) as core:
        wait_until(lambda: store.count() > 300)
        board.lose_frames(2)  # 32 samples lost on the wire, while acks are on
        hole_at = board.next_seq
        wait_until(lambda: core.device().link.rewinds >= 1)  # type: ignore[union-attr]
        wait_until(lambda: core.device().ack_point > hole_at + 100)  # type: ignore[union-attr]
    summary = core.close()
    seqs = stored_seqs(store)
    assert seqs == list(range(len(seqs)))  # the hole was filled
    assert summary.duplicates > 0  # the resend carried stored samples: refused, counted
    assert summary.received == summary.stored + summary.duplicates
    assert summary.lost_total == 0


@pytest.mark.parametrize("probability", [0.0, 1.0, 0.25, 0.1, 1e-7, 1 / 3, 0.9999999, 0.5e-6])
def test_any_probability_is_sent_in_the_form_the_board_accepts(probability: float) -> None:
    arg = probability_arg(probability)
    encode_command(Command(1, "fault", ("random", arg)))  # the wire grammar's check
    assert abs(float(arg) - probability) <= 5e-7
