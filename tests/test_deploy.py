"""flash(): deploy a firmware folder to the emulator with mpremote, as source and as .mpy."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from telemetryhub.cli.main import main
from telemetryhub.deploy import flash
from telemetryhub.emulator import BoardEmulator
from telemetryhub.protocol import Command, encode_command
from tests.emulator.conftest import read_until

pytestmark = pytest.mark.micropython

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    fw = tmp_path / "firmware"
    (fw / "pkg").mkdir(parents=True)
    (fw / "pkg" / "__init__.py").write_text("")
    (fw / "pkg" / "greet.py").write_text("def text():\n    return 'deployed'\n")
    (fw / "main.py").write_text(
        "import sys\n"
        "from pkg import greet\n"
        "for _ in range(1000):\n"
        "    print(greet.text(), greet.__file__)\n"
        "    sys.stdin.buffer.read(1)\n"
    )
    (fw / "__pycache__").mkdir()
    (fw / "__pycache__" / "junk.pyc").write_bytes(b"x")
    return fw


@pytest.mark.parametrize("compile_mpy", [False, True])
def test_flash_copies_the_firmware_and_resets_into_the_new_main(
    firmware: Path, tmp_path: Path, compile_mpy: bool
) -> None:
    flash_dir = tmp_path / "flash"
    flash_dir.mkdir()
    (flash_dir / "main.py").write_text("print('old firmware')\n")
    (flash_dir / "pkg").mkdir()
    (flash_dir / "pkg" / "greet.py").write_text("def text():\n    return 'stale'\n")
    with BoardEmulator(flash_dir) as board:
        report = flash(board.port, firmware, compile_mpy=compile_mpy)
        with serial.Serial(board.port, timeout=1) as port:
            port.write(b"\n")
            line = read_until(port, lambda d: d.endswith(b"\n") and b"deployed" in d)
        suffix = ".mpy" if compile_mpy else ".py"
        assert line.split()[-1].endswith(b"greet" + suffix.encode())
        assert (flash_dir / "pkg" / f"greet{suffix}").is_file()
        assert (flash_dir / "pkg" / "greet.py").exists() is not compile_mpy
        assert (flash_dir / "main.py").read_text() == (firmware / "main.py").read_text()
        assert not (flash_dir / "__pycache__").exists()
        assert ("pkg/greet.py" in report.compiled) is compile_mpy
        assert "main.py" in report.files


def test_cli_flash_deploys_the_real_firmware_compiled_and_the_board_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flash_dir = tmp_path / "flash"
    flash_dir.mkdir()
    (flash_dir / "main.py").write_text("print('old firmware')\n")
    with BoardEmulator(flash_dir) as board:
        assert main(["flash", "--port", board.port, "--mpy"]) == 0
        assert "reset the board" in capsys.readouterr().out
        assert (flash_dir / "app.mpy").is_file()
        assert (flash_dir / "main.py").read_text() == (FIRMWARE / "main.py").read_text()
        with serial.Serial(board.port, timeout=1) as port:  # the new firmware says HELLO
            port.write(encode_command(Command(1, "hello")))
            data = read_until(port, lambda d: b"telemetryhub-fw" in d)
        assert b"telemetryhub-fw" in data
