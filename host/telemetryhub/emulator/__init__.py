"""A MicroPython board emulator: the real unix port behind a pty for pyserial and mpremote."""

from __future__ import annotations

from telemetryhub.emulator.board import BoardEmulator
from telemetryhub.emulator.cli import main, run_emulator

__all__ = ["BoardEmulator", "main", "run_emulator"]
