"""The client commands (status, start, stop, reset, fault, period) against a running gateway."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping

from telemetryhub.api.client import GatewayClient, JsonObject

TOKEN_ENV = "TELEMETRYHUB_TOKEN"

Call = Callable[[GatewayClient], JsonObject]
Printer = Callable[[JsonObject], None]


def do_status(args: argparse.Namespace) -> int:
    """Print the gateway's status."""
    return _run(args, lambda c: c.status(), _print_status)


def do_start(args: argparse.Namespace) -> int:
    """Start measuring."""
    return _run(args, lambda c: c.start(), _done("started"))


def do_stop(args: argparse.Namespace) -> int:
    """Stop measuring."""
    return _run(args, lambda c: c.stop(), _done("stopped"))


def do_reset(args: argparse.Namespace) -> int:
    """Reset the device."""
    return _run(args, lambda c: c.reset(), _done("reset"))


def do_fault(args: argparse.Namespace) -> int:
    """Inject a fault; main's check_fault has set args.probability and args.count."""
    mode, probability, count = str(args.mode), float(args.probability), int(args.count)
    return _run(
        args, lambda c: c.fault(mode, probability, count), _done(f"fault mode set to {mode}")
    )


def do_period(args: argparse.Namespace) -> int:
    """Set the sampling period."""
    period_ms = int(args.period_ms)
    return _run(args, lambda c: c.period(period_ms), _done(f"period set to {period_ms} ms"))


def _run(args: argparse.Namespace, call: Call, show: Printer) -> int:
    """One call; an ApiError goes up to main(), which picks the exit code from its status."""
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV)
    answer = call(GatewayClient(str(args.url), token))
    if getattr(args, "json", False):
        print(json.dumps(answer, indent=2))
    else:
        show(answer)
    return 0


def _done(text: str) -> Printer:
    def show(_answer: JsonObject) -> None:
        print(text)

    return show


def _print_status(status: JsonObject) -> None:
    sample = status.get("latest_sample")
    print(f"state:   {status.get('state')}")
    if isinstance(sample, Mapping):
        print(f"latest:  {sample.get('value')} {sample.get('unit', '')} (seq {sample.get('seq')})")
    else:
        print("latest:  no sample yet")
    for title in ("metrics", "link", "device"):
        section = status.get(title)
        if not isinstance(section, Mapping):
            print(f"{title + ':':<8} none")
            continue
        print(f"{title}:")
        for key, value in section.items():
            if not isinstance(value, Mapping | list):
                print(f"  {key:<24} {value}")
