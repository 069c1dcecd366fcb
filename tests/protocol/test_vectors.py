"""The host codec against the golden vectors shared with the firmware."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from telemetryhub.errors import ChecksumError, ProtocolError
from telemetryhub.protocol import decode_command, decode_frame, encode_command
from telemetryhub.protocol.commands import Command

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
COMMANDS = json.loads((VECTORS / "commands.json").read_text())


def test_vector_files_match_the_generator() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_vectors
    finally:
        sys.path.pop(0)
    for name, text in make_vectors.render().items():
        assert (VECTORS / name).read_text() == text, f"{name} is stale: run tools/make_vectors.py"


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_frame_vector_decodes_to_its_fields(vector: dict[str, object]) -> None:
    frame = decode_frame(bytes.fromhex(str(vector["wire_hex"])))
    assert type(frame.payload).__name__.upper() == vector["type"]
    assert frame.frame_seq == vector["frame_seq"]
    assert frame.flags == vector["flags"]
    fields = dict(vector["fields"])  # type: ignore[call-overload]
    if "samples" in fields:
        got = [[s.seq, s.t_ms, s.value_milli, s.channel] for s in frame.payload.samples]  # type: ignore[union-attr]
        assert got == fields["samples"]
    else:
        for name, value in fields.items():
            assert getattr(frame.payload, name) == value


@pytest.mark.parametrize("vector", COMMANDS["valid"], ids=lambda v: v["line"].strip())
def test_valid_command_lines_round_trip(vector: dict[str, object]) -> None:
    command = Command(int(vector["cmd_id"]), str(vector["verb"]), tuple(vector["args"]))  # type: ignore[call-overload, arg-type]
    assert encode_command(command).decode() == vector["line"]
    assert decode_command(str(vector["line"]).encode()) == command


@pytest.mark.parametrize("vector", COMMANDS["invalid"], ids=lambda v: v["line"].strip())
def test_invalid_command_lines_are_refused(vector: dict[str, str]) -> None:
    expected = ChecksumError if vector["error"] == "BAD_CHECKSUM" else ProtocolError
    with pytest.raises(expected):
        decode_command(vector["line"].encode())
