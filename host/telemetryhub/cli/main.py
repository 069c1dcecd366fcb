"""The `telemetryhub` command: a subcommand table, one `do_X` each, exit codes decided here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from telemetryhub import __version__
from telemetryhub.errors import TelemetryHubError

Handler = Callable[[argparse.Namespace], int]

DEFAULT_URL = "http://127.0.0.1:8080"


def do_run(args: argparse.Namespace) -> int:
    from telemetryhub.cli.run import run_gateway

    return run_gateway(args)


def do_emulate(args: argparse.Namespace) -> int:
    from telemetryhub.emulator.cli import run_emulator

    return run_emulator(list(args.emulator_args))


def do_monitor(args: argparse.Namespace) -> int:
    from telemetryhub.cli.bench import monitor

    return monitor(args.port, json_lines=args.json, count=args.count, start=not args.no_start)


def do_flash(args: argparse.Namespace) -> int:
    from telemetryhub.deploy import flash

    flash(args.port, Path(args.firmware_dir), compile_mpy=args.mpy)
    print(f"flashed {args.firmware_dir} to {args.port} and reset the board")
    return 0


def do_ports(args: argparse.Namespace) -> int:
    from telemetryhub.transport.discovery import find_boards

    boards = find_boards(args.usb_serial)
    for board in boards:
        print(board.describe())
    if not boards:
        print("no serial port looks like a MicroPython board", file=sys.stderr)
    return 0


def do_export(args: argparse.Namespace) -> int:
    from telemetryhub.cli.export import export_samples

    return export_samples(args)


def _remote(name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from telemetryhub.cli import remote

        do: Handler = getattr(remote, f"do_{name}")
        return do(args)

    return handler


def _add_remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="gateway URL (default %(default)s)")
    parser.add_argument("--token", default=None, help="bearer token (or TELEMETRYHUB_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetryhub", description=__doc__)
    parser.add_argument("--version", action="version", version=f"telemetryhub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--device", help="sim | emulator | auto | a serial port path")
    run.add_argument("--config", type=Path, help="INI configuration file")
    run.add_argument("--data-dir", type=Path, help="where the store and tokens live")
    run.add_argument(
        "--http", metavar="HOST:PORT", help="REST API address (default 127.0.0.1:8080)"
    )
    run.add_argument("--no-http", action="store_true", help="do not serve the REST API")
    run.add_argument("--log-level", help="debug | info | warning | error")
    run.add_argument("--log-format", choices=["text", "json"], help="log line format")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.set_defaults(handler=do_run)

    emulate = sub.add_parser(
        "emulate",
        help="run the firmware on MicroPython behind a pty (--flash-dir DIR, --link PATH)",
        add_help=False,
    )
    emulate.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulate.set_defaults(handler=do_emulate)

    monitor = sub.add_parser("monitor", help="print decoded frames from a board live")
    monitor.add_argument("port")
    monitor.add_argument("--json", action="store_true", help="JSON lines")
    monitor.add_argument("--count", type=int, help="stop after this many samples")
    monitor.add_argument("--no-start", action="store_true", help="do not send `start`")
    monitor.set_defaults(handler=do_monitor)

    flash = sub.add_parser("flash", help="deploy the firmware with mpremote and reset the board")
    flash.add_argument("--port", required=True)
    flash.add_argument("--mpy", action="store_true", help="compile with mpy-cross first")
    flash.add_argument("--firmware-dir", default=str(_firmware_dir()), help=argparse.SUPPRESS)
    flash.set_defaults(handler=do_flash)

    ports = sub.add_parser("ports", help="serial ports that look like boards")
    ports.add_argument("--usb-serial", help="only the board with this USB serial number")
    ports.set_defaults(handler=do_ports)

    export = sub.add_parser("export", help="print stored samples as CSV or JSON lines")
    export.add_argument("--data-dir", type=Path, default=Path("telemetryhub-data"))
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--device", help="only this device id")
    export.add_argument("--since", help="ISO 8601 time or seconds since the epoch")
    export.add_argument("--until", help="ISO 8601 time or seconds since the epoch")
    export.add_argument("--limit", type=int, default=None)
    export.set_defaults(handler=do_export)

    for name, text in [
        ("status", "show a running gateway's status"),
        ("start", "start measuring"),
        ("stop", "stop measuring"),
        ("reset", "reset the device (leaves SafeState)"),
    ]:
        remote = sub.add_parser(name, help=text)
        _add_remote_options(remote)
        remote.set_defaults(handler=_remote(name))
    fault = sub.add_parser("fault", help="inject a fault: none | random P | intermittent N | ...")
    fault.add_argument("mode", choices=["none", "random", "intermittent", "deterministic"])
    fault.add_argument("amount", nargs="?", help="probability (random) or count (others)")
    _add_remote_options(fault)
    fault.set_defaults(handler=_remote("fault"))
    return parser


def _firmware_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "firmware"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: domain errors become exit code 1 with their message, here only."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TelemetryHubError as exc:
        print(f"telemetryhub {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`telemetryhub status | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
