"""The stream decoder resynchronises after garbage and counts every loss."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetryhub.protocol import (
    ConsoleText,
    Frame,
    FrameDecoder,
    Hello,
    Result,
    Status,
    encode_frame,
)
from telemetryhub.protocol.cobs import cobs_encode

FRAME = encode_frame(Result(3, 0, 77, "ok"), frame_seq=9)


def frames_of(items: list[object]) -> list[Frame]:
    return [item for item in items if isinstance(item, Frame)]


def test_frames_split_across_reads_are_reassembled() -> None:
    decoder = FrameDecoder()
    stream = FRAME * 3
    items = [item for byte in stream for item in decoder.feed(bytes([byte]))]
    assert [f.payload for f in frames_of(items)] == [Result(3, 0, 77, "ok")] * 3
    assert decoder.bytes_received == len(stream)


def test_repl_text_between_frames_is_console_output() -> None:
    decoder = FrameDecoder()
    items = decoder.feed(FRAME + b"soft reboot\r\n" + FRAME)
    assert len(frames_of(items)) == 2
    assert ConsoleText("soft reboot\r\n") in items
    assert decoder.console_chunks == 1
    assert decoder.crc_errors == decoder.framing_errors == 0


def test_corrupted_frame_is_counted_and_the_next_one_decodes() -> None:
    decoder = FrameDecoder()
    corrupted = bytearray(FRAME)
    corrupted[6] ^= 0x80
    items = decoder.feed(bytes(corrupted) + FRAME)
    assert len(frames_of(items)) == 1
    assert decoder.crc_errors + decoder.framing_errors == 1


def test_a_long_run_without_delimiter_is_dropped_as_one_chunk() -> None:
    decoder = FrameDecoder()
    items = decoder.feed(b"\xff" * 1000)
    items += decoder.feed(b"\xfe" * 10 + FRAME)
    assert len(frames_of(items)) == 1
    assert decoder.framing_errors == 1


@settings(max_examples=200)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_garbage_never_raises_and_never_hides_the_next_frame(garbage: bytes, chunk: int) -> None:
    decoder = FrameDecoder()
    stream = garbage + FRAME
    items: list[object] = []
    for start in range(0, len(stream), chunk):
        items += decoder.feed(stream[start : start + chunk])
    assert frames_of(items)[-1].payload == Result(3, 0, 77, "ok")


def _raw(frame_type: int, payload: bytes) -> bytes:
    """A frame with a correct CRC around any payload, however malformed."""
    body = bytes([frame_type, 0, 0, 0]) + payload
    return b"\x00" + cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")) + b"\x00"


def test_a_samples_frame_with_an_empty_payload_is_counted_not_raised() -> None:
    decoder = FrameDecoder()
    items = decoder.feed(_raw(2, b"") + FRAME)  # issue 8: this raised IndexError
    assert [f.payload for f in frames_of(items)] == [Result(3, 0, 77, "ok")]
    assert (decoder.framing_errors, decoder.crc_errors) == (1, 0)


def test_an_oversized_body_is_refused_however_the_reads_split() -> None:
    # a RESULT with a 255-byte text and 333 more bytes: valid COBS and CRC, 600 bytes in all
    body = bytes([4, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 255]) + b"x" * 588
    wire = b"\x00" + cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")) + b"\x00"
    assert len(body) == 600
    for split in (len(wire), 300, 1):
        decoder = FrameDecoder()
        items = decoder.feed(wire[:split]) + decoder.feed(wire[split:]) + decoder.feed(FRAME)
        assert [f.payload for f in frames_of(items)] == [Result(3, 0, 77, "ok")], split
        assert (decoder.framing_errors, decoder.console_chunks) == (1, 0), split


def test_long_console_text_comes_in_the_same_pieces_however_the_reads_split() -> None:
    text = b"Traceback (most recent call last):\r\n" * 20  # 740 bytes, no delimiter
    results = set()
    for chunk in (1, 7, 255, 256, len(text)):
        decoder = FrameDecoder()
        items: list[object] = []
        for start in range(0, len(text), chunk):
            items += decoder.feed(text[start : start + chunk])
        items += decoder.feed(FRAME)
        results.add((tuple(items), decoder.console_chunks))
    assert len(results) == 1
    ((items_seen, chunks),) = results
    assert chunks == 3  # 255 + 255 + 230 bytes
    assert "".join(i.text for i in items_seen if isinstance(i, ConsoleText)) == text.decode()


def _hello(minor: int) -> bytes:
    return encode_frame(Hello(1, minor, 64, 10, 7, 1, 0, "dev", "fw", "u", 3, 9))


def test_trailing_bytes_are_ignored_only_from_a_newer_minor() -> None:
    status = Status(1, 0, 1, 1, 0, 0, 0, 0, 1, 10, 0, 0, 0, 0)
    extra = encode_frame(status, trailing=b"\x01\x02")
    decoder = FrameDecoder()
    items = decoder.feed(_hello(2) + extra + _hello(1) + extra)
    payloads = [f.payload for f in frames_of(items)]
    assert [type(p) for p in payloads] == [Hello, Status, Hello]
    assert payloads[1] == status
    assert decoder.framing_errors == 1  # the same frame from a 1.1 board
    assert decoder.peer_minor == 1


def test_a_1_0_board_is_decoded_without_the_1_1_fields() -> None:
    status = Status(1, 0, 1, 1, 0, 0, 0, 0, 1, 10)
    decoder = FrameDecoder()
    items = decoder.feed(_hello(0) + encode_frame(status, minor=0) + encode_frame(status))
    assert [f.payload for f in frames_of(items)][1] == status
    assert decoder.framing_errors == 1  # 1.1 fields from a board that said 1.0
    hello = frames_of(items)[0].payload
    assert isinstance(hello, Hello)
    assert (hello.oldest_seq, hello.next_seq) == (0, 0)


def test_before_any_hello_either_layout_is_accepted() -> None:
    status = Status(1, 0, 1, 1, 0, 0, 0, 0, 1, 10, 4, 5, 6, 7)
    decoder = FrameDecoder()
    items = decoder.feed(
        encode_frame(status, minor=0) + encode_frame(status) + encode_frame(status, trailing=b"x")
    )
    assert [f.payload for f in frames_of(items)] == [
        Status(1, 0, 1, 1, 0, 0, 0, 0, 1, 10),
        status,
        status,
    ]


@pytest.mark.parametrize(
    ("frame_type", "payload"),
    [
        (1, bytes([1, 1, 64, 0, 10, 0, 0, 0, 7, 0, 0, 0, 1, 9, 0, 0, 0]) + b"\x00" * 8),
        (3, b"\x02\x07\x00"),
        (5, bytes(32 + 16)),
        (5, b"\x00\x09" + bytes(46)),
    ],
    ids=["hello_state_9", "state_cause_7", "status_too_long_for_minor_1", "status_mode_9"],
)
def test_enum_values_outside_their_tables_are_framing_errors(
    frame_type: int, payload: bytes
) -> None:
    decoder = FrameDecoder()
    decoder.feed(_hello(1))
    status_long = frame_type == 5 and payload == bytes(48)
    assert decoder.feed(_raw(frame_type, payload + (b"\x00" if status_long else b""))) == []
    assert decoder.framing_errors == 1
