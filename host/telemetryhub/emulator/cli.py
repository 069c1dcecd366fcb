"""`telemetryhub emulate`: run one emulated board until SIGINT/SIGTERM, port path first."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from telemetryhub.emulator.board import DEFAULT_FIRMWARE_DIR, BoardEmulator

DESCRIPTION = "Run the firmware on the MicroPython unix port behind a serial-like pty."


def _directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def _link_path(text: str) -> Path:
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: its directory {path.parent} does not exist")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulate options, on the CLI's subparser or on this module's own parser."""
    parser.add_argument(
        "--flash-dir",
        type=_directory,
        help="folder used as the board's flash, in place (default: a temp copy of the firmware)",
    )
    parser.add_argument(
        "--firmware-dir",
        type=_directory,
        default=DEFAULT_FIRMWARE_DIR,
        help="firmware copied into the temp flash when --flash-dir is not given",
    )
    parser.add_argument(
        "--link", type=_link_path, help="stable symlink path for the port (default: in a temp dir)"
    )
    parser.add_argument(
        "--device-id",
        help="the board's device id (default: unix- and 8 hex digits, fixed by --flash-dir, "
        "else random: distinct boards have distinct ids)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `python -m telemetryhub.emulator`."""
    parser = argparse.ArgumentParser(prog="telemetryhub emulate", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the port path (first line, flushed), then run until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with BoardEmulator(
            args.flash_dir,
            firmware_dir=args.firmware_dir,
            link_path=args.link,
            device_id=args.device_id,
        ) as board:
            print(board.port, flush=True)
            print(f"flash: {board.flash_dir}", flush=True)
            print(f"device id: {board.device_id}", flush=True)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def run_emulator(argv: list[str]) -> int:
    """Parse `argv` as the emulate options, then run."""
    return run(build_parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m telemetryhub.emulator`."""
    return run_emulator(sys.argv[1:] if argv is None else argv)
