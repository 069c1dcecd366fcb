"""Protocol fuzzing of the host decoder: whatever the bytes and however they are split into
reads, it never raises, counts every candidate once, resyncs at the next good frame, and accepts
a frame only as the one encoding of its payload.

Budget: 5 properties x 10,000 examples (50,000), derandomized for a reproducible CI. Each
strategy is one or two `binary` draws expanded by the helpers below: hypothesis spends ~0.4 ms
per drawn value on this machine and the decoder ~20 us per frame, so few draws keep it cheap.
"""

from __future__ import annotations

import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetryhub.protocol import (
    FLAG_RESEND,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    Status,
    WireSample,
    encode_frame,
)
from telemetryhub.protocol.cobs import cobs_encode
from telemetryhub.protocol.decoder import DecodedItem
from telemetryhub.protocol.payloads import encode_payload

EXAMPLES = 10_000
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

HELLO = Hello(1, 1, 64, 10, 0xDEADBEEF, 1, 1, "fuzz-board", "fw", "degC", 5, 20)
GOOD: list[Payload] = [
    Samples(tuple(WireSample(i, i * 10, -i, 0) for i in range(16))),
    Samples((WireSample(7, 70, 42_000, 1),)),
    State(1, 1, "start"),
    Result(9, 0, 1234, "ok"),
    Status(1, 2, 10, 9, 1, 0, 0, 3, 5, 10, 1, 2, 3, 4),
    Error(6, "sensor read failed"),
    HELLO,
]
WIRES = [encode_frame(p, frame_seq=i, flags=i & FLAG_RESEND) for i, p in enumerate(GOOD)]
PAYLOADS = [encode_payload(p) for p in GOOD]  # (type, payload bytes)
SENTINEL = encode_frame(Result(0xFFFF, 0, 0, "sentinel"))
_FRAME_BYTES = {0xF0 + i: wire for i, wire in enumerate(WIRES)}


def expand(data: bytes) -> bytes:
    """The stream `data` describes: bytes 0xF0-0xF6 stand for whole good frames."""
    return b"".join(_FRAME_BYTES.get(b, bytes((b,))) for b in data)


def feed_split(decoder: FrameDecoder, stream: bytes, steps: bytes) -> list[DecodedItem]:
    """Feed `stream` in reads whose lengths are the bytes of `steps` (0: an empty read)."""
    items: list[DecodedItem] = []
    start = 0
    for step in steps:
        items += decoder.feed(stream[start : start + step])
        start += step
    return items + decoder.feed(stream[start:])


def counters(decoder: FrameDecoder) -> tuple[int, int, int, int, int]:
    return (
        decoder.bytes_received,
        decoder.frames_decoded,
        decoder.crc_errors,
        decoder.framing_errors,
        decoder.console_chunks,
    )


def frames_of(items: list[DecodedItem]) -> list[Frame]:
    return [item for item in items if isinstance(item, Frame)]


def is_sentinel(items: list[DecodedItem]) -> bool:
    frames = frames_of(items)
    return bool(frames) and frames[-1].payload == Result(0xFFFF, 0, 0, "sentinel")


@fuzz
@given(st.binary(max_size=600), st.binary(max_size=16), st.binary(max_size=16))
def test_any_bytes_split_any_way_give_the_same_items_and_counts(
    data: bytes, steps_a: bytes, steps_b: bytes
) -> None:
    stream = expand(data)
    one, two = FrameDecoder(), FrameDecoder()
    assert feed_split(one, stream, steps_a) == feed_split(two, stream, steps_b)
    assert counters(one) == counters(two)
    assert one.bytes_received == len(stream)
    assert is_sentinel(one.feed(SENTINEL))  # resync: the next good frame always decodes


@fuzz
@given(st.binary(max_size=600))
def test_every_candidate_counts_exactly_once(data: bytes) -> None:
    # delimiters every 100 bytes of `data`, so no candidate is longer than a frame may be
    stream = b"\x00".join(expand(data[i : i + 100]) for i in range(0, len(data), 100))
    decoder = FrameDecoder()
    decoder.feed(stream + b"\x00")
    candidates = [c for c in stream.split(b"\x00") if c]
    assert max(map(len, candidates), default=0) <= 255
    assert sum(counters(decoder)[1:]) == len(candidates)
    assert decoder.frames_decoded >= sum(1 for b in data if b in _FRAME_BYTES)


@fuzz
@given(st.binary(min_size=1, max_size=8), st.binary(min_size=3, max_size=9))
def test_bit_flips_lose_at_most_the_frames_they_hit(order: bytes, flips: bytes) -> None:
    sent = [GOOD[b % len(GOOD)] for b in order]
    stream = bytearray(b"".join(WIRES[b % len(WIRES)] for b in order))
    positions = [int.from_bytes(flips[i : i + 3], "little") for i in range(0, len(flips) - 2, 3)]
    for position in positions:
        stream[(position >> 3) % len(stream)] ^= 1 << (position & 7)
    decoder = FrameDecoder()
    got = [f.payload for f in frames_of(decoder.feed(bytes(stream)))]
    assert len(got) >= len(sent) - len(positions)
    remaining = iter(sent)  # what got through is a subsequence of what was sent
    assert all(any(p == s for s in remaining) for p in got)
    assert is_sentinel(decoder.feed(SENTINEL))


@fuzz
@given(st.binary(min_size=1, max_size=6), st.integers(0, 2000))
def test_a_truncated_stream_resyncs_at_the_next_good_frame(order: bytes, cut: int) -> None:
    stream = b"".join(WIRES[b % len(WIRES)] for b in order)
    decoder = FrameDecoder()
    assert is_sentinel(decoder.feed(stream[: cut % len(stream)] + SENTINEL))


def _body(data: bytes) -> bytes:
    """A frame body from `data`: random bytes, or a good payload with one random edit."""
    frame_type, flags, seq, rest = data[0] % 8, data[1] & 1, data[2:4], data[4:]
    if rest and rest[0] < 0xC0:  # mostly near-misses: a byte changed, dropped or added
        frame_type, base = PAYLOADS[rest[0] % len(PAYLOADS)]
        at = (rest[1] if len(rest) > 1 else 0) % (len(base) + 1)
        rest = base[:at] + rest[2:3] + base[at + (rest[0] & 1) :]
    return bytes([frame_type, flags]) + seq + rest


@fuzz
@given(st.binary(min_size=4, max_size=250))
def test_a_frame_with_a_valid_crc_is_accepted_only_as_the_encoding_of_its_payload(
    data: bytes,
) -> None:
    body = _body(data)
    wire = b"\x00" + cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")) + b"\x00"
    decoder = FrameDecoder()
    decoder.feed(encode_frame(HELLO))  # a 1.1 board: no trailing bytes allowed
    items = frames_of(decoder.feed(wire))
    assert decoder.frames_decoded + decoder.framing_errors + decoder.console_chunks == 2
    if items:
        (frame,) = items
        assert encode_frame(frame.payload, frame.frame_seq, frame.flags) == wire
