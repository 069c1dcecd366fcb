"""Fixtures for emulator tests: a streaming test firmware and a started BoardEmulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from telemetryhub.emulator import BoardEmulator

# Prints a random boot id and a counter every 10 ms, draining stdin with select.poll.
STREAMING_MAIN = """\
import os, select, sys
boot = os.urandom(4).hex()
poller = select.poll()
poller.register(sys.stdin, select.POLLIN)
n = 0
while True:
    print("boot", boot, "n", n)
    n += 1
    if poller.poll(10):
        sys.stdin.buffer.read(1)
"""


def read_until(
    port: serial.Serial, done: Callable[[bytes], bool], timeout_s: float = 5.0
) -> bytes:
    """Read from `port` until done(everything read) is true; fail after timeout_s."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while not done(data):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s; got {data[-300:]!r}")
        data += port.read(max(1, port.in_waiting))
    return data


def boot_id(port: serial.Serial) -> bytes:
    """The boot id in the next complete counter line."""
    read_until(port, lambda d: d.endswith(b"\n"))  # skip a partial line
    line = read_until(port, lambda d: d.endswith(b"\n") and d.startswith(b"boot "))
    return line.split()[1]


@pytest.fixture
def flash_dir(tmp_path: Path) -> Path:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(STREAMING_MAIN)
    return flash


@pytest.fixture
def board(flash_dir: Path) -> Iterator[BoardEmulator]:
    with BoardEmulator(flash_dir) as emulator:
        yield emulator
