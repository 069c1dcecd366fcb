"""deploy/systemd and deploy/udev: the unit passes `systemd-analyze verify` (every directive known,
with its drop-in), its exposure stays low, and the udev example is well-formed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telemetryhub.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "telemetryhub.service"
INSTALLED = "/opt/telemetryhub/bin/telemetryhub"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze (Debian systemd) is missing"
)


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit and its drop-in, with ExecStart at this venv's telemetryhub (verify checks
    that the binary exists; the unit's own path is where docs/deploy.md installs it)."""
    text = UNIT.read_text()
    assert INSTALLED in text
    here = Path(sys.executable).parent / "telemetryhub"
    (tmp_path / UNIT.name).write_text(text.replace(INSTALLED, str(here)))
    shutil.copytree(SYSTEMD / "telemetryhub.service.d", tmp_path / "telemetryhub.service.d")
    return tmp_path / UNIT.name


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_unit_and_its_credentials_drop_in_verify_without_a_warning(unit: Path) -> None:
    result = _analyze("verify", str(unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # verify only warns (exit 0) about unknown or bad directives
    assert result.stdout == ""


def test_a_misspelt_directive_is_caught_by_the_same_check(unit: Path) -> None:
    dropin = unit.parent / "telemetryhub.service.d" / "credentials.conf"
    dropin.write_text(dropin.read_text() + "LoadCredentail=x:/y\n")
    assert "Unknown key 'LoadCredentail'" in _analyze("verify", str(unit)).stderr


def test_the_unit_is_hardened(unit: Path) -> None:
    # systemd's own exposure score, 0 (locked down) .. 100 (unprotected); ~18 measured
    result = _analyze("security", "--offline=yes", "--threshold=25", str(unit))
    assert result.returncode == 0, result.stdout[-3000:]
    text = UNIT.read_text()
    for line in ("User=telemetryhub", "SupplementaryGroups=dialout", "StateDirectory=telemetryhub",
                 "ConfigurationDirectory=telemetryhub", "Restart=on-failure", "Type=notify",
                 "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "ExecReload=/bin/kill -HUP $MAINPID"):  # fmt: skip
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line


def test_the_sysusers_entry_puts_the_service_user_in_dialout() -> None:
    lines = [
        line.split()
        for line in (SYSTEMD / "telemetryhub.sysusers").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert ["m", "telemetryhub", "dialout"] in lines
    assert lines[0][:2] == ["u", "telemetryhub"]


_UDEV_PAIR = re.compile(r'^\s*([A-Z]+(?:\{[a-zA-Z_]+\})?)\s*(==|!=|\+=|=)\s*"([^"]*)"\s*$')
_UDEV_KEYS = {"SUBSYSTEM", "ATTRS{idVendor}", "ATTRS{idProduct}", "ATTRS{serial}", "SYMLINK",
              "GROUP", "MODE"}  # fmt: skip


def test_the_udev_example_matches_by_serial_and_names_a_stable_link() -> None:
    rules = (ROOT / "deploy" / "udev" / "99-telemetryhub.rules").read_text().splitlines()
    rules = [line for line in rules if line.strip() and not line.startswith("#")]
    assert rules
    for rule in rules:
        pairs = [_UDEV_PAIR.match(part) for part in rule.split(",")]
        assert all(pairs), rule
        found = {m.group(1): (m.group(2), m.group(3)) for m in pairs if m}
        assert set(found) <= _UDEV_KEYS, rule
        assert found["ATTRS{serial}"][0] == "=="
        assert found["SYMLINK"][0] == "+="
        assert found["SYMLINK"][1].startswith("telemetryhub/")


def test_the_service_config_loads_and_bounds_the_store() -> None:
    settings = load_settings(SYSTEMD / "telemetryhub.ini", env={})
    assert settings.store.max_bytes > 0
    assert settings.store.max_age_s > 0
    assert settings.gateway.device[0].startswith("/dev/telemetryhub/")  # the udev example's name
