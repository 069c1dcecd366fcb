"""A board that mpremote left at the REPL is brought back to streaming by the link itself."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from telemetryhub.device.base import SampleBatch
from telemetryhub.device.link import BoardLink
from telemetryhub.emulator.board import BoardEmulator
from telemetryhub.transport.serial_port import SerialTransport


def test_link_soft_resets_a_board_left_at_the_repl_and_streams() -> None:
    with BoardEmulator() as emulator:
        # mpremote interrupts main.py, runs code, and leaves the board at the REPL
        subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", emulator.port, "exec", "x = 1"],
            check=True,
            timeout=30,
            capture_output=True,
        )
        boots = emulator.boot_count
        link = BoardLink(lambda: SerialTransport(emulator.port), handshake_timeout_s=1.0)
        link.open()
        samples = 0
        deadline = time.monotonic() + 15
        started = False
        try:
            while samples < 20:
                assert time.monotonic() < deadline, "the board never came back to streaming"
                for event in link.poll(0.05):
                    if isinstance(event, SampleBatch):
                        samples += len(event.samples)
                if link.stats().connected and not started:
                    link_thread_free_start(link)
                    started = True
        finally:
            link.close()
        assert emulator.boot_count > boots  # it was a soft reset, not a power cycle


def link_thread_free_start(link: BoardLink) -> None:
    """`start` needs a poller; send it from a helper thread while this one polls."""
    threading.Thread(target=lambda: link.command("start", timeout_s=5), name="starter").start()
