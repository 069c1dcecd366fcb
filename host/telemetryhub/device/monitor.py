"""`telemetryhub monitor`: prints a board's decoded frames live, one line (or JSON object) each."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import TextIO

from telemetryhub.protocol import (
    Command,
    ConsoleText,
    Frame,
    FrameDecoder,
    Samples,
    encode_command,
)
from telemetryhub.transport.base import Transport


def monitor(
    transport: Transport,
    out: TextIO,
    *,
    json_lines: bool = False,
    count: int | None = None,
    start: bool = True,
    stop: threading.Event | None = None,
    read_timeout_s: float = 0.1,
) -> int:
    """Open `transport`, send `hello` (and `start`), print every frame until `count` samples.

    Acks each SAMPLES frame so the board's ring never fills. Runs on the calling thread until
    `count` samples were printed or `stop` is set; returns the number of samples seen. Raises
    TransportError if the port fails.
    """
    stop = stop or threading.Event()
    decoder = FrameDecoder()
    transport.open()
    try:
        cmd_id = _send(transport, 0, "hello")
        if start:
            cmd_id = _send(transport, cmd_id, "start")
        seen = 0
        while not stop.is_set() and (count is None or seen < count):
            for item in decoder.feed(transport.read(read_timeout_s)):
                if count is not None and seen >= count:
                    break
                out.write(_render(item, json_lines) + "\n")
                if isinstance(item, Frame) and isinstance(item.payload, Samples):
                    seen += len(item.payload.samples)
                    cmd_id = _send(transport, cmd_id, "ack", str(item.payload.samples[-1].seq))
            out.flush()
        return seen
    finally:
        transport.close()


def _send(transport: Transport, cmd_id: int, verb: str, *args: str) -> int:
    transport.write(encode_command(Command(cmd_id, verb, args)))
    return (cmd_id + 1) & 0xFFFF


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
