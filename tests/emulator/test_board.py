"""BoardEmulator seen through pyserial: streaming, reopen, power cycle, unplug, Ctrl-C, Ctrl-D."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial

from telemetryhub.emulator import BoardEmulator
from telemetryhub.protocol import Command, Frame, FrameDecoder, Hello, encode_command
from tests.emulator.conftest import boot_id, read_until

pytestmark = pytest.mark.micropython


def read_until_failure(port: serial.Serial, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        port.read(64)


def test_host_reads_closes_and_reopens_without_the_board_rebooting(
    board: BoardEmulator,
) -> None:
    for _ in range(3):
        with serial.Serial(board.port, timeout=1) as port:
            first = boot_id(port)
        with serial.Serial(board.port, timeout=1) as port:
            assert boot_id(port) == first
    assert board.boot_count == 1


def test_power_cycle_gives_a_new_boot(board: BoardEmulator) -> None:
    with serial.Serial(board.port, timeout=1) as port:
        before = boot_id(port)
        board.power_cycle()
        read_until(port, lambda d: b"boot " in d and not d.endswith(before))
        assert boot_id(port) != before
    assert board.boot_count == 2


def test_unplug_fails_reads_and_replug_brings_the_port_back(board: BoardEmulator) -> None:
    port = serial.Serial(board.port, timeout=1)
    before = boot_id(port)
    board.unplug()
    assert not Path(board.port).exists()
    assert board.pty_path is None
    with pytest.raises(serial.SerialException):  # in_waiting raises OSError(EIO), as on ACM
        read_until_failure(port)
    port.close()
    with pytest.raises(serial.SerialException):
        serial.Serial(board.port, timeout=1)
    board.replug()
    assert board.pty_path is not None  # the kernel may reuse the pts number
    with serial.Serial(board.port, timeout=1) as port:
        assert boot_id(port) == before  # a self-powered board keeps running


def test_ctrl_c_interrupts_main_and_ctrl_d_soft_reboots_into_main(
    board: BoardEmulator,
) -> None:
    with serial.Serial(board.port, timeout=1) as port:
        before = boot_id(port)
        port.write(b"\x03")
        read_until(port, lambda d: b"KeyboardInterrupt" in d and d.endswith(b">>> "))
        port.write(b"print(6*7)\r")
        read_until(port, lambda d: b"42\r\n>>> " in d or b"42\n>>> " in d)
        port.write(b"\x04")
        read_until(port, lambda d: b"MPY: soft reboot\r\n" in d)
        assert boot_id(port) != before


def test_board_without_main_py_boots_to_the_repl(tmp_path: Path) -> None:
    with BoardEmulator(tmp_path) as board, serial.Serial(board.port, timeout=1) as port:
        port.write(b"\r")
        read_until(port, lambda d: d.endswith(b">>> "))
        port.write(b"\x03")  # Ctrl-C at an idle REPL is a byte, not a fatal SIGINT
        port.write(b"1+2\r")
        read_until(port, lambda d: b"1+2\r\n3\n>>> " in d)
        assert board.boot_count == 1


def test_machine_reset_restarts_main_without_a_soft_reboot_banner(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "import os, sys, machine\n"
        "boot = os.urandom(4).hex()\n"
        "while True:\n"
        "    print('boot', boot)\n"
        "    if sys.stdin.buffer.read(1) == b'r':\n"
        "        machine.reset()\n"
    )
    with BoardEmulator(tmp_path) as board, serial.Serial(board.port, timeout=1) as port:
        port.write(b"\n")
        first = read_until(port, lambda d: d.endswith(b"\n") and b"boot " in d).split()[-1]
        port.write(b"r")
        data = read_until(port, lambda d: d.endswith(b"\n") and d.split()[-1] != first)
        assert b"soft reboot" not in data
        assert board.boot_count == 2


def test_stop_is_idempotent_and_removes_the_port(flash_dir: Path) -> None:
    board = BoardEmulator(flash_dir)
    board.start()
    link = Path(board.port)
    assert link.is_symlink()
    board.stop()
    board.stop()
    assert not link.exists()
    assert (flash_dir / "main.py").exists()


def _hello_reset_cause(port: serial.Serial) -> int:
    """The reset cause in the next HELLO from the real firmware (sent at boot or on `hello`)."""
    decoder = FrameDecoder()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for item in decoder.feed(port.read(max(1, port.in_waiting))):
            if isinstance(item, Frame) and isinstance(item.payload, Hello):
                return item.payload.reset_cause
    raise AssertionError("no HELLO within 5 s")


def test_the_firmware_reports_power_on_soft_and_hard_resets_apart() -> None:
    # the unix port is restarted for every kind of reset; the emulator tells the HAL which one
    with BoardEmulator() as board, serial.Serial(board.port, timeout=0.1) as port:
        hello = encode_command(Command(1, "hello"))
        port.write(hello)
        assert _hello_reset_cause(port) == 1  # power-on
        port.write(b"\x03")  # Ctrl-C: main.py stops, the REPL takes over
        read_until(port, lambda d: d.endswith(b">>> "))
        port.write(b"\x04")  # Ctrl-D at the friendly REPL: soft reboot, main.py runs again
        assert _hello_reset_cause(port) == 2
        board.power_cycle()
        assert _hello_reset_cause(port) == 1
        port.write(b"\x03")
        read_until(port, lambda d: d.endswith(b">>> "))
        port.write(b"import machine; machine.reset()\r")
        assert _hello_reset_cause(port) == 4  # hard reset
