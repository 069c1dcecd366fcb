"""Wire-level HIL: the real firmware on the emulator (default) or a real board (--port)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from telemetryhub.deploy import flash
from telemetryhub.emulator import BoardEmulator
from telemetryhub.emulator.board import DEFAULT_FIRMWARE_DIR
from telemetryhub.protocol import (
    PROTO_MAJOR,
    Code,
    Command,
    Error,
    State,
    StateCause,
    encode_command,
    encode_frame,
)
from telemetryhub.protocol.cobs import cobs_decode, cobs_encode
from tests.hil.conftest import HilTarget
from tests.hil.wire import Received, WireClient, seqs

pytestmark = [pytest.mark.hil, pytest.mark.micropython]

IDLE, MEASURING, SAFE_STATE = 0, 1, 2
RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG, RESET_HARD = 1, 2, 3, 4
_DISCONNECT_S = 2.0  # the scenario itself: how long the host is away
_MPREMOTE_TIMEOUT_S = 30.0


def states_since(wire: WireClient, mark: int) -> list[State]:
    return [f.payload for f in wire.frames[mark:] if isinstance(f.payload, State)]


def start_streaming(wire: WireClient, period_ms: int) -> None:
    assert wire.command("set", "period_ms", str(period_ms)).code == Code.OK
    assert wire.command("start").code == Code.OK


def assert_contiguous(values: list[int]) -> None:
    assert values == list(range(values[0], values[0] + len(values))), _first_gap(values)


def _first_gap(values: list[int]) -> str:
    for before, after in itertools.pairwise(values):
        if after != before + 1:
            return f"gap or repeat: {before} -> {after}"
    return "contiguous"


def mpremote(port: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", port, *args],
        capture_output=True,
        text=True,
        timeout=_MPREMOTE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hello_then_a_thousand_contiguous_samples(wire: WireClient) -> None:
    mark = len(wire.frames)
    hello = wire.hello()
    assert hello.proto_major == PROTO_MAJOR
    assert hello.state == IDLE
    start_streaming(wire, period_ms=1)
    got = wire.collect(1000, timeout_s=10.0)[:1000]
    assert wire.command("stop").code == Code.OK
    assert_contiguous(seqs(got))
    assert not any(r.resend for r in got)
    t_ms = [r.t_ms for r in got]
    assert t_ms == sorted(t_ms)
    frame_seqs = [f.frame_seq for f in wire.frames[mark:]]
    assert frame_seqs == [(frame_seqs[0] + i) & 0xFFFF for i in range(len(frame_seqs))]


def test_every_command_round_trips_with_its_result_code(wire: WireClient) -> None:
    rejected_before = wire.status().commands_rejected
    assert wire.command("ping").code == Code.OK
    assert wire.hello().proto_major == PROTO_MAJOR
    expected: list[tuple[tuple[str, ...], Code]] = [
        (("set", "period_ms", "5"), Code.OK),
        (("set", "period_ms", "0"), Code.BAD_ARGUMENT),
        (("set", "period_ms", "010"), Code.BAD_ARGUMENT),
        (("set", "speed", "5"), Code.BAD_ARGUMENT),
        (("stop",), Code.INVALID_STATE),
        (("start",), Code.OK),
        (("start",), Code.INVALID_STATE),
        (("stop",), Code.OK),
        (("fault", "random", "0.25"), Code.OK),
        (("fault", "random", "5e-1"), Code.BAD_ARGUMENT),
        (("fault", "random"), Code.BAD_ARGUMENT),
        (("fault", "intermittent", "2"), Code.OK),
        (("fault", "sometimes", "1"), Code.BAD_ARGUMENT),
        (("fault", "none"), Code.OK),
        (("jump",), Code.UNKNOWN_COMMAND),
        (("ack", "0"), Code.OK),
        (("ack", "1000000"), Code.BAD_ARGUMENT),  # ahead of the newest sample
        (("reset",), Code.OK),
    ]
    mark = len(wire.frames)
    answers = [(args, Code(wire.command(*args).code)) for args, _ in expected]
    assert answers == expected
    assert [(s.state, s.cause) for s in states_since(wire, mark)] == [
        (MEASURING, StateCause.COMMAND),
        (IDLE, StateCause.COMMAND),
    ]

    mark = len(wire.frames)
    line = encode_command(Command(99, "ping"))
    wire.write_raw(line.replace(b"ping", b"pong"))  # same CRC, other text
    wire.read_until(lambda: any(isinstance(f.payload, Error) for f in wire.frames[mark:]))
    errors = [f.payload for f in wire.frames[mark:] if isinstance(f.payload, Error)]
    assert [e.code for e in errors] == [Code.BAD_CHECKSUM]
    assert wire.result(99, mark) is None

    status = wire.status()
    assert (status.state, status.fault_mode, status.period_ms) == (IDLE, 0, 5)
    assert status.commands_rejected - rejected_before == 11  # ten refusals and the bad line


def test_deterministic_fault_enters_safe_state_and_reset_recovers(wire: WireClient) -> None:
    assert wire.command("fault", "deterministic", "5").code == Code.OK
    mark, sample_mark = len(wire.frames), len(wire.received)
    start_streaming(wire, period_ms=1)
    wire.read_until(lambda: any(s.state == SAFE_STATE for s in states_since(wire, mark)))
    safe = next(s for s in states_since(wire, mark) if s.state == SAFE_STATE)
    assert (safe.cause, safe.reason) == (StateCause.FAULT, "deterministic fault")
    assert len(wire.received) - sample_mark == 5  # flushed before the STATE
    assert wire.command("start").code == Code.INVALID_STATE
    assert wire.status().state == SAFE_STATE

    mark = len(wire.frames)
    assert wire.command("reset").code == Code.OK
    assert [(s.state, s.cause) for s in states_since(wire, mark)] == [(IDLE, StateCause.COMMAND)]
    status = wire.status()
    assert (status.state, status.fault_mode) == (IDLE, 3)  # reset re-arms, keeps the mode
    assert wire.command("fault", "none").code == Code.OK
    assert wire.command("start").code == Code.OK
    assert wire.command("stop").code == Code.OK


def test_samples_missed_while_the_host_is_away_are_resent_oldest_first(
    wire: WireClient,
) -> None:
    start_streaming(wire, period_ms=5)  # 2 s away = ~400 samples: well inside the ring
    acked = wire.collect(20)[-1].seq
    wire.ack(acked)
    wire.close()
    time.sleep(_DISCONNECT_S)
    wire.open()
    seen = set(seqs(wire.received))
    mark = len(wire.received)
    wire.hello()
    wire.read_until(lambda: resend_complete(wire.received[mark:]))

    resent = [r for r in wire.received[mark:] if r.resend]
    assert resent, "the board resent nothing"
    assert resent[0].seq == acked + 1  # nothing acked comes back, the oldest unacked first
    assert_contiguous(seqs(resent))
    missed = [r for r in resent if r.seq not in seen]
    assert missed[-1].t_ms - missed[0].t_ms >= 1500  # the board kept sampling while away
    union = sorted(set(seqs(wire.received)))
    assert_contiguous(union)

    acked = union[-1]
    wire.ack(acked)
    mark = len(wire.received)
    wire.hello()
    wire.collect(20)
    assert all(r.seq > acked for r in wire.received[mark:] if r.resend)
    assert wire.command("stop").code == Code.OK


def resend_complete(received: list[Received]) -> bool:
    """A resend began and a fresh sample followed it (the board caught up)."""
    first = next((i for i, r in enumerate(received) if r.resend), None)
    return first is not None and any(not r.resend for r in received[first:])


def garbage() -> bytes:
    """Line noise: console text, a frame with a bad CRC, bad COBS, and 600 junk bytes."""
    body = bytearray(cobs_decode(encode_frame(Error(0, "noise")).strip(b"\x00")))
    body[-1] ^= 0xFF
    return (
        b"\x00garbage, not a frame\r\n\x00"
        + b"\x00"
        + cobs_encode(bytes(body))
        + b"\x00"
        + b"\x00\x09\x01\x02\x00"
        + bytes(range(1, 256)) * 2
        + b"\x00"
    )


def test_garbage_in_the_stream_is_counted_and_skipped(
    wire: WireClient, emulator: BoardEmulator
) -> None:
    start_streaming(wire, period_ms=1)
    wire.collect(100)
    decoder = wire.decoder
    before = (decoder.console_chunks, decoder.crc_errors + decoder.framing_errors)
    emulator.inject_to_host(garbage())
    mark = len(wire.received)
    wire.collect(300)
    assert wire.command("stop").code == Code.OK
    after = (decoder.console_chunks, decoder.crc_errors + decoder.framing_errors)
    # one CRC error, the bad COBS and the 510 junk bytes (one framing error each, however
    # the reads split them)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 3)
    assert "garbage, not a frame\r\n" in wire.console
    assert mark < len(wire.received)
    assert_contiguous(seqs(wire.received))
    assert not any(r.resend for r in wire.received)


@pytest.mark.parametrize("revive", ["ctrl-b-ctrl-d", "mpremote-reset"])
def test_mpremote_exec_interrupts_streaming_and_the_host_brings_it_back(
    wire: WireClient, revive: str
) -> None:
    boot_id = wire.hello().boot_id
    start_streaming(wire, period_ms=1)
    wire.collect(100)
    wire.close()
    if revive == "mpremote-reset":
        assert mpremote(wire.port_name, "exec", "print(6*7)", "+", "reset") == "42\n"
        wire.open(timeout_s=10.0)  # a real board re-enumerates after a hard reset
        wire.wait_ready()
        hello = wire.hello()
        # machine.reset(): a hard reset (rp2 reboots through its watchdog and says so)
        assert hello.reset_cause in (RESET_HARD, RESET_WATCHDOG)
    else:
        assert mpremote(wire.port_name, "exec", "print(6*7)") == "42\n"
        wire.open()
        hello = wire.soft_reset_to_main()
        assert hello.reset_cause == RESET_SOFT  # Ctrl-D: a soft reset, not a power cycle
    assert hello.boot_id != boot_id
    assert hello.state == IDLE
    mark = len(wire.received)
    start_streaming(wire, period_ms=1)
    assert_contiguous(seqs(wire.collect(100)))
    assert wire.received[mark].seq == 0  # a new boot counts from zero
    assert wire.command("stop").code == Code.OK


def test_flash_deploys_new_firmware_and_the_board_restarts_with_it(
    hil_target: HilTarget, tmp_path: Path
) -> None:
    firmware = tmp_path / "firmware"
    shutil.copytree(DEFAULT_FIRMWARE_DIR, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    device_id = f"hil-{uuid.uuid4().hex[:8]}"
    config = firmware / "config.py"
    config.write_text(config.read_text().replace("DEVICE_ID = None", f"DEVICE_ID = {device_id!r}"))
    try:
        flash(hil_target.port, firmware)
        with WireClient(hil_target.port).open(timeout_s=10.0) as wire:
            wire.wait_ready()
            hello = wire.hello()
        assert hello.device_id == device_id
    finally:
        if hil_target.emulator is None:  # a real board gets its own firmware back
            flash(hil_target.port, DEFAULT_FIRMWARE_DIR)
