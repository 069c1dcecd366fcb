"""HIL fixtures: the board under test is the emulator (default) or a real board (--port / env)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from telemetryhub.emulator import BoardEmulator
from tests.hil.wire import WireClient

PORT_ENV = "TELEMETRYHUB_HIL_PORT"


@dataclass(frozen=True, slots=True)
class HilTarget:
    """The board under test: its port, and the emulator behind it (None for a real board)."""

    port: str
    emulator: BoardEmulator | None


def real_board_port(config: pytest.Config) -> str | None:
    """The real board's port from --port or $TELEMETRYHUB_HIL_PORT; None: use the emulator."""
    port: str | None = config.getoption("--port", default=None)
    return port or os.environ.get(PORT_ENV) or None


@pytest.fixture
def hil_target(request: pytest.FixtureRequest) -> Iterator[HilTarget]:
    port = real_board_port(request.config)
    if port is not None:
        yield HilTarget(port, None)
        return
    with BoardEmulator() as emulator:  # a fresh temp copy of firmware/ as its flash
        yield HilTarget(emulator.port, emulator)


@pytest.fixture
def board_port(hil_target: HilTarget) -> str:
    return hil_target.port


@pytest.fixture
def emulator(hil_target: HilTarget) -> BoardEmulator:
    """The emulator behind the port; a test that needs its powers skips on a real board."""
    if hil_target.emulator is None:
        pytest.skip("needs the emulator")
    return hil_target.emulator


@pytest.fixture
def wire(board_port: str) -> Iterator[WireClient]:
    """A connected client, the board settled: Idle, no faults, period 100 ms, nothing unacked."""
    with WireClient(board_port) as client:
        client.settle()
        yield client
