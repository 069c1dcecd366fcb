"""The client commands against a running gateway: status, devices, and the commands (start,
stop, reset, fault, period) to every connected board or, with --device-id, to one."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from telemetryhub.api.client import GatewayClient, JsonObject
from telemetryhub.api.contracts import board_status

TOKEN_ENV = "TELEMETRYHUB_TOKEN"
EXIT_PARTIAL = 7  # some boards did it, others refused (each board's line says why)

Call = Callable[[GatewayClient], JsonObject]


def do_status(args: argparse.Namespace) -> int:
    """Print the fleet's status, or one board's with --device-id."""
    device_id = _device_id(args)
    if device_id is None:
        return _show(args, lambda c: c.status(), _print_status)
    return _show(args, lambda c: c.device(device_id), _print_status)


def do_devices(args: argparse.Namespace) -> int:
    """Print every board the gateway knows as a table (or JSON)."""
    states: Sequence[str] = args.state or ()
    answer = _client(args).devices(states)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    listed = answer["devices"]
    now_s = answer.get("ts")  # the gateway's clock: ages without the skew of ours
    rows = [d for d in listed if isinstance(d, Mapping)] if isinstance(listed, list) else []
    print_devices_table(rows, float(now_s) if isinstance(now_s, int | float) else time.time())
    return 0


def do_start(args: argparse.Namespace) -> int:
    """Start measuring."""
    return _command(args, "started", lambda c: c.start(_device_id(args)))


def do_stop(args: argparse.Namespace) -> int:
    """Stop measuring."""
    return _command(args, "stopped", lambda c: c.stop(_device_id(args)))


def do_reset(args: argparse.Namespace) -> int:
    """Reset the board(s)."""
    return _command(args, "reset", lambda c: c.reset(_device_id(args)))


def do_fault(args: argparse.Namespace) -> int:
    """Inject a fault; main's check_fault has set args.probability and args.count."""
    mode, probability, count = str(args.mode), float(args.probability), int(args.count)
    return _command(
        args,
        f"fault mode set to {mode}",
        lambda c: c.fault(mode, probability, count, device_id=_device_id(args)),
    )


def do_period(args: argparse.Namespace) -> int:
    """Set the sampling period."""
    period_ms = int(args.period_ms)
    return _command(
        args, f"period set to {period_ms} ms", lambda c: c.period(period_ms, _device_id(args))
    )


def _client(args: argparse.Namespace) -> GatewayClient:
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV)
    return GatewayClient(str(args.url), token)


def _device_id(args: argparse.Namespace) -> str | None:
    device_id = getattr(args, "device_id", None)
    return None if device_id is None else str(device_id)


def _show(args: argparse.Namespace, call: Call, show: Callable[[JsonObject], None]) -> int:
    """One read; an ApiError goes up to main(), which picks the exit code from its status."""
    answer = call(_client(args))
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        show(answer)
    return 0


def _command(args: argparse.Namespace, done: str, call: Call) -> int:
    """One command: a line per board ("<id>: started" or why not); EXIT_PARTIAL when some
    board refused while others did it (when every board refused, the API answered an error)."""
    answer = call(_client(args))
    outcomes = answer.get("devices")
    outcomes = outcomes if isinstance(outcomes, Mapping) else {}
    refused = [d for d, outcome in outcomes.items() if outcome != "ok"]
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        for device_id, outcome in outcomes.items():
            print(f"{device_id}: {done}" if outcome == "ok" else f"{device_id}: {outcome}")
    if refused:
        print(
            f"telemetryhub {args.command}: {len(refused)} of {len(outcomes)} boards refused: "
            f"{', '.join(refused)}",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return 0


def _print_status(status: JsonObject) -> None:
    sample = status.get("latest_sample")
    print(f"state:   {status.get('state')}")
    if isinstance(sample, Mapping):
        print(f"latest:  {sample.get('value')} {sample.get('unit', '')} (seq {sample.get('seq')})")
    else:
        print("latest:  no sample yet")
    devices = status.get("devices")
    if isinstance(devices, list):
        connected = sum(1 for d in devices if isinstance(d, Mapping) and d.get("connected"))
        print(f"boards:  {len(devices)} known, {connected} connected (`telemetryhub devices`)")
    for title in ("metrics", "link", "device"):
        section = status.get(title)
        if not isinstance(section, Mapping):
            print(f"{title + ':':<8} none")
            continue
        print(f"{title}:")
        for key, value in section.items():
            if not isinstance(value, Mapping | list):
                print(f"  {key:<24} {value}")


_COLUMNS = ("DEVICE", "STATE", "LATEST", "LAST SEEN", "LOST", "PORT", "LAST ERROR")


def print_devices_table(devices: Sequence[Mapping[str, object]], now_s: float) -> None:
    """One line per board, columns aligned; `now_s` dates the `last seen` ages."""
    rows = [_row(d, now_s) for d in devices]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(_COLUMNS)]
    for row in (_COLUMNS, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if not rows:
        print("(no board known)")


def _row(device: Mapping[str, object], now_s: float) -> tuple[str, ...]:
    sample = device.get("latest_sample")
    latest = "-"
    if isinstance(sample, Mapping):
        latest = f"{sample.get('value')} {sample.get('unit', '')}".strip()
    seen = device.get("last_seen")
    age = f"{max(0.0, now_s - seen):.1f} s ago" if isinstance(seen, int | float) else "never"
    return (
        str(device.get("device_id")),
        board_status(device),
        latest,
        age,
        str(device.get("samples_lost", 0)),
        str(device.get("port") or "-"),
        str(device.get("last_error") or "-"),
    )
