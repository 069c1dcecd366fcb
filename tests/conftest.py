"""Suite-wide pytest options (here because pytest reads options only from top-level conftests)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--port",
        default=None,
        help="HIL tests (-m hil) run against the real board on this serial port instead of "
        "the emulator (or set TELEMETRYHUB_HIL_PORT)",
    )
