"""The host codec against the golden vectors shared with the firmware."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from telemetryhub.errors import FramingError, ProtocolError
from telemetryhub.protocol import (
    Code,
    Frame,
    FrameDecoder,
    decode_command,
    decode_frame,
    encode_command,
    encode_frame,
)
from telemetryhub.protocol.commands import Command, judge_line

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
MALFORMED = json.loads((VECTORS / "malformed_frames.json").read_text())
COMMANDS = json.loads((VECTORS / "commands.json").read_text())


def _make_vectors() -> object:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_vectors
    finally:
        sys.path.pop(0)
    return make_vectors


def test_vector_files_match_the_generator() -> None:
    for name, text in _make_vectors().render().items():  # type: ignore[attr-defined]
        assert (VECTORS / name).read_text() == text, f"{name} is stale: run tools/make_vectors.py"


def _check_fields(frame: Frame, vector: dict[str, object]) -> None:
    assert type(frame.payload).__name__.upper() == vector["type"]
    assert (frame.frame_seq, frame.flags) == (vector["frame_seq"], vector["flags"])
    fields = dict(vector["fields"])  # type: ignore[call-overload]
    if "samples" in fields:
        got = [[s.seq, s.t_ms, s.value_milli, s.channel] for s in frame.payload.samples]  # type: ignore[union-attr]
        assert got == fields["samples"]
        return
    for name, value in fields.items():  # a 1.0 frame's absent 1.1 fields read as 0
        assert getattr(frame.payload, name) == value, name


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_frame_vector_decodes_to_its_fields(vector: dict[str, object]) -> None:
    frame = decode_frame(bytes.fromhex(str(vector["wire_hex"])), int(vector["peer_minor"]))  # type: ignore[call-overload]
    _check_fields(frame, vector)


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_frame_vector_is_what_the_host_encodes(vector: dict[str, object]) -> None:
    frame = decode_frame(bytes.fromhex(str(vector["wire_hex"])), int(vector["peer_minor"]))  # type: ignore[call-overload]
    wire = encode_frame(
        frame.payload,
        frame.frame_seq,
        frame.flags,
        minor=int(vector["minor"]),  # type: ignore[call-overload]
        trailing=bytes.fromhex(str(vector["trailing_hex"])),
    )
    assert wire.hex() == vector["wire_hex"]


def test_a_stream_of_every_vector_decodes_in_order() -> None:
    # the decoder learns each sender's minor from its HELLO: vectors grouped by peer_minor,
    # each group after a HELLO of that minor
    hellos = {v["peer_minor"]: v for v in FRAMES if v["type"] == "HELLO"}
    decoder = FrameDecoder()
    for minor in sorted(hellos):
        group = [hellos[minor]] + [
            v for v in FRAMES if v["peer_minor"] == minor and v["type"] != "HELLO"
        ]
        items = decoder.feed(b"".join(bytes.fromhex(v["wire_hex"]) for v in group))
        assert len(items) == len(group)
        for item, vector in zip(items, group, strict=True):
            assert isinstance(item, Frame)
            _check_fields(item, vector)
    assert decoder.framing_errors == decoder.crc_errors == 0


@pytest.mark.parametrize("vector", MALFORMED, ids=[v["name"] for v in MALFORMED])
def test_malformed_frame_vector_is_a_framing_error(vector: dict[str, object]) -> None:
    wire = bytes.fromhex(str(vector["wire_hex"]))
    with pytest.raises(FramingError):
        decode_frame(wire, int(vector["peer_minor"]))  # type: ignore[call-overload]
    decoder = FrameDecoder()
    decoder.peer_minor = int(vector["peer_minor"])  # type: ignore[call-overload]
    assert decoder.feed(wire) == []
    assert (decoder.framing_errors, decoder.crc_errors) == (1, 0)


@pytest.mark.parametrize("vector", COMMANDS["valid"], ids=lambda v: v["line"].strip())
def test_valid_command_lines_round_trip(vector: dict[str, object]) -> None:
    command = Command(int(vector["cmd_id"]), str(vector["verb"]), tuple(vector["args"]))  # type: ignore[call-overload, arg-type]
    assert encode_command(command).decode() == vector["line"]
    assert decode_command(str(vector["line"]).encode()) == command
    assert judge_line(str(vector["line"]).encode().rstrip(b"\n")) == (Code.OK, command)


@pytest.mark.parametrize("vector", COMMANDS["invalid"], ids=lambda v: v["line"].strip())
def test_invalid_command_lines_get_the_boards_verdict(vector: dict[str, object]) -> None:
    code, command = judge_line(str(vector["line"]).encode().rstrip(b"\n"))
    assert code == Code[str(vector["code"])]
    assert (command.cmd_id if command is not None else -1) == vector["cmd_id"]


@pytest.mark.parametrize("vector", COMMANDS["grammar"], ids=lambda v: v["line"].strip())
def test_the_encoder_refuses_exactly_the_grammar_vectors_the_board_refuses(
    vector: dict[str, str],
) -> None:
    text = vector["line"].rpartition("*")[0]
    cmd_id, verb, *args = text.split(" ")
    command = Command(int(cmd_id), verb, tuple(args))
    if vector["code"] == "OK":
        assert encode_command(command).decode() == vector["line"]
    else:
        with pytest.raises(ProtocolError):
            encode_command(command)
