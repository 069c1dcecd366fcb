"""The boards `telemetryhub run` reads, from `[gateway] device` (and `--device`, repeatable):
`sim[:N]` simulated boards, `emulator[:N]` emulated ones (started here), `auto` (every board
plugged in, now or later) and serial port paths. `apply` attaches what a new configuration adds
and lets go of what it removes, so SIGHUP changes the fleet without a restart."""

from __future__ import annotations

import contextlib
import functools
import logging

from telemetryhub.config import Settings
from telemetryhub.core.gateway import GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.fleet.hotplug import PortWatcher
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.transport.discovery import find_boards
from telemetryhub.transport.serial_port import SerialTransport

_log = logging.getLogger(__name__)


class Sources:
    """The attached sources, by their spec; each owns its ports and what keeps them alive."""

    def __init__(self, core: GatewayCore) -> None:
        self._core = core
        self._attached: dict[str, tuple[list[str], contextlib.ExitStack]] = {}

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def apply(self, settings: Settings) -> None:
        """Attach the specs `settings` adds, let go of those it no longer names."""
        wanted = settings.gateway.device
        for spec in [s for s in self._attached if s not in wanted]:
            _log.info("letting go of %s", spec)
            self._detach(spec)
        for spec in wanted:
            if spec not in self._attached:
                self._attached[spec] = self._attach(spec, settings)

    def close(self) -> None:
        for spec in list(self._attached):
            self._detach(spec)

    def _attach(self, spec: str, settings: Settings) -> tuple[list[str], contextlib.ExitStack]:
        stack = contextlib.ExitStack()
        kind, _, count = spec.partition(":")
        if kind == "sim":
            names = self._simulated(int(count or 1), bool(count), settings)
        elif kind == "emulator":
            names = self._emulated(int(count or 1), settings, stack)
        elif spec == "auto":
            names = self._watch(settings, stack)
        else:
            self._core.add_source(spec, serial_factory(spec, settings))
            names = [spec]
        return names, stack

    def _simulated(self, number: int, several: bool, settings: Settings) -> list[str]:
        names = []
        for i in range(1, number + 1):
            board = SimulatedBoard(device_id=f"sim-{i:04d}", period_ms=settings.device.period_ms)
            names.append(f"sim:{i}" if several else "sim")
            self._core.add_source(names[-1], functools.partial(_same, board))
        return names

    def _emulated(self, number: int, settings: Settings, stack: contextlib.ExitStack) -> list[str]:
        from telemetryhub.emulator.board import BoardEmulator  # a bench gateway's need

        names = []
        for _ in range(number):
            emulator = stack.enter_context(BoardEmulator())
            self._core.add_source(emulator.port, serial_factory(emulator.port, settings))
            names.append(emulator.port)
        return names

    def _watch(self, settings: Settings, stack: contextlib.ExitStack) -> list[str]:
        """`auto`: the watcher attaches and lets go of its own ports."""
        usb_serial = settings.device.usb_serial or None
        watcher = PortWatcher(
            self._core.loop, lambda: find_boards(usb_serial), lambda p: serial_factory(p, settings)
        )
        stack.enter_context(watcher)
        stack.callback(watcher.let_go)  # runs first: the ports go, then the watcher stops
        return []

    def _detach(self, spec: str) -> None:
        names, stack = self._attached.pop(spec)
        for name in names:
            self._core.loop.remove_port(name)
        stack.close()


def _same(board: SimulatedBoard) -> SimulatedBoard:
    return board  # a simulated board is its own transport, reopened on each connect


def serial_factory(path: str, settings: Settings) -> TransportFactory:
    return lambda: SerialTransport(path, settings.device.baudrate)
