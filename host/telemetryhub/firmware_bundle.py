"""Where the board firmware is: package data in a wheel, firmware/ in a source checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGED_NAME = "_firmware"  # setup.py's build step copies firmware/ here
PACKAGED = Path(__file__).resolve().parent / PACKAGED_NAME
CHECKOUT = Path(__file__).resolve().parents[2] / "firmware"  # host/telemetryhub/ -> repo root


def firmware_dir() -> Path:
    """The folder of firmware files to put on a board (the packaged copy wins)."""
    for candidate in (PACKAGED, CHECKOUT):
        if (candidate / "main.py").is_file():
            return candidate
    return PACKAGED  # neither: callers refuse it naming this path ("no firmware files in ...")
