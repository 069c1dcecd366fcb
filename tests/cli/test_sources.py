"""`telemetryhub run` with several boards: `--device` repeated, `sim:N`, and SIGHUP adding and
removing boards from the configuration without a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from telemetryhub.store.sqlite import SqliteStore
from tests.cli.test_main import _wait_for_line


def _gateway(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "telemetryhub", "run", "--data-dir", str(tmp_path / "data"),
           "--no-http", *args]  # fmt: skip
    pipe = subprocess.PIPE
    return subprocess.Popen(cmd, env=env, stdout=pipe, stderr=pipe, text=True)


def test_several_devices_flags_read_every_board_into_one_store(tmp_path: Path) -> None:
    proc = _gateway(tmp_path, "--device", "sim:3", "--device", "/dev/ttyNONE", "--duration", "3")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    store = SqliteStore.in_data_dir(tmp_path / "data")
    try:
        assert store.devices() == ["sim-0001", "sim-0002", "sim-0003"]
        assert all(store.count(d) > 10 for d in store.devices())
        assert f"stored     {store.count()} " in out
    finally:
        store.close()
    assert "waiting for a board on /dev/ttyNONE" in err  # the missing one is said, not fatal


def test_sighup_adds_and_removes_boards(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text("[gateway]\ndevice = sim:1\n[device]\nperiod_ms = 20\n")
    proc = _gateway(tmp_path, "--config", str(config))
    lines: list[str] = []
    try:
        _wait_for_line(proc, "sim-0001 state Measuring", lines)
        config.write_text("[gateway]\ndevice = sim:1, /dev/ttyNONE\n[device]\nperiod_ms = 20\n")
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "waiting for a board on /dev/ttyNONE", lines)
        config.write_text("[gateway]\ndevice = /dev/ttyNONE\n[device]\nperiod_ms = 20\n")
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "letting go of sim:1", lines)
        _wait_for_line(proc, "link down: sim:1 was removed", lines)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "telemetryhub stopped:" in out
