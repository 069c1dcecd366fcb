"""BoardLink over the simulated board: handshake, streaming, commands, faults, reconnect."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from telemetryhub.device.base import LinkChange, SampleBatch, StateChange
from telemetryhub.device.link import BoardLink
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    DeviceNotConnectedError,
    IncompatibleProtocolError,
    InvalidStateError,
    ProtocolError,
    TransportError,
)
from telemetryhub.models import DeviceState
from telemetryhub.transport.base import Transport

from .conftest import Poller, wait_until

StartPoller = Callable[..., Poller]


def fast_board(**kwargs: object) -> SimulatedBoard:
    return SimulatedBoard(fast=True, seed=11, **kwargs)  # type: ignore[arg-type]


def make_link(board: Transport) -> BoardLink:
    return BoardLink(lambda: board, name="sim")


def test_handshake_reports_the_board(start_poller: StartPoller) -> None:
    board = fast_board(unit="hPa")
    link = make_link(board)
    poller = start_poller(link)
    poller.wait_connected()
    change = poller.link_changes()[0]
    assert change.connected
    assert "sim-0001 on sim://sim-0001" in change.detail
    info = link.info
    assert info is not None
    assert (info.boot_id, info.unit, info.state) == (board.boot_id, "hPa", DeviceState.IDLE)
    assert link.clock.synced
    stats = link.stats()
    assert (stats.connected, stats.port, stats.reconnects) == (True, "sim://sim-0001", 0)


def test_ten_thousand_samples_arrive_contiguous_and_acked(start_poller: StartPoller) -> None:
    board = fast_board()
    link = make_link(board)
    poller = start_poller(link)
    poller.wait_connected()
    assert link.command("start").text == "measuring"
    assert link.state == DeviceState.MEASURING
    wait_until(lambda: poller.count_stored() >= 10_000, timeout_s=10)
    link.command("stop")
    wait_until(lambda: link.read_counters().ring_used == 0)  # all stored and acked
    samples = sorted(poller.stored.values(), key=lambda s: s.seq)
    assert [s.seq for s in samples] == list(range(len(samples)))
    first = samples[0]
    assert (first.device_id, first.boot_id, first.unit) == ("sim-0001", board.boot_id, "arb.units")
    assert 41 < first.value < 43
    assert abs(first.ts - time.time()) < 5
    stats = link.stats()
    assert (stats.seq_gaps, stats.samples_missed, stats.frame_gaps, stats.crc_errors) == (0,) * 4
    counters = link.read_counters()
    assert counters.state == DeviceState.IDLE
    assert counters.samples_taken == len(samples)


def test_commands_raise_the_documented_errors(start_poller: StartPoller) -> None:
    link = make_link(fast_board())
    with pytest.raises(DeviceNotConnectedError):
        link.command("ping")
    poller = start_poller(link)
    poller.wait_connected()
    assert link.command("ping").text == "pong"
    with pytest.raises(InvalidStateError) as invalid:
        link.command("stop")
    assert invalid.value.code == 4
    with pytest.raises(ProtocolError, match="period_ms"):  # refused before it is sent
        link.command("set", "period_ms", "0")
    with pytest.raises(CommandRejectedError) as rejected:  # only the board knows its newest seq
        link.command("ack", "1000000")
    assert rejected.value.code == 3
    link.command("set", "period_ms", "20")
    assert link.info is not None
    assert link.info.period_ms == 20


def test_a_command_times_out_when_nobody_polls() -> None:
    link = make_link(fast_board())
    link.open()
    deadline = time.monotonic() + 3
    while not link.stats().connected and time.monotonic() < deadline:
        link.poll(0.01)
    with pytest.raises(CommandTimeoutError, match="polled"):
        link.command("ping", timeout_s=0.05)
    link.close()
    link.close()
    with pytest.raises(DeviceNotConnectedError):
        link.command("ping")
    assert link.poll(0.001) == []


def test_safe_state_by_deterministic_fault_and_reset_recovers(start_poller: StartPoller) -> None:
    link = make_link(fast_board())
    poller = start_poller(link)
    poller.wait_connected()
    link.command("fault", "deterministic", "40")
    link.command("start")
    wait_until(lambda: link.state == DeviceState.SAFE_STATE)
    changes = [e for e in poller.snapshot() if isinstance(e, StateChange)]
    assert changes[-1] == StateChange(DeviceState.SAFE_STATE, "fault", "deterministic fault")
    assert poller.count_stored() == 40
    with pytest.raises(InvalidStateError):
        link.command("start")
    link.command("reset")
    assert link.state == DeviceState.IDLE
    link.command("fault", "none")
    link.command("start")
    wait_until(lambda: poller.count_stored() > 100)


def test_unplug_reconnects_within_two_seconds_and_resends_without_gaps(
    start_poller: StartPoller,
) -> None:
    board = fast_board(ring_capacity=60_000, samples_per_read=64)  # no overflow: no acks here
    link = make_link(board)
    poller = start_poller(link, ack=False)
    poller.wait_connected()
    link.command("start")
    wait_until(lambda: poller.count_stored() >= 500)
    board.lose_frames(3)  # frames lost on the wire: a gap the resend must fill
    wait_until(lambda: link.stats().seq_gaps >= 1)
    board.unplug()
    wait_until(lambda: any(not c.connected for c in poller.link_changes()))
    down = next(c for c in poller.link_changes() if not c.connected)
    assert "unplugged" in down.detail
    with pytest.raises(DeviceNotConnectedError):
        link.command("ping")
    time.sleep(0.3)  # let the backoff grow while the port is gone
    replugged_at = time.monotonic()
    board.replug()
    poller.wait_connected(count=2, timeout_s=2.0)
    assert time.monotonic() - replugged_at < 2.0
    before = poller.count_stored()
    wait_until(lambda: poller.count_stored() >= before + 500)
    link.command("stop")
    highest = max(seq for _, seq in poller.stored)
    assert poller.highest_contiguous(board.boot_id) == highest  # no hole after dedup
    stats = link.stats()
    assert stats.reconnects == 1
    assert stats.duplicates_received > 0
    assert stats.samples_missed == 0  # the gap was filled by the resend
    assert any(isinstance(e, SampleBatch) and e.resend for e in poller.snapshot())


def test_reboot_is_detected_and_seq_restarts(start_poller: StartPoller) -> None:
    board = fast_board()
    link = make_link(board)
    poller = start_poller(link)
    poller.wait_connected()
    link.command("start")
    wait_until(lambda: poller.count_stored() >= 300)
    old_boot = board.boot_id
    board.power_cycle()  # in place: HELLO arrives unsolicited
    wait_until(lambda: link.stats().reboots == 1)
    wait_until(lambda: link.info is not None and link.info.boot_id == board.boot_id)
    assert link.state == DeviceState.IDLE
    link.command("start")
    wait_until(lambda: poller.count_stored(board.boot_id) >= 100)
    assert poller.highest_contiguous(board.boot_id) >= 99
    assert board.boot_id != old_boot
    board.unplug()  # and once more across a lost port
    board.power_cycle()
    board.replug()
    poller.wait_connected(count=2)
    assert link.stats().reboots == 2
    assert link.stats().seq_gaps == 0


def test_acks_for_another_boot_are_ignored(start_poller: StartPoller) -> None:
    board = fast_board(ring_capacity=4096)
    link = make_link(board)
    poller = start_poller(link, ack=False)
    poller.wait_connected()
    link.command("start")
    wait_until(lambda: poller.count_stored() >= 200)
    link.command("stop")
    held = link.read_counters().ring_used
    link.ack(board.boot_id ^ 1, 150)
    assert link.read_counters().ring_used == held
    link.ack(board.boot_id, 150 + (1 << 30))  # an extended seq is masked to 30 bits
    wait_until(lambda: link.read_counters().ring_used == held - 151)


def test_an_incompatible_major_is_refused_and_retried(start_poller: StartPoller) -> None:
    board = fast_board(proto_major=2)
    opened: list[int] = []

    def factory() -> Transport:
        opened.append(1)
        return board

    link = BoardLink(factory, name="sim", incompatible_retry_s=0.05)
    poller = start_poller(link)
    wait_until(lambda: len(opened) >= 2)
    changes = poller.link_changes()
    assert changes == [changes[0]]  # reported once, not once per retry
    assert not changes[0].connected
    assert "speaks protocol 2.1" in changes[0].detail
    assert isinstance(link.last_error, IncompatibleProtocolError)
    assert not link.stats().connected


class GarbageTransport:
    """Wraps a transport and puts REPL noise and line garbage in front of its first reads."""

    def __init__(self, inner: SimulatedBoard) -> None:
        self.inner = inner
        self.noise = [b"Traceback (most recent call last):\r\n\x00", b"\x00\x07\xff\x13\x91\x00"]
        self.name = inner.name

    def open(self) -> None:
        self.inner.open()

    def read(self, timeout_s: float) -> bytes:
        data = self.inner.read(timeout_s)
        return self.noise.pop(0) + data if self.noise else data

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def test_garbage_in_the_stream_is_counted_and_skipped(start_poller: StartPoller) -> None:
    link = make_link(GarbageTransport(fast_board()))
    poller = start_poller(link)
    poller.wait_connected()
    link.command("start")
    wait_until(lambda: poller.count_stored() >= 100)
    stats = link.stats()
    assert stats.console_lines == 1
    assert stats.framing_errors + stats.crc_errors == 1
    assert stats.bytes_received > 0


class SilentTransport:
    """A port where nothing answers (a board without the firmware)."""

    name = "silent"

    def open(self) -> None:
        pass

    def read(self, timeout_s: float) -> bytes:
        time.sleep(min(timeout_s, 0.01))
        return b""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def test_no_hello_within_the_handshake_timeout_drops_the_link(start_poller: StartPoller) -> None:
    link = BoardLink(SilentTransport, name="silent", handshake_timeout_s=0.05)
    poller = start_poller(link)
    wait_until(lambda: len(poller.link_changes()) >= 1)
    assert "no HELLO from silent" in poller.link_changes()[0].detail


def test_a_missing_port_is_reported_once_while_retrying(start_poller: StartPoller) -> None:
    attempts: list[int] = []

    def factory() -> Transport:
        attempts.append(1)
        raise TransportError("no such port /dev/ttyACM9")

    poller = start_poller(BoardLink(factory, name="/dev/ttyACM9", backoff_max_s=0.02))
    wait_until(lambda: len(attempts) >= 4)
    assert poller.link_changes() == [
        LinkChange(False, "cannot open /dev/ttyACM9: no such port /dev/ttyACM9")
    ]


def test_tick_wrap_keeps_board_time_and_utc_increasing(start_poller: StartPoller) -> None:
    board = SimulatedBoard(period_ms=2, tick_origin_ms=(1 << 30) - 150)
    link = make_link(board)
    poller = start_poller(link)
    poller.wait_connected()
    link.command("start")
    wait_until(lambda: poller.count_stored() >= 120, timeout_s=5)
    link.command("stop")
    wait_until(lambda: link.read_counters().ring_used == 0)  # all stored and acked
    samples = sorted(poller.stored.values(), key=lambda s: s.seq)
    assert samples[-1].board_ms > 1 << 30
    assert all(a.board_ms < b.board_ms for a, b in itertools.pairwise(samples))
    assert all(a.ts < b.ts for a, b in itertools.pairwise(samples))
    assert abs(samples[-1].ts - time.time()) < 2
