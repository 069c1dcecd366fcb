"""The package as a user gets it: an sdist and a wheel built from it, installed in a fresh venv.

One module-scoped build and install (about 10 s), then the commands a new user runs first, from
a directory outside the checkout: --version, emulate, flash (with mpy-cross) and run, each with
the firmware the wheel carries.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.micropython]

ROOT = Path(__file__).resolve().parents[1]
_STEP_TIMEOUT_S = 180


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path
    log: str


@dataclass(frozen=True)
class Installed:
    bin: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "telemetryhub"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def _clean_env() -> dict[str, str]:
    """This environment without anything that would point the venv back at the checkout."""
    drop = ("PYTHONPATH", "COVERAGE_", "TELEMETRYHUB_", "VIRTUAL_ENV", "PYTEST_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    # `build` makes the sdist, then the wheel from the unpacked sdist: an incomplete sdist fails
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=_STEP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist, wheel, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env = _clean_env()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", f"{built.wheel}[emulator,flash]"],
        env=env, capture_output=True, text=True, timeout=_STEP_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    cwd = tmp_path_factory.mktemp("elsewhere")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin"
    return Installed(venv / "bin", cwd, env)


def test_the_sdist_carries_firmware_docs_tests_tools_and_licence(built: Built) -> None:
    with tarfile.open(built.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for path in ("LICENSE", "setup.py", "firmware/main.py", "firmware/README.md",
                 "docs/deploy.md", "tests/test_wheel.py", "tools/check", "tools/setup",
                 "deploy/systemd/telemetryhub.service"):  # fmt: skip
        assert path in names, path
    assert not [n for n in names if "__pycache__" in n or n.endswith(".mpy")]


def test_the_wheel_has_spdx_metadata_firmware_and_built_without_warnings(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as whl:
        names = set(whl.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta_name).decode()
    assert "License-Expression: MIT" in metadata
    assert re.search(r"^Requires-Python: >=3\.11$", metadata, re.MULTILINE)
    assert "Provides-Extra: emulator" in metadata
    assert "Provides-Extra: flash" in metadata
    firmware = (ROOT / "firmware").glob("*.py")
    assert {f"telemetryhub/_firmware/{p.name}" for p in firmware} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "deprecated" not in built.log.lower()  # the old `license` table warned three times


def test_version_runs_from_a_fresh_venv_outside_the_checkout(installed: Installed) -> None:
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "telemetryhub 0.1.0"
    probe = subprocess.run(
        [str(installed.bin / "python"), "-c", "import telemetryhub; print(telemetryhub.__file__)"],
        cwd=installed.cwd, env=installed.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "site-packages" in probe.stdout
    assert str(ROOT) not in probe.stdout


@pytest.fixture
def emulated(installed: Installed) -> Iterator[tuple[str, Path]]:
    """`telemetryhub emulate` from the wheel: (port, flash folder) while it runs."""
    with subprocess.Popen(
        [str(installed.bin / "telemetryhub"), "emulate"],
        cwd=installed.cwd, env=installed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as proc:  # fmt: skip
        try:
            port = _first_line(proc, timeout_s=30)
            assert proc.stdout is not None  # the flash line follows the port line at once
            flash = Path(proc.stdout.readline().strip().removeprefix("flash: "))
            yield port, flash
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout_s), f"emulate printed nothing in {timeout_s} s"
    return proc.stdout.readline().strip()


def _stored(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"^\s*stored\s+(\d+)", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return int(found.group(1))


def test_emulate_flash_and_run_work_from_the_wheel(
    installed: Installed, emulated: tuple[str, Path]
) -> None:
    port, flash = emulated
    assert (flash / "main.py").is_file()  # the emulated board boots the wheel's firmware
    run = ("run", "--no-http", "--duration", "2", "--data-dir", "data", "--device", port)
    assert _stored(installed.run(*run)) > 0

    result = installed.run("flash", "--port", port, "--mpy", timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert "site-packages/telemetryhub/_firmware" in result.stdout
    assert (flash / "app.mpy").is_file()
    assert not (flash / "app.py").exists()
    assert _stored(installed.run(*run)) > 0  # the compiled firmware runs too


def test_run_device_emulator_stores_samples_from_the_wheel(installed: Installed) -> None:
    run = ("run", "--no-http", "--duration", "2", "--data-dir", "data2", "--device", "emulator")
    assert _stored(installed.run(*run)) > 0
