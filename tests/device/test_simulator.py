"""The simulated board behaves like the firmware in docs/protocol.md, deterministically."""

from __future__ import annotations

import zlib

import pytest

from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import PortBusyError, TransportError
from telemetryhub.models import DeviceState, FaultMode
from telemetryhub.protocol import (
    Code,
    Command,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    StateCause,
    Status,
    WireSample,
    encode_command,
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
    result, payloads = host.run("start")
    assert result.code == Code.OK
    assert payloads[:2] == [State(1, StateCause.COMMAND, "start"), result]
    assert [s.seq for s in samples_in(payloads)] == [0]  # the first sample at once
    result, payloads = host.run("stop")
    assert payloads == [State(0, StateCause.COMMAND, "stop"), result]


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
    _, payloads = host.run("start")
    clock.advance(0.1)
    first = samples_in(payloads + host.payloads())
    assert [s.seq for s in first] == list(range(11))
    assert [s.t_ms for s in first] == [i * 10 for i in range(11)]
    host.run("stop")
    host.run("reset")
    _, payloads = host.run("start")
    clock.advance(0.03)
    again = samples_in(payloads + host.payloads())
    assert [s.seq for s in again] == [11, 12, 13, 14]


def test_reset_from_idle_sends_only_result(host: BoardHost) -> None:
    result, payloads = host.run("reset")
    assert payloads == [result]


def test_deterministic_fault_enters_safe_state_and_reset_recovers(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("fault", "deterministic", "3")
    _, payloads = host.run("start")
    clock.advance(0.1)
    payloads += host.payloads()
    assert len(samples_in(payloads)) == 3
    assert payloads[-1] == State(DeviceState.SAFE_STATE, StateCause.FAULT, "deterministic fault")
    assert host.run("start")[0].code == Code.INVALID_STATE
    assert host.run("stop")[0].code == Code.INVALID_STATE
    result, payloads = host.run("reset")
    assert payloads == [State(DeviceState.IDLE, StateCause.COMMAND, "reset"), result]
    assert status(host).fault_mode == FaultMode.DETERMINISTIC  # reset keeps the fault armed
    _, payloads = host.run("start")
    clock.advance(0.1)
    assert len(samples_in(payloads + host.payloads())) == 3  # and re-arms its count


def test_intermittent_fault_below_five_never_reaches_safe_state(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("fault", "intermittent", "2")
    _, payloads = host.run("start")  # the first read at once: it fails
    clock.advance(0.29)  # 30 reads in all: 2 fail, 1 succeeds, repeating
    payloads += host.payloads()
    assert len(samples_in(payloads)) == 10
    errors = [p for p in payloads if isinstance(p, Error)]
    assert len(errors) == 10  # one SENSOR_FAULT per failing run
    assert {e.code for e in errors} == {Code.SENSOR_FAULT}
    counters = status(host)
    assert (counters.read_failures, counters.state, counters.fault_mode) == (20, 1, 2)


def test_five_consecutive_failures_enter_safe_state(host: BoardHost, clock: ManualClock) -> None:
    host.run("fault", "intermittent", "5")
    _, payloads = host.run("start")
    clock.advance(0.1)
    payloads += host.payloads()
    assert samples_in(payloads) == []
    safe = [p for p in payloads if isinstance(p, State) and p.cause == StateCause.FAULT]
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
    host.run("start")  # seq 0 at once, sent
    board.close()
    clock.advance(1.0)  # 100 more samples into a 64-sample ring while nobody listens
    board.open()
    host.run("stop")
    counters = status(host)
    assert (counters.samples_taken, counters.ring_used) == (101, 64)
    # seq 0 was sent before it was evicted; 1-36 were evicted before they could be sent
    assert (counters.evicted_sent, counters.dropped_overflow) == (1, 36)
    assert counters.oldest_seq == 37
    _, payloads = host.run("hello")
    hello = next(p for p in payloads if isinstance(p, Hello))
    assert (hello.oldest_seq, hello.next_seq) == (37, 101)
    assert [s.seq for s in samples_in(payloads)] == list(range(37, 101))


def test_hello_resends_unacked_samples_flagged_resend(host: BoardHost, clock: ManualClock) -> None:
    _, payloads = host.run("start")
    clock.advance(0.09)
    assert len(samples_in(payloads + host.payloads())) == 10
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
    board.firmware.ring.next_seq = (1 << 30) - 2  # white-box: the wrap is 12 days away at 1 ms
    _, payloads = host.run("start")
    clock.advance(0.03)
    seqs = [s.seq for s in samples_in(payloads + host.payloads())]
    assert seqs == [(1 << 30) - 2, (1 << 30) - 1, 0, 1]
    assert host.run("ack", "0")[0].code == Code.OK  # across the wrap
    assert status(host).ring_used == 1


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b"1 start*00000000\n", Error(Code.BAD_CHECKSUM, "bad checksum")),
        (b"1 start\n", Error(Code.BAD_CHECKSUM, "bad checksum")),
        (b"\x7f\n", Error(Code.BAD_CHECKSUM, "bad checksum")),
        (b"x" * 97 + b"\n", Error(Code.LINE_TOO_LONG, "line too long")),
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
    assert host.payloads() == [Error(Code.BAD_ARGUMENT, "bad argument")]


def run_line(host: BoardHost, text: str) -> Result:
    """Send `<text>*CRC` as it is (the host's encoder would refuse a bad one); its RESULT."""
    host.transport.write(f"{text}*{zlib.crc32(text.encode()):08X}\n".encode())  # type: ignore[attr-defined]
    results = [p for p in host.payloads() if isinstance(p, Result)]
    assert len(results) == 1, results
    return results[0]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1 bogus", Code.UNKNOWN_COMMAND),
        ("1 ping x", Code.BAD_ARGUMENT),
        ("1 hello x", Code.BAD_ARGUMENT),
        ("1 set period_ms 0", Code.BAD_ARGUMENT),
        ("1 set period_ms x", Code.BAD_ARGUMENT),
        ("1 set period_ms 0250", Code.BAD_ARGUMENT),
        ("1 set period_ms 250", Code.OK),
        ("1 fault", Code.BAD_ARGUMENT),
        ("1 fault none 1", Code.BAD_ARGUMENT),
        ("1 fault none", Code.OK),
        ("1 fault random", Code.BAD_ARGUMENT),
        ("1 fault random 1.5", Code.BAD_ARGUMENT),
        ("1 fault random a.b", Code.BAD_ARGUMENT),
        ("1 fault random x", Code.BAD_ARGUMENT),
        ("1 fault random .5", Code.BAD_ARGUMENT),
        ("1 fault random 5e-1", Code.BAD_ARGUMENT),
        ("1 fault random 0.5", Code.OK),
        ("1 fault intermittent 0", Code.BAD_ARGUMENT),
        ("1 fault deterministic 0", Code.OK),
        (f"1 ack {1 << 30}", Code.BAD_ARGUMENT),
        ("1 ack 03", Code.BAD_ARGUMENT),
        ("1 ack 3", Code.BAD_ARGUMENT),  # no sample taken yet: ahead of the newest
        ("1 ping", Code.OK),
    ],
)
def test_command_arguments_are_checked(host: BoardHost, text: str, code: Code) -> None:
    assert run_line(host, text).code == code


def test_an_ack_ahead_of_the_newest_sample_is_refused_and_frees_nothing(
    host: BoardHost, clock: ManualClock
) -> None:
    host.run("start")
    clock.advance(0.02)
    host.run("stop")  # seqs 0, 1, 2
    assert run_line(host, "7 ack 3").code == Code.BAD_ARGUMENT
    assert status(host).ring_used == 3
    assert host.run("ack", "2")[0].code == Code.OK
    assert status(host).ring_used == 0


def test_status_reports_the_armed_fault_and_its_parameter(host: BoardHost) -> None:
    host.run("fault", "random", "0.25")
    assert (status(host).fault_mode, status(host).fault_param) == (FaultMode.RANDOM, 250_000)
    host.run("fault", "intermittent", "3")
    assert (status(host).fault_mode, status(host).fault_param) == (FaultMode.INTERMITTENT, 3)


def test_a_new_period_takes_effect_at_once(host: BoardHost, clock: ManualClock) -> None:
    host.run("set", "period_ms", "60000")
    _, payloads = host.run("start")
    assert len(samples_in(payloads)) == 1
    host.run("set", "period_ms", "10")  # not after the minute the old period asked for
    clock.advance(0.05)
    assert [s.t_ms for s in samples_in(host.payloads())] == [10, 20, 30, 40, 50]


def test_slots_the_board_fell_behind_on_are_counted_as_missed(clock: ManualClock) -> None:
    host = BoardHost(SimulatedBoard(period_ms=1, ring_capacity=64, clock=clock))
    host.run("start")
    clock.advance(5.0)  # 5000 slots; the loop takes at most 4096 at once
    host.payloads()
    counters = status(host)
    assert counters.samples_taken + counters.missed_slots == 5001
    assert counters.missed_slots == 5001 - 4097


def test_each_board_gets_a_fresh_boot_id_unless_seeded() -> None:
    assert SimulatedBoard().boot_id != SimulatedBoard().boot_id  # 1 in 2^32 to fail
    assert SimulatedBoard(seed=5).boot_id == SimulatedBoard(seed=5).boot_id


def test_step_drives_the_board_without_a_thread(clock: ManualClock) -> None:
    board = SimulatedBoard(seed=1, period_ms=10, clock=clock)
    board.open()
    decoder = FrameDecoder()
    line = encode_command(Command(1, "start"))
    items = decoder.feed(board.step(line))
    clock.advance(0.02)
    items += decoder.feed(board.step())
    payloads = [i.payload for i in items if isinstance(i, Frame)]
    assert [s.seq for s in samples_in(payloads)] == [0, 1, 2]


def test_period_change_applies_to_sampling(host: BoardHost, clock: ManualClock) -> None:
    host.run("set", "period_ms", "50")
    _, payloads = host.run("start")
    clock.advance(0.16)
    assert [s.t_ms for s in samples_in(payloads + host.payloads())] == [0, 50, 100, 150]


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
