"""GatewayCore on the real firmware in the MicroPython emulator, over a pty, into real SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.base import DeviceSnapshot
from telemetryhub.emulator import BoardEmulator
from telemetryhub.errors import InvalidStateError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.models import DeviceState, Fault, FaultMode
from telemetryhub.store.sqlite import SqliteStore
from telemetryhub.transport.serial_port import SerialTransport
from tests.integration.support import seqs_by_boot, stored_keys, wait_until

pytestmark = pytest.mark.micropython

PERIOD_MS = 5  # asked of the board on every connect and boot (the firmware's default is 100)
UNPLUGGED_S = 1.0  # how long the cable stays out (the outage modelled, not a synchronisation)


@pytest.fixture
def emulator() -> Iterator[BoardEmulator]:
    with BoardEmulator() as board:  # a fresh temp copy of firmware/ as its flash
        yield board


@pytest.fixture
def core(emulator: BoardEmulator, tmp_path: Path) -> Iterator[GatewayCore]:
    store = SqliteStore.in_data_dir(tmp_path)
    link = LoopSettings(port=PortSettings(backoff_max_s=0.2))
    gateway = GatewayCore(store, CoreSettings(period_ms=PERIOD_MS, link=link), index=store)
    gateway.add_source(emulator.port, lambda: SerialTransport(emulator.port, 115200))
    gateway.open()
    try:
        wait_until(lambda: gateway.device_state() == DeviceState.MEASURING, 10, "autostart")
        yield gateway
    finally:
        gateway.close()
        store.close()


def board(core: GatewayCore) -> DeviceSnapshot:
    device = core.device()
    assert device is not None
    return device


def stored(core: GatewayCore) -> int:
    return core.get_metrics()["samples_stored"]


def assert_each_boot_contiguous(data_dir: Path) -> dict[int, list[int]]:
    """Every boot's seqs run 0..max once each; returns them."""
    keys = stored_keys(data_dir)
    assert len(keys) == len(set(keys)), "a key was stored twice"
    by_boot = seqs_by_boot(keys)
    for boot_id, seqs in by_boot.items():
        assert seqs == list(range(len(seqs))), f"boot {boot_id:08x} has a seq gap"
    return by_boot


@pytest.mark.slow
def test_ten_thousand_samples_at_1_ms_are_stored_once_and_contiguous(
    core: GatewayCore, tmp_path: Path
) -> None:
    core.set_period(1)
    wait_until(lambda: stored(core) >= 10_000, 60, "10,000 samples stored")  # ~11 s plain
    summary = core.close()

    (seqs,) = assert_each_boot_contiguous(tmp_path).values()
    assert len(seqs) >= 10_000
    assert summary.stored == len(seqs)
    assert summary.received == summary.stored + summary.duplicates + summary.rejected
    assert summary.dropped_total == summary.lost_total == 0
    assert board(core).link.seq_gaps == 0


@pytest.mark.parametrize(
    "fault",
    [Fault(FaultMode.DETERMINISTIC, count=30), Fault(FaultMode.INTERMITTENT, count=5)],
    ids=["deterministic", "intermittent-5"],
)
def test_a_fault_reaches_safe_state_and_reset_recovers_without_a_seq_gap(
    core: GatewayCore, tmp_path: Path, fault: Fault
) -> None:
    core.set_period(2)
    wait_until(lambda: stored(core) > 20, 10, "samples before the fault")
    core.inject_fault(fault)
    wait_until(lambda: core.device_state() == DeviceState.SAFE_STATE, 10, "SafeState")
    counters = core.loop.read_counters(None)
    assert counters.state == DeviceState.SAFE_STATE
    if fault.mode == FaultMode.INTERMITTENT:
        assert counters.read_failures >= 5  # five failed reads in a row trip it
    with pytest.raises(InvalidStateError):
        core.start()

    core.reset_device()
    assert core.device_state() == DeviceState.IDLE
    core.inject_fault(Fault(FaultMode.NONE))
    core.start()
    before = stored(core)
    wait_until(lambda: stored(core) > before + 50, 10, "samples after the reset")
    core.close()
    (seqs,) = assert_each_boot_contiguous(tmp_path).values()
    assert len(seqs) == stored(core)


@pytest.mark.slow
def test_unplug_and_replug_reconnects_and_stores_every_sample_once(
    emulator: BoardEmulator, core: GatewayCore, tmp_path: Path
) -> None:
    wait_until(lambda: stored(core) > 50, 10, "samples before the unplug")
    emulator.unplug()  # 1 s at 5 ms is 200 samples: well inside the 1024-sample ring
    wait_until(lambda: not board(core).link.connected, 5, "the link notices the unplug")
    time.sleep(UNPLUGGED_S)
    emulator.replug()
    took_s = wait_until(lambda: board(core).link.connected, 2.0, "reconnect within 2 s")
    taken = core.loop.read_counters(None).samples_taken
    wait_until(lambda: stored(core) >= taken + 20, 10, "the board's backlog stored")
    core.close()

    stats = board(core).link
    assert stats.reconnects >= 1
    assert sum(board(core).lost.values()) == 0  # the ring held the outage: nothing lost
    (seqs,) = assert_each_boot_contiguous(tmp_path).values()
    assert len(seqs) == stored(core) >= taken + 20
    print(f"reconnected {took_s:.2f} s after replug")


def test_power_cycle_is_a_new_boot_and_both_boots_are_stored_completely(
    emulator: BoardEmulator, core: GatewayCore, tmp_path: Path
) -> None:
    wait_until(lambda: stored(core) > 50, 10, "samples of the first boot")
    info = board(core).info
    assert info is not None
    first_boot = info.boot_id
    emulator.power_cycle()  # no warning: what the board had not sent yet is gone with its RAM
    wait_until(lambda: board(core).link.reboots == 1, 10, "the new boot_id seen")
    new_info = board(core).info
    assert new_info is not None
    assert new_info.boot_id != first_boot
    wait_until(lambda: core.device_state() == DeviceState.MEASURING, 5, "autostart after boot")
    assert board(core).info is not None
    assert board(core).info.period_ms == PERIOD_MS  # the configured period asked again
    second_start = stored(core)
    wait_until(lambda: stored(core) > second_start + 50, 10, "samples of the second boot")
    core.close()

    by_boot = assert_each_boot_contiguous(tmp_path)
    assert set(by_boot) == {first_boot, new_info.boot_id}
    assert len(by_boot[first_boot]) > 50
    assert len(by_boot[new_info.boot_id]) > 50
