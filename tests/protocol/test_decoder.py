"""The stream decoder resynchronises after garbage and counts every loss."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetryhub.protocol import ConsoleText, Frame, FrameDecoder, Result, encode_frame

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
