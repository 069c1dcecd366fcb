"""Board-to-host frames of protocol v1: typed payloads and their byte layouts."""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, FramingError, ProtocolError
from telemetryhub.protocol.cobs import cobs_decode, cobs_encode

PROTO_MAJOR = 1
PROTO_MINOR = 0
MAX_BODY_BYTES = 254
MAX_SAMPLES_PER_FRAME = 16
FLAG_RESEND = 0x01
SEQ_MODULUS = 1 << 30  # seq and t_ms are 30-bit on the board
DELIMITER = b"\x00"

_HEADER = struct.Struct("<BBH")
_CRC = struct.Struct("<I")
_HELLO = struct.Struct("<BBHIIBB")
_SAMPLE = struct.Struct("<IIiB")
_STATE = struct.Struct("<BB")
_RESULT = struct.Struct("<HBI")
_STATUS = struct.Struct("<BBIIIIIIHI")
_ERROR = struct.Struct("<B")


class FrameType(enum.IntEnum):
    """The `type` byte of a frame."""

    HELLO = 0x01
    SAMPLES = 0x02
    STATE = 0x03
    RESULT = 0x04
    STATUS = 0x05
    ERROR = 0x06


class Code(enum.IntEnum):
    """RESULT and ERROR codes."""

    OK = 0
    BAD_CHECKSUM = 1
    UNKNOWN_COMMAND = 2
    BAD_ARGUMENT = 3
    INVALID_STATE = 4
    LINE_TOO_LONG = 5
    SENSOR_FAULT = 6


class StateCause(enum.IntEnum):
    """Why the board changed state."""

    BOOT = 0
    COMMAND = 1
    FAULT = 2


@dataclass(frozen=True, slots=True)
class Hello:
    proto_major: int
    proto_minor: int
    ring_capacity: int
    period_ms: int
    boot_id: int
    reset_cause: int
    state: int
    device_id: str
    firmware_version: str
    unit: str


@dataclass(frozen=True, slots=True)
class WireSample:
    """A sample as the board sends it: 30-bit seq and t_ms, value in thousandths."""

    seq: int
    t_ms: int
    value_milli: int
    channel: int


@dataclass(frozen=True, slots=True)
class Samples:
    samples: tuple[WireSample, ...]


@dataclass(frozen=True, slots=True)
class State:
    state: int
    cause: int
    reason: str


@dataclass(frozen=True, slots=True)
class Result:
    cmd_id: int
    code: int
    t_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Status:
    state: int
    fault_mode: int
    samples_taken: int
    samples_sent: int
    samples_resent: int
    dropped_overflow: int
    commands_rejected: int
    read_failures: int
    ring_used: int
    period_ms: int


@dataclass(frozen=True, slots=True)
class Error:
    code: int
    text: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A frame type this host does not know (a newer minor version): checked, then ignored."""

    frame_type: int
    data: bytes


Payload = Hello | Samples | State | Result | Status | Error | Unknown


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: header fields and its typed payload."""

    flags: int
    frame_seq: int
    payload: Payload

    @property
    def resend(self) -> bool:
        return bool(self.flags & FLAG_RESEND)


def _pack_str(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ProtocolError(f"string of {len(raw)} bytes does not fit a u8 length")
    return bytes([len(raw)]) + raw


def _unpack_strs(data: bytes, offset: int, count: int) -> tuple[list[str], int]:
    texts = []
    for _ in range(count):
        if offset >= len(data):
            raise FramingError("string length byte missing")
        length = data[offset]
        end = offset + 1 + length
        if end > len(data):
            raise FramingError("string runs past the end of the frame")
        texts.append(data[offset + 1 : end].decode("utf-8", errors="replace"))
        offset = end
    return texts, offset


def encode_payload(payload: Payload) -> tuple[int, bytes]:
    """The frame type and payload bytes for `payload`."""
    match payload:
        case Hello():
            head = _HELLO.pack(
                payload.proto_major,
                payload.proto_minor,
                payload.ring_capacity,
                payload.period_ms,
                payload.boot_id,
                payload.reset_cause,
                payload.state,
            )
            tail = b"".join(
                _pack_str(s) for s in (payload.device_id, payload.firmware_version, payload.unit)
            )
            return FrameType.HELLO, head + tail
        case Samples():
            if not 1 <= len(payload.samples) <= MAX_SAMPLES_PER_FRAME:
                raise ProtocolError(
                    f"a SAMPLES frame carries 1-16 samples, not {len(payload.samples)}"
                )
            body = b"".join(
                _SAMPLE.pack(s.seq, s.t_ms, s.value_milli, s.channel) for s in payload.samples
            )
            return FrameType.SAMPLES, bytes([len(payload.samples)]) + body
        case State():
            return FrameType.STATE, _STATE.pack(payload.state, payload.cause) + _pack_str(
                payload.reason
            )
        case Result():
            head = _RESULT.pack(payload.cmd_id, payload.code, payload.t_ms)
            return FrameType.RESULT, head + _pack_str(payload.text)
        case Status():
            return FrameType.STATUS, _STATUS.pack(
                payload.state,
                payload.fault_mode,
                payload.samples_taken,
                payload.samples_sent,
                payload.samples_resent,
                payload.dropped_overflow,
                payload.commands_rejected,
                payload.read_failures,
                payload.ring_used,
                payload.period_ms,
            )
        case Error():
            return FrameType.ERROR, _ERROR.pack(payload.code) + _pack_str(payload.text)
        case Unknown():
            return payload.frame_type, payload.data


def encode_frame(payload: Payload, frame_seq: int = 0, flags: int = 0) -> bytes:
    """The wire bytes of one frame: 0x00, COBS(header + payload + CRC-32), 0x00."""
    frame_type, data = encode_payload(payload)
    body = _HEADER.pack(frame_type, flags, frame_seq & 0xFFFF) + data
    if len(body) + _CRC.size > MAX_BODY_BYTES:
        raise ProtocolError(f"frame body of {len(body) + 4} bytes exceeds {MAX_BODY_BYTES}")
    body += _CRC.pack(zlib.crc32(body))
    return DELIMITER + cobs_encode(body) + DELIMITER


def decode_body(body: bytes) -> Frame:
    """Check the CRC of a COBS-decoded body and parse it; raises ProtocolError subclasses."""
    if len(body) < _HEADER.size + _CRC.size:
        raise FramingError(f"frame of {len(body)} bytes is shorter than 8")
    (expected_crc,) = _CRC.unpack_from(body, len(body) - _CRC.size)
    content = body[: -_CRC.size]
    actual_crc = zlib.crc32(content)
    if actual_crc != expected_crc:
        raise ChecksumError(f"frame CRC {actual_crc:08X} != {expected_crc:08X}")
    frame_type, flags, frame_seq = _HEADER.unpack_from(content)
    try:
        payload = _decode_payload(frame_type, content[_HEADER.size :])
    except struct.error as exc:
        raise FramingError(f"frame type {frame_type:#04x} payload is malformed: {exc}") from exc
    return Frame(flags=flags, frame_seq=frame_seq, payload=payload)


def _decode_payload(frame_type: int, data: bytes) -> Payload:
    if frame_type == FrameType.SAMPLES:
        count = data[0]
        if not 1 <= count <= MAX_SAMPLES_PER_FRAME or len(data) != 1 + count * _SAMPLE.size:
            raise FramingError(f"SAMPLES frame with count {count} and {len(data)} bytes")
        return Samples(tuple(WireSample(*fields) for fields in _SAMPLE.iter_unpack(data[1:])))
    if frame_type == FrameType.HELLO:
        fields = _HELLO.unpack_from(data)
        texts, _ = _unpack_strs(data, _HELLO.size, 3)
        return Hello(*fields, *texts)
    if frame_type == FrameType.STATE:
        state, cause = _STATE.unpack_from(data)
        (reason,), _ = _unpack_strs(data, _STATE.size, 1)
        return State(state, cause, reason)
    if frame_type == FrameType.RESULT:
        cmd_id, code, t_ms = _RESULT.unpack_from(data)
        (text,), _ = _unpack_strs(data, _RESULT.size, 1)
        return Result(cmd_id, code, t_ms, text)
    if frame_type == FrameType.STATUS:
        return Status(*_STATUS.unpack_from(data))
    if frame_type == FrameType.ERROR:
        (code,) = _ERROR.unpack_from(data)
        (text,), _ = _unpack_strs(data, _ERROR.size, 1)
        return Error(code, text)
    return Unknown(frame_type, bytes(data))


def decode_frame(wire: bytes) -> Frame:
    """Decode exactly one frame's wire bytes (delimiters optional)."""
    return decode_body(cobs_decode(wire.strip(DELIMITER)))
