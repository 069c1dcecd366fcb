"""The `telemetryhub` command: a subcommand table, one `do_X` each, exit codes decided here."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from telemetryhub import __version__
from telemetryhub.config_kinds import PERIOD_MS_MAX
from telemetryhub.errors import ApiError, TelemetryHubError
from telemetryhub.firmware_bundle import firmware_dir
from telemetryhub.models import DEVICE_STATUSES

Handler = Callable[[argparse.Namespace], int]

DEFAULT_URL = "http://127.0.0.1:8080"

# Exit codes, documented in EPILOG and the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's own code for a usage error
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_CONFLICT = 5
EXIT_DEVICE = 6
EXIT_PARTIAL = 7  # set by the remote commands (telemetryhub.cli.remote)
EXIT_INTERRUPTED = 130

# A gateway's HTTP answer -> exit code (status 0: no answer at all).
_API_EXIT = {
    0: EXIT_UNREACHABLE,
    400: EXIT_USAGE,
    401: EXIT_AUTH,
    403: EXIT_AUTH,
    404: EXIT_DEVICE,  # no board of that id (or not a TelemetryHub gateway at that URL)
    409: EXIT_CONFLICT,
    503: EXIT_DEVICE,
    504: EXIT_DEVICE,
}

DESCRIPTION = """\
TelemetryHub: an edge telemetry gateway for MicroPython boards.
`telemetryhub run` reads a board, stores every sample in SQLite and serves the REST API and
dashboard; status, devices, start, stop, reset, fault and period talk to a running gateway over
that API (to every board, or to one with --device-id); emulate, monitor, flash and ports are
bench tools for boards."""

EPILOG = """\
exit codes:
  0    success
  1    error (bad configuration, store or port failure, any other refusal)
  2    usage error (bad arguments; a request the gateway refused as invalid, HTTP 400)
  3    the gateway cannot be reached
  4    not allowed: token missing or wrong (HTTP 401/403)
  5    the device refused the transition in its current state (HTTP 409)
  6    no such device, no device connected, or it did not answer in time (HTTP 404/503/504)
  7    some boards did it and others refused (a line per board says which and why)
  130  interrupted (Ctrl-C)

`telemetryhub COMMAND --help` shows a command's options."""


def do_run(args: argparse.Namespace) -> int:
    from telemetryhub.cli.run import run_gateway

    return run_gateway(args)


def do_emulate(args: argparse.Namespace) -> int:
    from telemetryhub.emulator.cli import run

    return run(args)


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


def do_backup(args: argparse.Namespace) -> int:
    from telemetryhub.cli.export import open_store

    store = open_store(args.data_dir)
    try:
        report = store.backup(args.dest)
    finally:
        store.close()
    print(
        f"backed up {report.samples} samples (schema version {report.schema_version}, "
        f"{report.size_bytes} bytes) to {report.path}"
    )
    return 0


def _remote(name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from telemetryhub.cli import remote

        do: Handler = getattr(remote, f"do_{name}")
        return do(args)

    return handler


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (no upper bound when high is None)."""
    expected = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def directory(text: str) -> Path:
    """An argparse type: a directory path; empty is refused (Path("") would be the current one)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory path, got ''")
    return Path(text)


def gateway_url(text: str) -> str:
    """An argparse type: an http:// or https:// URL."""
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


FAULT_COUNT_MAX = 1_000_000  # the API's limit (schemas.FAULT_SCHEMA)


def check_fault(args: argparse.Namespace) -> str | None:
    """Sets args.probability and args.count from `mode amount`; a usage problem, or None."""
    mode, amount = str(args.mode), args.amount
    args.probability, args.count = 0.0, 0
    if mode == "none":
        return None if amount is None else f"fault none takes no amount, got {amount!r}"
    if mode == "random":
        if amount is None:
            return "fault random needs a probability 0..1, e.g. `fault random 0.1`"
        try:
            args.probability = float(amount)
        except ValueError:
            args.probability = math.nan
        if not 0.0 <= args.probability <= 1.0:
            return f"fault random: the probability must be a number 0..1, got {amount!r}"
        return None
    if amount is None:
        return f"fault {mode} needs a count of samples 1..{FAULT_COUNT_MAX}, e.g. `fault {mode} 8`"
    try:
        args.count = int_in(1, FAULT_COUNT_MAX)(amount)
    except argparse.ArgumentTypeError:
        return f"fault {mode}: expected a count of samples 1..{FAULT_COUNT_MAX}, got {amount!r}"
    return None


def _add_remote_options(parser: argparse.ArgumentParser, one_board: bool = True) -> None:
    parser.add_argument(
        "--url", type=gateway_url, default=DEFAULT_URL, help="gateway URL (default %(default)s)"
    )
    parser.add_argument("--token", default=None, help="bearer token (or TELEMETRYHUB_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    if one_board:
        parser.add_argument(
            "--device-id", metavar="ID", help="only this board (default: every connected board)"
        )


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the gateway", description="Run the gateway.")
    run.add_argument(
        "--device",
        action="append",
        help="a board to read: sim, sim:N, emulator, emulator:N, auto (every board plugged in, "
        "now or later) or a serial port path; give it several times for several boards",
    )
    run.add_argument(
        "--config",
        type=Path,
        action="append",
        metavar="PATH",
        help="INI file, or a directory of *.ini files read by name (a config.d); repeat to "
        "overlay, later ones win key by key (e.g. base.ini, then site.ini)",
    )
    run.add_argument("--data-dir", type=directory, help="where the store and tokens live")
    run.add_argument(
        "--http", metavar="HOST:PORT", help="REST API address (default 127.0.0.1:8080)"
    )
    run.add_argument("--no-http", action="store_true", help="do not serve the REST API")
    run.add_argument("--log-level", help="debug | info | warning | error")
    run.add_argument("--log-format", choices=["text", "json"], help="log line format")
    run.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    run.set_defaults(handler=do_run)


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from telemetryhub.emulator.cli import DESCRIPTION as EMULATE
    from telemetryhub.emulator.cli import add_arguments

    emulate = sub.add_parser(
        "emulate", help="run the real firmware on MicroPython behind a pty", description=EMULATE
    )
    add_arguments(emulate)
    emulate.set_defaults(handler=do_emulate)

    monitor = sub.add_parser("monitor", help="print decoded frames from a board live")
    monitor.add_argument("port", help="the board's serial port, e.g. /dev/ttyACM0")
    monitor.add_argument("--json", action="store_true", help="JSON lines")
    monitor.add_argument("--count", type=int_in(1), help="stop after this many samples")
    monitor.add_argument("--no-start", action="store_true", help="do not send `start`")
    monitor.set_defaults(handler=do_monitor)

    flash = sub.add_parser("flash", help="deploy the firmware with mpremote and reset the board")
    flash.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyACM0")
    flash.add_argument("--mpy", action="store_true", help="compile with mpy-cross first")
    flash.add_argument("--firmware-dir", default=str(firmware_dir()), help=argparse.SUPPRESS)
    flash.set_defaults(handler=do_flash)

    ports = sub.add_parser("ports", help="serial ports that look like boards")
    ports.add_argument("--usb-serial", help="only the board with this USB serial number")
    ports.set_defaults(handler=do_ports)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=directory,
        default=Path("telemetryhub-data"),
        help="the gateway's data directory holding telemetry.db (default %(default)s)",
    )


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="print stored samples as CSV or JSON lines")
    _add_data_dir(export)
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument(
        "--device", action="append", metavar="ID", help="only this device id (repeatable)"
    )
    export.add_argument("--since", help="ISO 8601 time or seconds since the epoch")
    export.add_argument("--until", help="ISO 8601 time or seconds since the epoch")
    export.add_argument(
        "--limit",
        type=int_in(1),
        metavar="N",
        help="at most N samples, oldest first (default all)",
    )
    export.set_defaults(handler=do_export)

    backup = sub.add_parser(
        "backup",
        help="copy a live store consistently (SQLite online backup)",
        description="Copy the store, while the gateway runs, to DEST (a new file, or a "
        "directory for telemetry-<UTC time>.db), checked with PRAGMA integrity_check. "
        "Restore: stop the gateway, copy the backup to DATA_DIR/telemetry.db, start it.",
    )
    backup.add_argument("dest", type=Path, help="a new file, or an existing directory")
    _add_data_dir(backup)
    backup.set_defaults(handler=do_backup)


def _add_remote(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in [
        ("status", "show a running gateway's status"),
        ("start", "start measuring"),
        ("stop", "stop measuring"),
        ("reset", "reset the device (leaves SafeState)"),
    ]:
        remote = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _add_remote_options(remote)
        remote.set_defaults(handler=_remote(name))

    devices = sub.add_parser("devices", help="list the boards a running gateway knows")
    devices.add_argument(
        "--state",
        action="append",
        choices=DEVICE_STATUSES,
        help="only boards in this state (repeatable)",
    )
    _add_remote_options(devices, one_board=False)
    devices.set_defaults(handler=_remote("devices"))

    fault = sub.add_parser(
        "fault",
        help="inject a fault: none | random P | intermittent N | deterministic N",
        description="Inject a fault into the board's samples.",
    )
    fault.add_argument("mode", choices=["none", "random", "intermittent", "deterministic"])
    fault.add_argument(
        "amount",
        nargs="?",
        help="random: the probability 0..1 of each sample being faulty; "
        f"intermittent, deterministic: the count of samples 1..{FAULT_COUNT_MAX}",
    )
    _add_remote_options(fault)
    fault.set_defaults(handler=_remote("fault"), check=check_fault)

    period = sub.add_parser("period", help="set the sampling period in milliseconds")
    period.add_argument("period_ms", type=int_in(1, PERIOD_MS_MAX), help=f"1..{PERIOD_MS_MAX} ms")
    _add_remote_options(period)
    period.set_defaults(handler=_remote("period"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telemetryhub",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"telemetryhub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_bench(sub)
    _add_export(sub)
    _add_remote(sub)
    for command in sub.choices.values():
        command.set_defaults(parser=command)
    return parser


def exit_code(exc: TelemetryHubError) -> int:
    """The documented exit code for a domain error (see EPILOG)."""
    if isinstance(exc, ApiError):
        return _API_EXIT.get(exc.status, EXIT_ERROR)
    return EXIT_ERROR


def _hint(exc: TelemetryHubError) -> str:
    if isinstance(exc, ApiError) and exc.status == 401:
        return " (pass --token or set TELEMETRYHUB_TOKEN: the operator token `run` printed)"
    if isinstance(exc, ApiError) and exc.status == 403:
        return " (this needs the operator token; a viewer token only reads)"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: usage problems exit 2, domain errors their EPILOG code, here only."""
    args = build_parser().parse_args(argv)
    check: Callable[[argparse.Namespace], str | None] | None = getattr(args, "check", None)
    problem = check(args) if check is not None else None
    if problem is not None:
        args.parser.error(problem)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TelemetryHubError as exc:
        print(f"telemetryhub {args.command}: {exc}{_hint(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`telemetryhub status | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
