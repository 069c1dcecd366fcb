"""GatewayCore with several boards: one pipeline, one store, each board its own state, commands,
counts and data; a flooding board does not hold a quiet one back."""

from __future__ import annotations

import time

import pytest

from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import InvalidStateError, UnknownDeviceError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.models import DeviceState, Fault, FaultMode
from telemetryhub.store.sqlite import SqliteStore
from tests.integration.support import wait_until

FAST = LoopSettings(port=PortSettings(backoff_max_s=0.05))


def fleet(store: SqliteStore, *boards: SimulatedBoard, **settings: object) -> GatewayCore:
    core = GatewayCore(store, CoreSettings(link=FAST, **settings), index=store)  # type: ignore[arg-type]
    for board in boards:
        core.add_source(board.name, lambda board=board: board)
    return core


def boards(n: int, period_ms: int = 2) -> list[SimulatedBoard]:
    return [SimulatedBoard(device_id=f"dev-{i}", period_ms=period_ms, seed=i) for i in range(n)]


def seqs(store: SqliteStore, device_id: str) -> list[int]:
    return sorted(s.seq for s in store.query(device_id, limit=10**6))


def test_each_board_has_its_own_commands_state_and_counts(store: SqliteStore) -> None:
    a, b, c = boards(3)
    with fleet(store, a, b, c) as core:
        wait_until(lambda: all(store.count(f"dev-{i}") > 50 for i in range(3)), 10, "all store")
        assert core.stop("dev-0") == {"dev-0": "ok"}
        core.inject_fault(Fault(FaultMode.DETERMINISTIC, count=3), device_id="dev-1")
        wait_until(lambda: core.device("dev-1").state == DeviceState.SAFE_STATE, 5, "dev-1 safe")  # type: ignore[union-attr]
        before = store.count("dev-2")
        wait_until(lambda: store.count("dev-2") > before + 50, 5, "dev-2 goes on")
        states = {d.device_id: d.state for d in core.devices()}
        assert states == {
            "dev-0": DeviceState.IDLE,
            "dev-1": DeviceState.SAFE_STATE,
            "dev-2": DeviceState.MEASURING,
        }
        assert core.status()["state"] == "SafeState"  # the fleet shows its worst
        with pytest.raises(UnknownDeviceError):
            core.start("no-such-board")
        with pytest.raises(InvalidStateError):
            core.start("dev-1")  # SafeState refuses start
        outcomes = core.reset_device()  # every connected board
        assert outcomes == {"dev-0": "ok", "dev-1": "ok", "dev-2": "ok"}
        document = core.device_status("dev-2")
        metrics = document["metrics"]
        assert isinstance(metrics, dict)
        assert metrics["samples_received"] == (
            metrics["samples_stored"]
            + metrics["samples_duplicate"]
            + metrics["samples_rejected"]
            + metrics["samples_dropped"]
            + metrics["samples_in_flight"]
        )
        summaries = core.status()["devices"]
        assert [s["device_id"] for s in summaries] == ["dev-0", "dev-1", "dev-2"]  # type: ignore[index,union-attr]
    for i in range(3):
        got = seqs(store, f"dev-{i}")
        assert got == list(range(len(got)))


def test_start_on_every_board_says_each_ones_outcome(store: SqliteStore) -> None:
    a, b = boards(2)
    with fleet(store, a, b, autostart=False) as core:
        wait_until(lambda: len([d for d in core.devices() if d.connected]) == 2, 5, "both up")
        core.start("dev-0")
        outcomes = core.start()  # dev-0 is measuring already: refused; dev-1 starts
        assert outcomes["dev-1"] == "ok"
        assert "code 4" in outcomes["dev-0"]  # INVALID_STATE, in the board's words
        with pytest.raises(InvalidStateError):
            core.start()  # every board refused: the error itself


def test_a_board_at_1_ms_does_not_hold_back_boards_at_100_ms(store: SqliteStore) -> None:
    """Issue 9: the slow boards' arrival -> commit p99 stays <= 50 ms (120 observations)."""
    fast = SimulatedBoard(device_id="fast", period_ms=1, seed=1)
    slow = [SimulatedBoard(device_id=f"slow-{i}", period_ms=100, seed=10 + i) for i in range(4)]
    with fleet(store, fast, *slow) as core:
        wait_until(lambda: all(store.count(b.name[6:]) >= 30 for b in slow), 15, "slow samples")
        latencies = [core.views.latency(f"slow-{i}") for i in range(4)]
    counts = [0] * 13
    for snapshot in latencies:
        assert snapshot is not None
        counts = [a + b for a, b in zip(counts, snapshot.counts, strict=True)]
    bounds = (*latencies[0].bounds_s, float("inf"))  # type: ignore[union-attr]
    within = sum(n for bound, n in zip(bounds, counts, strict=True) if bound <= 0.05)
    assert within / sum(counts) >= 0.99, dict(zip(bounds, counts, strict=True))
    assert store.count("fast") > 1000
    for board in slow:
        got = seqs(store, board.name[6:])
        assert got == list(range(len(got)))


def test_boards_seen_before_a_restart_are_listed_offline_with_when_they_were_seen(
    store: SqliteStore,
) -> None:
    a, b = boards(2)
    with fleet(store, a, b) as core:
        wait_until(lambda: all(store.count(f"dev-{i}") > 10 for i in range(2)), 10, "both store")
    with fleet(store, a) as core:  # dev-1 is not plugged in this time
        wait_until(lambda: core.device("dev-0") is not None, 5, "dev-0 up")
        devices = {d.device_id: d for d in core.devices()}
        assert set(devices) == {"dev-0", "dev-1"}
        offline = devices["dev-1"]
        assert not offline.connected
        assert offline.last_seen is not None
        assert 0 < time.time() - offline.last_seen < 60
        (summary,) = [s for s in core.status()["devices"] if s["device_id"] == "dev-1"]  # type: ignore[union-attr]
        assert summary["connected"] is False
        assert summary["last_seen"] == offline.last_seen
    (known,) = [k for k in store.known_devices() if k.device_id == "dev-0"]
    assert known.firmware == "sim-1.1"
    assert known.port == "sim://dev-0"
