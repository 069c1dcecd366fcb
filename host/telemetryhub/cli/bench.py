"""Bench commands of the CLI: `telemetryhub monitor PORT` over the device monitor."""

from __future__ import annotations

import contextlib
import sys

from telemetryhub.device import monitor as device_monitor
from telemetryhub.transport.serial_port import SerialTransport


def monitor(
    port: str, *, json_lines: bool = False, count: int | None = None, start: bool = True
) -> int:
    """Print the board's decoded frames on stdout until `count` samples or Ctrl-C; exit code 0.

    A port that fails raises TransportError (main() turns it into exit code 1).
    """
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a bench user ends it
        device_monitor.monitor(
            lambda: SerialTransport(port),
            sys.stdout,
            json_lines=json_lines,
            count=count,
            start=start,
        )
    return 0
