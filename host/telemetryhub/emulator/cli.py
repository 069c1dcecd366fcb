"""`telemetryhub emulate`: run one emulated board until SIGINT/SIGTERM, port path first."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from telemetryhub.emulator.board import DEFAULT_FIRMWARE_DIR, BoardEmulator


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the emulate command."""
    parser = argparse.ArgumentParser(
        prog="telemetryhub emulate",
        description="Run the firmware on the MicroPython unix port behind a serial-like pty.",
    )
    parser.add_argument(
        "--flash-dir",
        type=Path,
        help="folder used as the board's flash, in place (default: a temp copy of the firmware)",
    )
    parser.add_argument(
        "--firmware-dir",
        type=Path,
        default=DEFAULT_FIRMWARE_DIR,
        help="firmware copied into the temp flash when --flash-dir is not given",
    )
    parser.add_argument(
        "--link", type=Path, help="stable symlink path for the port (default: in a temp dir)"
    )
    return parser


def run_emulator(argv: list[str]) -> int:
    """Print the port path (first line, flushed), then run until SIGINT or SIGTERM."""
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with BoardEmulator(
            args.flash_dir, firmware_dir=args.firmware_dir, link_path=args.link
        ) as board:
            print(board.port, flush=True)
            print(f"flash: {board.flash_dir}", flush=True)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m telemetryhub.emulator` and the CLI's emulate command."""
    return run_emulator(sys.argv[1:] if argv is None else argv)
