"""`python -m telemetryhub.emulator`: the port path first, then runs until SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from tests.emulator.conftest import boot_id

pytestmark = pytest.mark.micropython


def test_prints_the_port_first_and_stops_on_sigterm(flash_dir: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "telemetryhub.emulator", "--flash-dir", str(flash_dir)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            port_path = proc.stdout.readline().strip()
            with serial.Serial(port_path, timeout=1) as port:
                assert boot_id(port)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
            assert not Path(port_path).exists()
        finally:
            proc.kill()
