"""Frames, COBS and command lines: round trips and every refusal."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetryhub.errors import ChecksumError, FramingError, ProtocolError
from telemetryhub.protocol import (
    Command,
    Error,
    Hello,
    Result,
    Samples,
    State,
    Status,
    Unknown,
    WireSample,
    decode_frame,
    encode_command,
    encode_frame,
)
from telemetryhub.protocol.cobs import cobs_decode, cobs_encode
from telemetryhub.protocol.frames import decode_body


@given(st.binary(max_size=600))
def test_cobs_round_trips_and_removes_zeros(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert cobs_decode(encoded) == data


@pytest.mark.parametrize("bad", [b"\x05ab", b"\x02a\x00"])
def test_cobs_rejects_malformed_input(bad: bytes) -> None:
    with pytest.raises(FramingError):
        cobs_decode(bad)


samples = st.builds(
    WireSample,
    st.integers(0, (1 << 30) - 1),
    st.integers(0, (1 << 30) - 1),
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.integers(0, 255),
)
payloads = st.one_of(
    st.builds(Samples, st.lists(samples, min_size=1, max_size=16).map(tuple)),
    st.builds(State, st.integers(0, 2), st.integers(0, 2), st.text(max_size=40)),
    st.builds(
        Result,
        st.integers(0, 0xFFFF),
        st.integers(0, 6),
        st.integers(0, 2**32 - 1),
        st.text(max_size=40),
    ),
    st.builds(Error, st.integers(0, 6), st.text(max_size=40)),
)


@given(payloads, st.integers(0, 0xFFFF), st.integers(0, 1))
def test_frames_round_trip(payload: object, frame_seq: int, flags: int) -> None:
    frame = decode_frame(encode_frame(payload, frame_seq, flags))  # type: ignore[arg-type]
    assert (frame.payload, frame.frame_seq, frame.flags) == (payload, frame_seq, flags)


def test_status_and_hello_round_trip() -> None:
    status = Status(2, 1, 1, 2, 3, 4, 5, 6, 7, 8)
    hello = Hello(1, 0, 1024, 100, 7, 2, 1, "dev", "fw", "degC")
    assert decode_frame(encode_frame(status)).payload == status
    assert decode_frame(encode_frame(hello)).payload == hello


def test_a_flipped_bit_fails_the_crc() -> None:
    body = bytearray(cobs_decode(encode_frame(Result(1, 0, 5, "ok")).strip(b"\x00")))
    body[5] ^= 0x10
    with pytest.raises(ChecksumError):
        decode_body(bytes(body))


@pytest.mark.parametrize(
    "payload",
    [
        Samples(()),
        Samples(tuple(WireSample(0, 0, 0, 0) for _ in range(17))),
        State(0, 0, "x" * 256),
    ],
)
def test_encoder_refuses_what_does_not_fit(payload: object) -> None:
    with pytest.raises(ProtocolError):
        encode_frame(payload)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "command",
    [
        Command(70000, "ping"),
        Command(1, "set", ("period ms",)),
        Command(1, "fault", ("x" * 90,)),
        Command(1, "launch"),
        Command(1, "fault", ("random",)),
        Command(1, "fault", ("random", "5e-1")),
        Command(1, "ack", ("-1",)),
        Command(1, "ping", ("now",)),
    ],
    ids=lambda c: c.text[:30],
)
def test_command_encoder_refuses_bad_commands(command: Command) -> None:
    with pytest.raises(ProtocolError):
        encode_command(command)


def test_command_lines_never_carry_repl_control_bytes() -> None:
    line = encode_command(Command(65535, "fault", ("random", "0.5")))
    assert not any(0x01 <= byte <= 0x05 for byte in line)


def test_an_unknown_frame_type_from_a_newer_minor_is_decoded_and_ignorable() -> None:
    body = bytes([0x7F, 0, 3, 0]) + b"future"
    wire = b"\x00" + cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")) + b"\x00"
    assert decode_frame(wire).payload == Unknown(0x7F, b"future")
