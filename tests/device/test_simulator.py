"""The simulated board behaves like the firmware in docs/protocol.md, deterministically."""

from __future__ import annotations

import pytest

from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import PortBusyError, TransportError
from telemetryhub.models import DeviceState
from telemetryhub.protocol import (
    Code,
    Error,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    StateCause,
    Status,
    WireSample,
)

from .conftest import BoardHost, ManualClock


def samples_in(payloads: list[Payload]) -> list[WireSample]:
    return [s for p in payloads if isinstance(p, Samples) for s in p.samples]


def status(host: BoardHost) -> Status:
    _, payloads = host.run("status")
    return next(p for p in payloads if isinstance(p, Status))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def host(clock: ManualClock) -> BoardHost:
    return BoardHost(SimulatedBoard(seed=7, period_ms=10, ring_capacity=64, clock=clock))


def test_boot_sends_hello_then_state_boot(host: BoardHost) -> None:
    board = host.transport
    assert isinstance(board, SimulatedBoard)
    board.power_cycle()
    hello, state = host.payloads()
    assert isinstance(hello, Hello)
    assert (hello.proto_major, hello.boot_id, hello.state, hello.unit) == (
        1,
        board.boot_id,
        0,
        "arb.units",
    )
    assert state == State(DeviceState.IDLE, StateCause.BOOT, "boot")


def test_valid_transitions_send_state_then_result(host: BoardHost) -> None:
    for verb, state in (("start", 1), ("stop", 0)):
        result, payloads = host.run(verb)
        assert result.code == Code.OK
        assert payloads == [State(state, StateCause.COMMAND, verb), result]


@pytest.mark.parametrize(("setup", "verb"), [([], "stop"), (["start"], "start")])
def test_invalid_transitions_are_refused(host: BoardHost, setup: list[str], verb: str) -> None:
    for command in setup:
        host.run(command)
    result, payloads = host.run(verb)
    assert result.code == Code.INVALID_STATE
    assert payloads == [result]
    assert status(host).commands_rejected == 1


def test_sampling_follows_the_clock_and_seq_survives_stop_start_reset(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("start")
    clock.advance(0.1)
    first = samples_in(host.payloads())
    assert [s.seq for s in first] == list(range(10))
    assert [s.t_ms for s in first] == [i * 10 for i in range(1, 11)]
    host.run("stop")
    host.run("reset")
    host.run("start")
    clock.advance(0.03)
    again = samples_in(host.payloads())
    assert [s.seq for s in again] == [10, 11, 12]


def test_reset_from_idle_sends_only_result(host: BoardHost) -> None:
    result, payloads = host.run("reset")
    assert payloads == [result]


def test_deterministic_fault_enters_safe_state_and_reset_recovers(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("fault", "deterministic", "3")
    host.run("start")
    clock.advance(0.1)
    payloads = host.payloads()
    assert len(samples_in(payloads)) == 3
    assert State(DeviceState.SAFE_STATE, StateCause.FAULT, "deterministic fault") in payloads
    assert host.run("start")[0].code == Code.INVALID_STATE
    assert host.run("stop")[0].code == Code.INVALID_STATE
    result, payloads = host.run("reset")
    assert payloads == [State(DeviceState.IDLE, StateCause.COMMAND, "reset"), result]
    host.run("start")
    clock.advance(0.1)
    assert len(samples_in(host.payloads())) == 3  # reset re-arms the fault


def test_intermittent_fault_below_five_never_reaches_safe_state(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("fault", "intermittent", "2")
    host.run("start")
    clock.advance(0.3)  # 30 reads: 2 fail, 1 succeeds, repeating
    payloads = host.payloads()
    assert len(samples_in(payloads)) == 10
    errors = [p for p in payloads if isinstance(p, Error)]
    assert len(errors) == 10  # one SENSOR_FAULT per failing run
    assert {e.code for e in errors} == {Code.SENSOR_FAULT}
    counters = status(host)
    assert (counters.read_failures, counters.state, counters.fault_mode) == (20, 1, 2)


def test_five_consecutive_failures_enter_safe_state(host: BoardHost, clock: ManualClock) -> None:
    host.run("fault", "intermittent", "5")
    host.run("start")
    clock.advance(0.1)
    payloads = host.payloads()
    assert samples_in(payloads) == []
    safe = [p for p in payloads if isinstance(p, State)]
    assert safe == [State(2, StateCause.FAULT, "5 consecutive sensor read failures")]
    assert status(host).read_failures == 5


def test_random_fault_is_deterministic_for_a_seed(clock: ManualClock) -> None:
    def run(seed: int) -> list[int]:
        host = BoardHost(SimulatedBoard(seed=seed, period_ms=1, clock=clock))
        host.run("fault", "random", "0.3")
        host.run("start")
        clock.advance(0.2)
        return [s.seq for s in samples_in(host.payloads())]

    assert run(3) == run(3)
    taken = len(run(3))
    assert 100 < taken < 180


def test_full_ring_drops_oldest_and_counts_it(host: BoardHost, clock: ManualClock) -> None:
    board = host.transport
    assert isinstance(board, SimulatedBoard)
    host.run("start")
    board.close()
    clock.advance(1.0)  # 100 samples into a 64-sample ring while nobody listens
    board.open()
    host.run("stop")
    counters = status(host)
    assert (counters.samples_taken, counters.dropped_overflow, counters.ring_used) == (100, 36, 64)
    _, payloads = host.run("hello")
    assert [s.seq for s in samples_in(payloads)] == list(range(36, 100))


def test_hello_resends_unacked_samples_flagged_resend(host: BoardHost, clock: ManualClock) -> None:
    host.run("start")
    clock.advance(0.1)
    assert len(samples_in(host.payloads())) == 10
    host.run("ack", "5")
    cmd_id = host.send("hello")
    frames = host.frames()
    assert isinstance(frames[0].payload, Hello)
    assert frames[1].payload == Result(cmd_id, Code.OK, frames[1].payload.t_ms, "hello")  # type: ignore[union-attr]
    assert all(frame.resend for frame in frames[2:])
    assert [s.seq for s in samples_in([f.payload for f in frames])] == [6, 7, 8, 9]
    counters = status(host)
    assert (counters.samples_sent, counters.samples_resent, counters.ring_used) == (10, 4, 4)


def test_power_cycle_starts_a_new_boot_at_seq_zero(host: BoardHost, clock: ManualClock) -> None:
    board = host.transport
    assert isinstance(board, SimulatedBoard)
    old_boot = board.boot_id
    host.run("start")
    clock.advance(0.05)
    host.payloads()
    board.power_cycle()
    assert board.boot_id != old_boot
    assert (board.next_seq, board.state) == (0, DeviceState.IDLE)
    assert isinstance(host.payloads()[0], Hello)


def test_seq_wraps_at_30_bits(host: BoardHost, clock: ManualClock) -> None:
    board = host.transport
    assert isinstance(board, SimulatedBoard)
    board._next_seq = (1 << 30) - 2  # white-box: reaching the wrap by sampling takes 12 days
    host.run("start")
    clock.advance(0.04)
    assert [s.seq for s in samples_in(host.payloads())] == [(1 << 30) - 2, (1 << 30) - 1, 0, 1]


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b"1 start*00000000\n", Error(Code.BAD_CHECKSUM, "command line CRC mismatch")),
        (b"1 start\n", Error(Code.BAD_CHECKSUM, "malformed command line")),
        (b"\x7f\n", Error(Code.BAD_CHECKSUM, "non-printable byte in command line")),
        (b"x" * 97 + b"\n", Error(Code.LINE_TOO_LONG, "line longer than 96 bytes dropped")),
    ],
)
def test_bad_lines_get_error_frames_and_count_as_rejected(
    host: BoardHost, line: bytes, frame: Error
) -> None:
    host.transport.write(line)  # type: ignore[attr-defined]
    assert host.payloads() == [frame]
    assert status(host).commands_rejected == 1


def test_a_line_with_a_bad_id_is_a_bad_argument(host: BoardHost) -> None:
    host.transport.write(b"x start*" + b"%08X" % __import__("zlib").crc32(b"x start") + b"\n")  # type: ignore[attr-defined]
    assert host.payloads() == [Error(Code.BAD_ARGUMENT, "malformed command line")]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("bogus",), Code.UNKNOWN_COMMAND),
        (("ping", "x"), Code.BAD_ARGUMENT),
        (("hello", "x"), Code.BAD_ARGUMENT),
        (("set", "period_ms", "0"), Code.BAD_ARGUMENT),
        (("set", "period_ms", "x"), Code.BAD_ARGUMENT),
        (("set", "period_ms", "250"), Code.OK),
        (("fault",), Code.BAD_ARGUMENT),
        (("fault", "none", "1"), Code.BAD_ARGUMENT),
        (("fault", "none"), Code.OK),
        (("fault", "random"), Code.BAD_ARGUMENT),
        (("fault", "random", "1.5"), Code.BAD_ARGUMENT),
        (("fault", "random", "a.b"), Code.BAD_ARGUMENT),
        (("fault", "random", "x"), Code.BAD_ARGUMENT),
        (("fault", "random", ".5"), Code.OK),
        (("fault", "intermittent", "0"), Code.BAD_ARGUMENT),
        (("fault", "deterministic", "0"), Code.OK),
        (("ack", str(1 << 30)), Code.BAD_ARGUMENT),
        (("ack", "3"), Code.OK),
        (("ping",), Code.OK),
    ],
)
def test_command_arguments_are_checked(host: BoardHost, args: tuple[str, ...], code: Code) -> None:
    assert host.run(*args)[0].code == code


def test_period_change_applies_to_sampling(host: BoardHost, clock: ManualClock) -> None:
    host.run("set", "period_ms", "50")
    host.run("start")
    clock.advance(0.16)
    assert [s.t_ms for s in samples_in(host.payloads())] == [50, 100, 150]


def test_fast_mode_takes_samples_per_read_whatever_the_clock() -> None:
    host = BoardHost(SimulatedBoard(fast=True, samples_per_read=100, clock=ManualClock()))
    host.run("start")
    assert len(samples_in(host.payloads())) == 100
    assert len(samples_in(host.payloads())) == 100


def test_port_semantics_unplug_replug_and_exclusive_open(host: BoardHost) -> None:
    board = host.transport
    assert isinstance(board, SimulatedBoard)
    with pytest.raises(PortBusyError):
        board.open()
    board.unplug()
    with pytest.raises(TransportError, match="unplugged"):
        board.read(0)
    with pytest.raises(TransportError):
        board.open()
    board.replug()
    with pytest.raises(TransportError, match="not open"):
        board.write(b"\n")
    board.open()
    board.emit_raw(b"soft reboot\r\n")
    assert board.read(0) == b"soft reboot\r\n"
    assert board.name == "sim://sim-0001"


def test_read_waits_for_the_next_sample_then_times_out() -> None:
    board = SimulatedBoard(period_ms=5)
    host = BoardHost(board)
    assert board.read(0.01) == b""
    host.run("start")
    assert board.read(0.5)  # a real-clock sample arrives within ~5 ms
