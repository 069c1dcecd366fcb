"""Real mpremote against the emulator: exec while streaming, fs, run, soft and hard reset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import serial

from telemetryhub.emulator import BoardEmulator
from tests.emulator.conftest import boot_id

pytestmark = pytest.mark.micropython


def mpremote(port: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", port, *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_exec_interrupts_the_streaming_main(board: BoardEmulator) -> None:
    with serial.Serial(board.port, timeout=1) as port:
        boot_id(port)
    assert mpremote(board.port, "exec", "print(1+1)") == "2\n"
    assert mpremote(board.port, "resume", "exec", "print(2+3)") == "5\n"


def test_fs_cp_lands_in_the_flash_folder_and_run_executes(
    board: BoardEmulator, tmp_path: Path
) -> None:
    (tmp_path / "hello.py").write_text("print('hello from', __name__)\n")
    mpremote(board.port, "fs", "cp", str(tmp_path / "hello.py"), ":hello.py")
    assert (board.flash_dir / "hello.py").read_text() == "print('hello from', __name__)\n"
    assert "hello.py" in mpremote(board.port, "fs", "ls")
    assert mpremote(board.port, "exec", "import hello") == "hello from hello\n"
    assert mpremote(board.port, "run", str(tmp_path / "hello.py")) == "hello from __main__\n"


def test_reset_runs_main_again_and_soft_reset_keeps_the_repl(board: BoardEmulator) -> None:
    with serial.Serial(board.port, timeout=1) as port:
        before = boot_id(port)
    mpremote(board.port, "soft-reset")
    assert mpremote(board.port, "resume", "exec", "print('alive')") == "alive\n"
    mpremote(board.port, "reset")
    with serial.Serial(board.port, timeout=1) as port:
        assert boot_id(port) != before
