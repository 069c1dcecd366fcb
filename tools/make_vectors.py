"""Writes the golden wire vectors (tests/vectors/*.json) from the host codec.

Both codecs are checked against these files: the firmware's under MicroPython, the host's under
CPython. Run `python tools/make_vectors.py` after a deliberate protocol change; review the diff.

frames.json: well-formed frames. `minor` is the layout the frame was written with (1.0 boards
send minor-0 layouts), `peer_minor` the sender's minor a decoder must assume (from the frame
itself for a HELLO, from the sender's last HELLO otherwise), `trailing_hex` bytes that follow
the payload as a newer minor's fields would: the decoder ignores them. malformed_frames.json:
frames with a correct CRC that a decoder must count as framing errors. commands.json: lines
and the board's verdict on each (`code`, and `cmd_id` -1 for a line answered with ERROR).
"""

from __future__ import annotations

import dataclasses
import json
import struct
import sys
import zlib
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
from telemetryhub.protocol.cobs import cobs_encode
from telemetryhub.protocol.commands import judge_line

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors"


def _hello(minor: int) -> Hello:
    return Hello(
        1,
        minor,
        1024,
        100,
        0xDEADBEEF,
        1,
        0,
        "e6614c311b2f8a29",
        "telemetryhub-fw 0.2.0",
        "degC",
        oldest_seq=0 if minor == 0 else 1000,
        next_seq=0 if minor == 0 else 1012,
    )


_STATUS = Status(1, 3, 1000, 990, 10, 2, 1, 4, 12, 100)
_STATUS_1_1 = dataclasses.replace(
    _STATUS, missed_slots=3, evicted_sent=5, oldest_seq=988, fault_param=8
)
_FUTURE = bytes.fromhex("c0ffee")  # fields a hypothetical minor 2 appends

# name, payload, frame_seq, flags, minor, peer_minor, trailing
FRAMES: list[tuple[str, Payload, int, int, int, int, bytes]] = [
    ("hello", _hello(1), 0, 0, 1, 1, b""),
    ("samples_one", Samples((WireSample(0, 1000, 42000, 0),)), 1, 0, 1, 1, b""),
    (
        "samples_full",
        Samples(tuple(WireSample(i, 1000 + i * 100, 42000 - i * 17, 0) for i in range(16))),
        2,
        0,
        1,
        1,
        b"",
    ),
    ("samples_negative_value", Samples((WireSample(7, 5, -12345, 1),)), 3, 0, 1, 1, b""),
    (
        "samples_resend_wrap",
        Samples((WireSample((1 << 30) - 1, (1 << 30) - 2, 0, 0), WireSample(0, 3, 1, 0))),
        0xFFFF,
        FLAG_RESEND,
        1,
        1,
        b"",
    ),
    ("state_measuring", State(1, 1, "start"), 4, 0, 1, 1, b""),
    ("state_safe", State(2, 2, "deterministic fault"), 5, 0, 1, 1, b""),
    ("result_ok", Result(7, 0, 123456, ""), 6, 0, 1, 1, b""),
    ("result_invalid_state", Result(65535, 4, 99, "invalid state"), 7, 0, 1, 1, b""),
    ("status", _STATUS_1_1, 8, 0, 1, 1, b""),
    ("error_checksum", Error(1, "bad checksum"), 9, 0, 1, 1, b""),
    ("zeros_everywhere", Result(0, 0, 0, ""), 0, 0, 1, 1, b""),
    # a 1.0 board: no 1.1 fields
    ("hello_1_0", _hello(0), 0, 0, 0, 0, b""),
    ("status_1_0", _STATUS, 8, 0, 0, 0, b""),
    # a hypothetical 1.2 board: the fields it appends are ignored
    ("hello_1_2_trailing", _hello(2), 0, 0, 1, 2, _FUTURE),
    ("status_1_2_trailing", _STATUS_1_1, 8, 0, 1, 2, _FUTURE),
    (
        "samples_1_2_trailing",
        Samples((WireSample(7, 5, -12345, 1),)),
        3,
        0,
        1,
        2,
        _FUTURE,
    ),
    ("result_1_2_trailing", Result(7, 0, 123456, "ok"), 6, 0, 1, 2, _FUTURE),
]


_STATUS_PAYLOAD_1_0 = struct.pack("<BBIIIIIIHI", 1, 3, 1000, 990, 10, 2, 1, 4, 12, 100)


def _raw_frame(frame_type: int, payload: bytes) -> str:
    body = struct.pack("<BBH", frame_type, 0, 0) + payload
    return (b"\x00" + cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00").hex()


def _malformed() -> list[dict[str, object]]:
    sample = struct.pack("<IIiB", 1, 2, 3, 0)
    cases: list[tuple[str, int, bytes, int, str]] = [
        ("samples_empty_payload", 2, b"", 1, "no count byte"),
        ("samples_count_zero", 2, b"\x00", 1, "count 0"),
        ("samples_count_17", 2, b"\x11" + sample * 17, 1, "count above 16"),
        ("samples_count_past_end", 2, b"\x02" + sample, 1, "fewer samples than the count"),
        ("samples_trailing_same_minor", 2, b"\x01" + sample + b"\x00", 1, "trailing, minor 1"),
        ("state_bad_state", 3, b"\x03\x01\x00", 1, "state 3"),
        ("state_bad_cause", 3, b"\x01\x03\x00", 1, "cause 3"),
        ("state_string_past_end", 3, b"\x01\x01\x05ab", 1, "string runs past the end"),
        ("error_bad_utf8", 6, b"\x01\x02\xff\xfe", 1, "string is not UTF-8"),
        ("result_short", 4, b"\x01\x00\x00", 1, "fields cut short"),
        ("status_1_0_from_a_1_1_board", 5, _STATUS_PAYLOAD_1_0, 1, "1.1 fields missing"),
        ("status_bad_fault_mode", 5, b"\x01\x04" + _STATUS_PAYLOAD_1_0[2:], 0, "fault_mode 4"),
    ]
    return [
        {"name": name, "peer_minor": peer, "why": why, "wire_hex": _raw_frame(ftype, data)}
        for name, ftype, data, peer, why in cases
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
    Command(12, "fault", ("random", "1.000000")),
    Command(13, "fault", ("random", "0")),
    Command(14, "set", ("period_ms", "60000")),
]


def _line(text: str) -> str:
    return f"{text}*{zlib.crc32(text.encode()):08X}\n"


def _invalid_commands() -> list[dict[str, object]]:
    good = encode_command(Command(11, "start")).decode()
    untrusted = [
        (good.replace("start", "stark"), "BAD_CHECKSUM"),
        (good[:-10] + "\n", "BAD_CHECKSUM"),
        (good.lower(), "BAD_CHECKSUM"),
        ("start\n", "BAD_CHECKSUM"),
        (good.replace("*", "#"), "BAD_CHECKSUM"),
        (_line("65536 ping"), "BAD_ARGUMENT"),
        (_line("01 ping"), "BAD_ARGUMENT"),
        (_line("+1 ping"), "BAD_ARGUMENT"),
        (_line("ping"), "BAD_ARGUMENT"),
    ]
    trusted = [
        ("9 launch", "UNKNOWN_COMMAND"),
        ("9 START", "UNKNOWN_COMMAND"),
        ("9 fault random", "BAD_ARGUMENT"),
        ("9 fault random 5e-1", "BAD_ARGUMENT"),
        ("9 fault random .5", "BAD_ARGUMENT"),
        ("9 fault random 0.1234567", "BAD_ARGUMENT"),
        ("9 fault random 1.01", "BAD_ARGUMENT"),
        ("9 fault intermittent 0", "BAD_ARGUMENT"),
        ("9 fault deterministic 1073741824", "BAD_ARGUMENT"),
        ("9 set period_ms 010", "BAD_ARGUMENT"),
        ("9 set period_ms 60001", "BAD_ARGUMENT"),
        ("9 ack 00", "BAD_ARGUMENT"),
        ("9 ack 12345678901", "BAD_ARGUMENT"),
        ("9 ping now", "BAD_ARGUMENT"),
    ]
    return [{"line": line, "code": code, "cmd_id": -1} for line, code in untrusted] + [
        {"line": _line(text), "code": code, "cmd_id": 9} for text, code in trusted
    ]


def frame_vectors() -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "type": type(payload).__name__.upper(),
            "frame_seq": frame_seq,
            "flags": flags,
            "minor": minor,
            "peer_minor": peer_minor,
            "trailing_hex": trailing.hex(),
            "fields": _fields(payload),
            "wire_hex": encode_frame(
                payload, frame_seq, flags, minor=minor, trailing=trailing
            ).hex(),
        }
        for name, payload, frame_seq, flags, minor, peer_minor, trailing in FRAMES
    ]


def _fields(payload: Payload) -> dict[str, object]:
    fields = dataclasses.asdict(payload)
    if isinstance(payload, Samples):
        fields["samples"] = [dataclasses.astuple(s) for s in payload.samples]
    return fields


# argument words at the edges of the grammar, tried in every argument slot below
EDGE_WORDS = [
    "0", "1", "01", "+1", "-1", "10", "60000", "60001", "1073741823", "1073741824",
    "9999999999", "12345678901", "0.5", ".5", "0.", "5e-1", "1.0", "1.000000", "1.0000000",
    "0.000001", "0.1234567", "1.5", "00.5", "x",
]  # fmt: skip
GRAMMAR_PREFIXES = [
    "set period_ms",
    "fault random",
    "fault intermittent",
    "fault deterministic",
    "ack",
]


def grammar_vectors() -> list[dict[str, object]]:
    """Every edge word after every command that takes a number, with the board's verdict."""
    cases = []
    for prefix in GRAMMAR_PREFIXES:
        for word in EDGE_WORDS:
            line = _line(f"20 {prefix} {word}")
            code, _ = judge_line(line.rstrip("\n").encode())
            cases.append({"line": line, "code": code.name})
    return cases


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
        "grammar": grammar_vectors(),
    }


def render() -> dict[str, str]:
    """File name -> JSON text of every vector file."""
    return {
        "frames.json": json.dumps(frame_vectors(), indent=1) + "\n",
        "malformed_frames.json": json.dumps(_malformed(), indent=1) + "\n",
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
