"""`telemetryhub monitor`: prints a board's decoded frames live, one line (or JSON object) each.

It runs the gateway's own link loop on one port, so the handshake, the revival of a board left
at the REPL and the acks are the gateway's; what it adds is a tap that prints every frame and an
Intake that settles each batch at once (the monitor stores nothing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from typing import TextIO

from telemetryhub.device.base import LinkChange, SampleBatch, StateChange
from telemetryhub.errors import TelemetryHubError
from telemetryhub.fleet.loop import LinkLoop
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.protocol import ConsoleText, DecodedItem, Frame, Samples


class _Printer:
    """The tap and the Intake of the monitor's loop (both run on the loop's thread)."""

    def __init__(self, out: TextIO, json_lines: bool, count: int | None) -> None:
        self.out = out
        self.json_lines = json_lines
        self.count = count
        self.seen = 0
        self.done = threading.Event()
        self.connected = threading.Event()
        self.loop: LinkLoop | None = None

    def tap(self, item: DecodedItem) -> None:
        if self.done.is_set():
            return
        self.out.write(_render(item, self.json_lines) + "\n")
        self.out.flush()
        if isinstance(item, Frame) and isinstance(item.payload, Samples):
            self.seen += len(item.payload.samples)
            if self.count is not None and self.seen >= self.count:
                self.done.set()

    def offer(self, batch: SampleBatch) -> bool:
        if self.loop is not None:  # printed by the tap: settle at once, so the board frees them
            self.loop.settle(
                batch.device.device_id, batch.device.boot_id, [s.seq for s in batch.samples]
            )
        return True

    def note(self, event: StateChange | LinkChange) -> None:
        if isinstance(event, LinkChange) and event.connected:
            self.connected.set()

    def overloaded(self) -> bool:
        return False  # it stores nothing: it can always take more


def monitor(
    factory: TransportFactory,
    out: TextIO,
    *,
    json_lines: bool = False,
    count: int | None = None,
    start: bool = True,
    stop: threading.Event | None = None,
    connect_timeout_s: float = 10.0,
) -> int:
    """Connect to the board (`start` it), print every frame until `count` samples or `stop`.

    Returns the number of samples printed. Raises TelemetryHubError if no board answers
    within `connect_timeout_s`.
    """
    stop = stop or threading.Event()
    printer = _Printer(out, json_lines, count)
    loop = printer.loop = LinkLoop(printer)
    loop.add_port("monitor", factory, tap=printer.tap)
    loop.start()
    try:
        if not _wait_any(printer.connected, stop, connect_timeout_s):
            if stop.is_set():
                return printer.seen
            ports = loop.ports()
            reason = ports[0].last_error if ports else None
            raise TelemetryHubError(f"no board answered within {connect_timeout_s} s: {reason}")
        if start:
            # already measuring (or in SafeState) is no reason to stop: the frames show which
            with contextlib.suppress(TelemetryHubError):
                loop.command(None, "start")
        _wait_any(printer.done, stop, None)
        return printer.seen
    finally:
        loop.close()


def _wait_any(event: threading.Event, stop: threading.Event, timeout_s: float | None) -> bool:
    """Wait for `event` until `stop` or the timeout; True if `event` happened."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not event.wait(0.05):
        if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
            return False
    return True


def _render(item: Frame | ConsoleText, json_lines: bool) -> str:
    if isinstance(item, ConsoleText):
        if json_lines:
            return json.dumps({"type": "console", "text": item.text})
        return f"console  {item.text.rstrip()!r}"
    kind = type(item.payload).__name__.lower()
    fields = dataclasses.asdict(item.payload)
    if json_lines:
        record = {"type": kind, "frame_seq": item.frame_seq, "resend": item.resend, **fields}
        record["host_time"] = time.time()
        return json.dumps(record)
    flag = " resend" if item.resend else ""
    if isinstance(item.payload, Samples):
        body = " ".join(f"{s.seq}@{s.t_ms}={s.value_milli / 1000:g}" for s in item.payload.samples)
    else:
        body = " ".join(f"{key}={value}" for key, value in fields.items())
    return f"{kind:<8} #{item.frame_seq}{flag} {body}"
