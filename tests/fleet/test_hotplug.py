"""`auto`: boards plugged in mid-run are attached within 2 s, boards that vanish go offline,
and a board moved to another port keeps its identity and its seqs continue."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from telemetryhub.emulator.board import BoardEmulator
from telemetryhub.fleet.hotplug import PortWatcher
from telemetryhub.transport.discovery import PortInfo
from telemetryhub.transport.serial_port import SerialTransport

from .conftest import MakeHarness

pytestmark = pytest.mark.micropython


class Bench:
    """The serial ports a USB bus shows right now (what find_boards would list)."""

    def __init__(self) -> None:
        self._paths: list[str] = []
        self._lock = threading.Lock()

    def plug(self, path: str) -> None:
        with self._lock:
            self._paths.append(path)

    def pull(self, path: str) -> None:
        with self._lock:
            self._paths.remove(path)

    def discover(self) -> list[PortInfo]:
        with self._lock:
            paths = list(self._paths)
        return [PortInfo(p, None, None, None, "emulator", "emulator", True) for p in paths]


def test_auto_attaches_a_board_plugged_in_mid_run_within_2_s(make_harness: MakeHarness) -> None:
    bench = Bench()
    h = make_harness()
    with BoardEmulator() as first, BoardEmulator() as second:
        bench.plug(first.port)
        watcher = PortWatcher(h.loop, bench.discover, lambda p: lambda: SerialTransport(p))
        with watcher:
            h.wait_connected(ups=1, timeout_s=10)
            plugged_at = time.monotonic()
            bench.plug(second.port)
            h.wait(lambda: second.device_id in {d.device_id for d in h.loop.snapshots()}, 5)
            assert time.monotonic() - plugged_at < 2.0
            bench.pull(first.port)
            h.wait(lambda: not h.device(first.device_id).connected, 5)
            assert {d.device_id for d in h.loop.snapshots()} == {first.device_id, second.device_id}
            assert [p.name for p in h.loop.ports()] == [second.port]


def test_a_board_moved_to_another_port_keeps_its_id_and_its_seqs(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    bench = Bench()
    h = make_harness()
    with BoardEmulator() as board:
        bench.plug(board.port)
        watcher = PortWatcher(
            h.loop, bench.discover, lambda p: lambda: SerialTransport(p), interval_s=0.2
        )
        with watcher:
            h.wait_connected(timeout_s=10)
            h.loop.command(None, "set", "period_ms", "5")
            h.loop.command(None, "start")
            h.wait(lambda: h.intake.count() >= 50, 10)
            board.unplug()  # pulled from one socket...
            bench.pull(board.port)
            board.replug()
            moved = tmp_path / "ttyACM7"
            pty = board.pty_path
            assert pty is not None
            os.symlink(pty, moved)  # ...and plugged into another
            bench.plug(str(moved))
            h.wait(lambda: h.device().link.port == str(moved) and h.device().connected, 10)
            taken = h.loop.read_counters(None).samples_taken
            h.wait(lambda: h.intake.count() >= taken, 10)
    (boot,) = {key[1] for key in h.intake.stored}
    seqs = h.intake.seqs(boot)
    assert seqs == list(range(len(seqs)))  # one boot, contiguous across the move
    assert h.device().device_id == board.device_id
    assert h.device().link.reboots == 0
