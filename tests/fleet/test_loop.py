"""The link loop over simulated boards: handshake, streaming, commands, faults, reconnect."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from telemetryhub.device.base import LinkChange, StateChange
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    DeviceNotConnectedError,
    InvalidStateError,
    ProtocolError,
    TransportError,
)
from telemetryhub.fleet.port import PortSettings
from telemetryhub.models import DeviceState
from telemetryhub.transport.base import Transport

from .conftest import MakeHarness


def fast_board(**kwargs: object) -> SimulatedBoard:
    return SimulatedBoard(fast=True, seed=11, **kwargs)  # type: ignore[arg-type]


def test_handshake_reports_the_board(make_harness: MakeHarness) -> None:
    board = fast_board(unit="hPa")
    h = make_harness(lambda: board)
    h.wait_connected()
    change = h.intake.link_changes()[0]
    assert change.connected
    assert change.device_id == "sim-0001"
    assert "sim-0001 on sim://sim-0001" in change.detail
    device = h.device()
    assert device.info is not None
    assert (device.info.boot_id, device.info.unit, device.state) == (
        board.boot_id,
        "hPa",
        DeviceState.IDLE,
    )
    assert (device.link.connected, device.link.port, device.link.reconnects) == (
        True,
        "sim://sim-0001",
        0,
    )


def test_ten_thousand_samples_arrive_contiguous_and_acked(make_harness: MakeHarness) -> None:
    board = fast_board()
    h = make_harness(lambda: board)
    h.wait_connected()
    assert h.loop.command("sim-0001", "start").result.text == "measuring"
    h.wait(lambda: h.intake.count() >= 10_000, timeout_s=10)
    h.loop.command(None, "stop")
    h.wait(lambda: h.loop.read_counters(None).ring_used == 0)  # all stored and acked
    seqs = h.intake.seqs(board.boot_id)
    assert seqs == list(range(len(seqs)))
    sample = h.intake.stored[("sim-0001", board.boot_id, 0)]
    assert (sample.unit, abs(sample.ts - time.time()) < 5) == ("arb.units", True)
    device = h.device()
    assert (device.link.seq_gaps, device.link.frame_gaps, device.link.crc_errors) == (0, 0, 0)
    assert device.lost == {"board_overflow": 0, "downtime": 0, "reboot": 0}
    assert device.ack_point == len(seqs) - 1
    assert h.loop.read_counters(None).samples_taken == len(seqs)


def test_commands_raise_the_documented_errors(make_harness: MakeHarness) -> None:
    h = make_harness(lambda: fast_board())
    h.wait_connected()
    assert h.loop.command(None, "ping").result.text == "pong"
    with pytest.raises(InvalidStateError) as invalid:
        h.loop.command(None, "stop")
    assert invalid.value.code == 4
    with pytest.raises(ProtocolError, match="period_ms"):
        h.loop.command(None, "set", "period_ms", "0")  # refused before it is sent
    with pytest.raises(CommandRejectedError) as rejected:
        h.loop.command(None, "ack", "5")  # ahead of the newest sample: the board refuses
    assert rejected.value.code == 3
    h.loop.command(None, "set", "period_ms", "20")
    info = h.device().info
    assert info is not None
    assert info.period_ms == 20
    with pytest.raises(DeviceNotConnectedError):
        h.loop.command("no-such-board", "ping")


class MuteAfterHandshake:
    """A board that stops answering once connected: commands time out."""

    def __init__(self) -> None:
        self.board = fast_board()
        self.name = self.board.name
        self.mute = False

    def open(self) -> None:
        self.board.open()

    def fileno(self) -> int | None:
        return None

    def ready_at(self) -> float:
        return self.board.ready_at()

    def read_available(self) -> bytes:
        return b"" if self.mute else self.board.read_available()

    def write_some(self, data: bytes) -> int:
        return self.board.write_some(data)

    def close(self) -> None:
        self.board.close()


def test_a_command_without_an_answer_times_out(make_harness: MakeHarness) -> None:
    transport = MuteAfterHandshake()
    h = make_harness(lambda: transport)
    h.wait_connected()
    transport.mute = True
    with pytest.raises(CommandTimeoutError, match="no answer to 'ping'"):
        h.loop.command(None, "ping", timeout_s=0.05)


def test_safe_state_by_deterministic_fault_and_reset_recovers(make_harness: MakeHarness) -> None:
    h = make_harness(lambda: fast_board())
    h.wait_connected()
    h.loop.command(None, "fault", "deterministic", "40")
    h.loop.command(None, "start")
    h.wait(lambda: h.device().state == DeviceState.SAFE_STATE)
    changes = h.intake.state_changes()
    assert changes[-1] == StateChange(
        "sim-0001", DeviceState.SAFE_STATE, "fault", "deterministic fault"
    )
    h.wait(lambda: h.intake.count() == 40)
    assert h.device().fault.count == 40  # still armed: reset keeps it
    with pytest.raises(InvalidStateError):
        h.loop.command(None, "start")
    h.loop.command(None, "reset")
    assert h.device().state == DeviceState.IDLE
    h.loop.command(None, "fault", "none")
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() > 100)


def test_unplug_reconnects_quickly_and_resends_every_unacked_sample(
    make_harness: MakeHarness,
) -> None:
    board = fast_board(ring_capacity=60_000, samples_per_read=64)
    h = make_harness(lambda: board, settle=False)  # nothing acked: the board keeps it all
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 500)
    board.unplug()
    h.wait(lambda: any(not c.connected for c in h.intake.link_changes()))
    down = next(c for c in h.intake.link_changes() if not c.connected)
    assert "unplugged" in down.detail
    with pytest.raises(DeviceNotConnectedError):
        h.loop.command(None, "ping")
    replugged_at = time.monotonic()
    board.replug()
    h.wait_connected(ups=2, timeout_s=2.0)
    assert time.monotonic() - replugged_at < 1.0
    before = h.intake.received()
    h.wait(lambda: h.intake.received() >= before + 500)
    h.loop.command(None, "stop")
    seqs = h.intake.seqs(board.boot_id)
    assert seqs == list(range(len(seqs)))
    device = h.device()
    assert device.link.reconnects == 1
    assert any(b.resend for b in h.intake.batches)
    assert device.lost["downtime"] == 0


def test_a_lost_frame_is_resent_because_acks_stop_at_the_hole(make_harness: MakeHarness) -> None:
    """Issue 8 point 8: ack the highest contiguous seq, so the board keeps and resends a hole."""
    board = SimulatedBoard(period_ms=1, ring_capacity=60_000)  # the hole stays in its ring
    h = make_harness(lambda: board, hole_repair_s=0.1)
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 200)
    board.lose_frames(2)
    h.wait(lambda: h.device().link.frame_gaps >= 1)
    h.wait(lambda: h.device().link.rewinds >= 1)
    h.wait(lambda: h.intake.count() >= 600)
    h.loop.command(None, "stop")
    h.wait(lambda: h.loop.read_counters(None).ring_used == 0)
    seqs = h.intake.seqs(board.boot_id)
    assert seqs == list(range(len(seqs)))  # the hole was filled
    device = h.device()
    assert sum(device.lost.values()) == 0
    assert device.link.duplicates_received > 0  # the rewind resent stored samples too


def test_samples_the_board_dropped_are_counted_lost_and_acked_past(
    make_harness: MakeHarness,
) -> None:
    """The board's ring overflowed while the pipeline was full: the lost samples are counted."""
    board = SimulatedBoard(period_ms=1, ring_capacity=100, seed=3)
    h = make_harness(lambda: board)
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 50)
    h.intake.refuse = True  # a full pipeline: the loop stops reading the board
    h.wait(lambda: h.intake.offers_refused >= 1)
    refused_at = time.monotonic()
    h.wait(lambda: time.monotonic() - refused_at > 0.3)  # ~300 samples into a ring of 100
    h.intake.refuse = False
    h.loop.wake()
    h.wait(lambda: h.device().lost["board_overflow"] > 0)
    h.loop.command(None, "stop")
    h.wait(lambda: h.loop.read_counters(None).ring_used == 0)
    seqs = h.intake.seqs(board.boot_id)
    device = h.device()
    counters = h.loop.read_counters(None)
    # every sample the board took is stored or counted lost, and the ack went past the hole
    assert len(seqs) + device.lost["board_overflow"] == counters.samples_taken
    assert device.ack_point == counters.samples_taken - 1
    assert 0 < device.lost["board_overflow"] == counters.dropped_overflow  # never sent: lost


def test_reboot_is_detected_and_seq_restarts(make_harness: MakeHarness) -> None:
    board = fast_board()
    h = make_harness(lambda: board)
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 300)
    old_boot = board.boot_id
    board.power_cycle()  # in place: HELLO arrives unsolicited
    h.wait(lambda: h.device().link.reboots == 1)
    info = h.device().info
    assert info is not None
    assert info.boot_id == board.boot_id != old_boot
    h.wait(lambda: h.device().state == DeviceState.IDLE)
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count(board.boot_id) >= 100)
    assert h.intake.seqs(board.boot_id)[:100] == list(range(100))
    board.unplug()  # and once more across a lost port
    board.power_cycle()
    board.replug()
    h.wait(lambda: h.device().link.reboots == 2)
    assert h.device().link.seq_gaps == 0


def test_an_incompatible_major_is_refused_and_retried(make_harness: MakeHarness) -> None:
    board = fast_board(proto_major=2)
    opened: list[int] = []

    def factory() -> Transport:
        opened.append(1)
        return board

    h = make_harness(factory, port=PortSettings(incompatible_retry_s=0.05))
    h.wait(lambda: len(opened) >= 3)
    changes = h.intake.link_changes()
    assert len(changes) == 1  # reported once, not once per retry
    assert not changes[0].connected
    assert "speaks protocol 2." in changes[0].detail
    port = h.loop.ports()[0]
    assert not port.connected
    assert port.last_error is not None
    assert "speaks protocol 2." in port.last_error


class GarbageTransport:
    """Wraps a board and puts REPL noise and line garbage in front of its first reads."""

    def __init__(self, inner: SimulatedBoard) -> None:
        self.inner = inner
        self.noise = [b"Traceback (most recent call last):\r\n\x00", b"\x00\x07\xff\x13\x91\x00"]
        self.name = inner.name

    def open(self) -> None:
        self.inner.open()

    def fileno(self) -> int | None:
        return None

    def ready_at(self) -> float:
        return self.inner.ready_at()

    def read_available(self) -> bytes:
        data = self.inner.read_available()
        return self.noise.pop(0) + data if self.noise else data

    def write_some(self, data: bytes) -> int:
        return self.inner.write_some(data)

    def close(self) -> None:
        self.inner.close()


def test_garbage_in_the_stream_is_counted_and_skipped(make_harness: MakeHarness) -> None:
    h = make_harness(lambda: GarbageTransport(fast_board()))
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 100)
    link = h.device().link
    assert link.console_lines == 1
    assert link.framing_errors + link.crc_errors == 1
    assert link.bytes_received > 0


class SilentTransport:
    """A port where nothing answers (a board without the firmware)."""

    name = "silent"

    def open(self) -> None:
        pass

    def fileno(self) -> int | None:
        return None

    def ready_at(self) -> float:
        return time.monotonic() + 0.01

    def read_available(self) -> bytes:
        return b""

    def write_some(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


def test_no_hello_within_the_handshake_timeout_drops_the_link(make_harness: MakeHarness) -> None:
    h = make_harness(SilentTransport, port=PortSettings(handshake_timeout_s=0.05))
    h.wait(lambda: len(h.intake.link_changes()) >= 1)
    assert "no HELLO from silent" in h.intake.link_changes()[0].detail
    with pytest.raises(DeviceNotConnectedError):
        h.loop.command(None, "ping")


def test_a_missing_port_is_reported_once_and_warned_about_while_retrying(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    def factory() -> Transport:
        attempts.append(1)
        raise TransportError("no such port /dev/ttyACM9")

    h = make_harness(factory, port=PortSettings(backoff_max_s=0.02, warn_every_s=0.05))
    h.wait(lambda: len(attempts) >= 10)
    assert h.intake.link_changes() == [
        LinkChange(None, "port0", False, "no such port /dev/ttyACM9")
    ]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) >= 2
    assert "waiting for a board on port0: no such port /dev/ttyACM9" in warnings[0].getMessage()
    assert h.loop.ports()[0].last_error == "no such port /dev/ttyACM9"


def test_tick_wrap_keeps_board_time_and_utc_increasing(make_harness: MakeHarness) -> None:
    board = SimulatedBoard(period_ms=2, tick_origin_ms=(1 << 30) - 150)
    h = make_harness(lambda: board)
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 120)
    h.loop.command(None, "stop")
    samples = sorted(h.intake.stored.values(), key=lambda s: s.seq)
    assert samples[-1].board_ms > 1 << 30
    assert all(a.board_ms < b.board_ms for a, b in itertools.pairwise(samples))
    assert all(a.ts < b.ts for a, b in itertools.pairwise(samples))
    assert abs(samples[-1].ts - time.time()) < 2


def test_one_thread_serves_every_port(make_harness: MakeHarness) -> None:
    boards = [SimulatedBoard(fast=True, seed=i, device_id=f"sim-{i:04d}") for i in range(8)]
    before = threading.active_count()
    h = make_harness(*(lambda b=b: b for b in boards))
    h.wait_connected(ups=8)
    assert threading.active_count() == before + 1  # link-io alone
    for board in boards:
        h.loop.command(board.name.removeprefix("sim://"), "start")
    h.wait(lambda: all(h.intake.count(b.boot_id) >= 500 for b in boards))
    assert {d.device_id for d in h.loop.snapshots()} == {f"sim-{i:04d}" for i in range(8)}


def test_above_the_shedding_mark_new_boards_wait_and_attach_later(
    make_harness: MakeHarness,
) -> None:
    board = fast_board()
    h = make_harness(lambda: board, shedding=True)  # the pipeline is above 95 %
    h.wait(lambda: h.loop.attach_deferred >= 2)
    port = h.loop.ports()[0]
    assert not port.connected
    assert port.last_error is not None
    assert "waits to be attached" in port.last_error
    assert h.intake.ups() == 0
    h.intake.shedding = False
    h.wait_connected()
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 100)  # nothing it took meanwhile is lost
    assert h.intake.seqs(board.boot_id)[:100] == list(range(100))


def test_a_board_that_connects_twice_keeps_the_newer_connection(
    make_harness: MakeHarness,
) -> None:
    h = make_harness()
    first = fast_board()
    h.loop.add_port("first", lambda: first)
    h.wait_connected()
    twin = SimulatedBoard(fast=True, seed=12, name="sim://twin")  # the same device id
    h.loop.add_port("second", lambda: twin)
    h.wait(lambda: h.device().link.port == "sim://twin" and h.loop.superseded >= 1)
    ports = {p.name: p for p in h.loop.ports()}
    assert ports["second"].connected
    assert not ports["first"].connected
    assert ports["first"].last_error is not None
    assert "superseded" in ports["first"].last_error
