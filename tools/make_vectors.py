"""Writes the golden wire vectors (tests/vectors/*.json) from the host codec.

Both codecs are checked against these files: the firmware's under MicroPython, the host's under
CPython. Run `python tools/make_vectors.py` after a deliberate protocol change; review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from telemetryhub.protocol import (
    FLAG_RESEND,
    Command,
    Error,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    Status,
    WireSample,
    encode_command,
    encode_frame,
)

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors"

FRAMES: list[tuple[str, Payload, int, int]] = [
    (
        "hello",
        Hello(
            1, 0, 1024, 100, 0xDEADBEEF, 1, 0, "e6614c311b2f8a29", "telemetryhub-fw 0.1.0", "degC"
        ),
        0,
        0,
    ),
    ("samples_one", Samples((WireSample(0, 1000, 42000, 0),)), 1, 0),
    (
        "samples_full",
        Samples(tuple(WireSample(i, 1000 + i * 100, 42000 - i * 17, 0) for i in range(16))),
        2,
        0,
    ),
    ("samples_negative_value", Samples((WireSample(7, 5, -12345, 1),)), 3, 0),
    (
        "samples_resend_wrap",
        Samples((WireSample((1 << 30) - 1, (1 << 30) - 2, 0, 0), WireSample(0, 3, 1, 0))),
        0xFFFF,
        FLAG_RESEND,
    ),
    ("state_measuring", State(1, 1, "start"), 4, 0),
    ("state_safe", State(2, 2, "deterministic fault after 8 samples"), 5, 0),
    ("result_ok", Result(7, 0, 123456, ""), 6, 0),
    ("result_invalid_state", Result(65535, 4, 99, "start: not Idle"), 7, 0),
    ("status", Status(1, 3, 1000, 990, 10, 2, 1, 4, 12, 100), 8, 0),
    ("error_checksum", Error(1, "bad checksum"), 9, 0),
    ("zeros_everywhere", Result(0, 0, 0, ""), 0, 0),
]

VALID_COMMANDS = [
    Command(0, "hello"),
    Command(1, "ping"),
    Command(2, "start"),
    Command(3, "stop"),
    Command(4, "reset"),
    Command(5, "set", ("period_ms", "10")),
    Command(6, "fault", ("none",)),
    Command(7, "fault", ("random", "0.25")),
    Command(8, "fault", ("intermittent", "3")),
    Command(9, "fault", ("deterministic", "8")),
    Command(10, "status"),
    Command(65535, "ack", ("1073741823",)),
]


def _invalid_commands() -> list[dict[str, str]]:
    good = encode_command(Command(11, "start")).decode()
    return [
        {"line": good.replace("start", "stark"), "error": "BAD_CHECKSUM"},
        {"line": good[:-10] + "\n", "error": "BAD_LINE"},
        {"line": good.lower(), "error": "BAD_CHECKSUM"},
        {"line": "start\n", "error": "BAD_LINE"},
        {"line": good.replace("*", "#"), "error": "BAD_LINE"},
    ]


def frame_vectors() -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "type": type(payload).__name__.upper(),
            "frame_seq": frame_seq,
            "flags": flags,
            "fields": _fields(payload),
            "wire_hex": encode_frame(payload, frame_seq, flags).hex(),
        }
        for name, payload, frame_seq, flags in FRAMES
    ]


def _fields(payload: Payload) -> dict[str, object]:
    fields = dataclasses.asdict(payload)
    if isinstance(payload, Samples):
        fields["samples"] = [dataclasses.astuple(s) for s in payload.samples]
    return fields


def command_vectors() -> dict[str, object]:
    return {
        "valid": [
            {
                "line": encode_command(c).decode(),
                "cmd_id": c.cmd_id,
                "verb": c.verb,
                "args": list(c.args),
            }
            for c in VALID_COMMANDS
        ],
        "invalid": _invalid_commands(),
    }


def render() -> dict[str, str]:
    """File name -> JSON text of every vector file."""
    return {
        "frames.json": json.dumps(frame_vectors(), indent=1) + "\n",
        "commands.json": json.dumps(command_vectors(), indent=1) + "\n",
    }


def main() -> int:
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (VECTOR_DIR / name).write_text(text)
        print(f"wrote {VECTOR_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
