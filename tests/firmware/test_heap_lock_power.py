"""The whole-step heap-lock test catches an allocation planted anywhere on the per-sample path.

Each case copies firmware/ with one allocation planted, runs the MicroPython test that locks
the heap around whole loop steps, and expects it to fail with MemoryError (a mutation check).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.firmware.conftest import FIRMWARE_DIR, MICROPYTHON, MP_DIR, micropython_env

pytestmark = pytest.mark.micropython

_TEST = (
    "test_memory",
    "test_whole_loop_steps_allocate_nothing_in_every_fault_mode_and_on_a_slow_link",
)

# (file, the line as it is, the same line with an allocation planted)
PLANTED = {
    "scheduling": (
        "app.py",
        "        period = self.period_ms\n",
        "        period = [self.period_ms][0]\n",
    ),
    "random fault branch": (
        "faults.py",
        "            return self.rng.next() < self.threshold\n",
        "            return [self.rng.next()][0] < self.threshold\n",
    ),
    "intermittent fault branch": (
        "faults.py",
        "                self.phase += 1\n",
        "                self.phase += len((1, [2]))\n",
    ),
    "input polling": (
        "app.py",
        "        chunk = self._chunk\n",
        "        chunk = [self._chunk][0]\n",
    ),
}


def run_memory_test(firmware: Path) -> subprocess.CompletedProcess[str]:
    env = micropython_env()
    env["MICROPYPATH"] = f"{firmware}:{MP_DIR}:.frozen"
    return subprocess.run(
        [str(MICROPYTHON), "run.py", *_TEST],
        cwd=MP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_unplanted_firmware_passes(tmp_path: Path) -> None:
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    proc = run_memory_test(firmware)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("where", sorted(PLANTED))
def test_an_allocation_planted_on_the_sample_path_fails_the_test(
    tmp_path: Path, where: str
) -> None:
    name, line, planted = PLANTED[where]
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    source = (firmware / name).read_text()
    assert source.count(line) == 1, f"{line!r} is not once in {name}: update PLANTED"
    (firmware / name).write_text(source.replace(line, planted))
    proc = run_memory_test(firmware)
    assert proc.returncode != 0
    assert "MemoryError" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
