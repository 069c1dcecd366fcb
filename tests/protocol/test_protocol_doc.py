"""docs/protocol.md cannot go stale: every example, table and layout in it is checked here.

Example frames are the ```frame blocks (wire bytes, optionally the COBS-decoded body and the
sender's minor, and the payload they decode to); they must also be golden vectors, which the
firmware's codec checks. Command lines `text*CRC` must carry their CRC, and the table of lines
must give the board's verdict on each.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import zlib
from pathlib import Path

import pytest

from telemetryhub.protocol import (
    PROTO_MAJOR,
    PROTO_MINOR,
    Code,
    Error,
    Hello,
    Result,
    State,
    Status,
    decode_frame,
)
from telemetryhub.protocol import payloads as payload_module
from telemetryhub.protocol.cobs import cobs_decode
from telemetryhub.protocol.commands import judge_line

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
VECTOR_WIRES = {
    v["wire_hex"] for v in json.loads((ROOT / "tests/vectors/frames.json").read_text())
}

_FRAME_BLOCK = re.compile(r"```frame\n(.*?)```", re.S)
_LINE_ROW = re.compile(r"^\| `([^`]+)` \| (RESULT|ERROR) ([A-Z_]+) \|$", re.M)
_COMMAND = re.compile(r"`([^`*\n]+)\*([0-9A-F]{8})`")


def frame_blocks() -> list[dict[str, str]]:
    blocks = []
    for text in _FRAME_BLOCK.findall(DOC):
        fields = dict(line.split(":", 1) for line in text.strip().splitlines())
        blocks.append({key.strip(): value.strip() for key, value in fields.items()})
    return blocks


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_the_doc_names_this_version() -> None:
    assert f"# Wire protocol v{PROTO_MAJOR}.{PROTO_MINOR}" in DOC
    assert f"**major {PROTO_MAJOR}, minor {PROTO_MINOR}**" in DOC


@pytest.mark.parametrize("block", frame_blocks(), ids=lambda b: b["payload"].split("(")[0])
def test_example_frames_decode_to_what_the_doc_says(block: dict[str, str]) -> None:
    wire = _hex(block["wire"])
    frame = decode_frame(wire, int(block.get("sender", PROTO_MINOR)))
    assert repr(frame.payload) == block["payload"]
    if "body" in block:
        assert cobs_decode(wire[1:-1]) == _hex(block["body"])
    assert wire.hex() in VECTOR_WIRES  # so the firmware's encoder is checked against it too


def test_there_are_example_frames() -> None:
    assert len(frame_blocks()) >= 5


def test_the_walked_through_crc_is_the_first_examples() -> None:
    (crc,) = re.findall(r"then the CRC-32 `0x([0-9A-F]{8})`", DOC)
    body = _hex(frame_blocks()[0]["body"])
    assert struct.unpack("<I", body[-4:])[0] == int(crc, 16) == zlib.crc32(body[:-4])


def test_command_examples_carry_their_crc() -> None:
    table = {f"{text}" for text, _, _ in _LINE_ROW.findall(DOC)}
    found = _COMMAND.findall(DOC)
    assert ("7 start", "AE5FE306") in found
    for text, crc in found:
        if f"{text}*{crc}" not in table:  # the table shows bad lines on purpose
            assert f"{zlib.crc32(text.encode()):08X}" == crc, text
    (stated,) = re.findall(r"CRC-32 of the \d+ bytes `([^`]+)` is `0x([0-9A-F]{8})`", DOC)
    assert f"{zlib.crc32(stated[0].encode()):08X}" == stated[1]


def test_the_table_of_lines_gives_the_boards_verdict() -> None:
    rows = _LINE_ROW.findall(DOC)
    assert len(rows) >= 6
    for line, kind, code in rows:
        verdict, command = judge_line(line.encode())
        assert verdict == Code[code], line
        assert (command is None) == (kind == "ERROR"), line  # ERROR: the id is not trusted


def test_the_code_table_matches_the_codes() -> None:
    rows = re.findall(r"^\| (\d) \| ([A-Z_]+) \|", DOC, re.M)
    assert {name: int(value) for value, name in rows} == {c.name: c.value for c in Code}


def _row(name: str) -> str:
    (row,) = re.findall(rf"^\| 0x0\d \| {name} \| (.*) \|$", DOC, re.M)
    return row


@pytest.mark.parametrize("payload", [Hello, State, Result, Status, Error])
def test_the_frame_type_table_lists_every_field_in_order(payload: type) -> None:
    names = [f.name for f in dataclasses.fields(payload)]
    row = _row(payload.__name__.upper())
    assert [word for word in re.findall(r"[a-z_]+", row) if word in names] == names


def test_the_frame_type_table_layouts_are_the_codecs() -> None:
    layouts = {
        value.format for value in vars(payload_module).values() if isinstance(value, struct.Struct)
    }
    documented = set(re.findall(r"`(<[A-Za-z]+)`", "".join(map(_row, _TYPES))))
    assert documented == layouts


_TYPES = ("HELLO", "SAMPLES", "STATE", "RESULT", "STATUS", "ERROR")
