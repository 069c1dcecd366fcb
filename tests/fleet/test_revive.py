"""A board that mpremote left at the REPL is brought back by the link's own handshake, for the
gateway and for `monitor` alike (they share it): one soft reset, then streaming."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from telemetryhub.device.monitor import monitor
from telemetryhub.emulator.board import BoardEmulator
from telemetryhub.fleet.port import PortSettings
from telemetryhub.transport.serial_port import SerialTransport

from .conftest import MakeHarness

pytestmark = pytest.mark.micropython

RESET_SOFT = 2


@pytest.fixture
def board_at_the_repl() -> Iterator[BoardEmulator]:
    with BoardEmulator() as emulator:
        # mpremote interrupts main.py, runs code, and leaves the board at the REPL
        subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", emulator.port, "exec", "x = 1"],
            check=True,
            timeout=30,
            capture_output=True,
        )
        yield emulator


def test_the_gateway_soft_resets_a_board_left_at_the_repl(
    board_at_the_repl: BoardEmulator, make_harness: MakeHarness
) -> None:
    emulator = board_at_the_repl
    boots = emulator.boot_count
    h = make_harness(
        lambda: SerialTransport(emulator.port), port=PortSettings(handshake_timeout_s=1.0)
    )
    h.wait_connected(timeout_s=15)
    info = h.device().info
    assert info is not None
    assert info.reset_cause == RESET_SOFT  # a soft reset, not a power cycle
    assert emulator.boot_count == boots + 1
    h.loop.command(None, "start")
    h.wait(lambda: h.intake.count() >= 20, timeout_s=10)


def test_monitor_brings_back_a_board_left_at_the_repl(board_at_the_repl: BoardEmulator) -> None:
    out = io.StringIO()
    port = board_at_the_repl.port
    assert monitor(lambda: SerialTransport(port), out, count=20, connect_timeout_s=15) >= 20
    lines = out.getvalue().splitlines()
    hello = next(line for line in lines if line.startswith("hello"))
    assert f"reset_cause={RESET_SOFT}" in hello
    assert sum(line.startswith("samples") for line in lines) >= 2
