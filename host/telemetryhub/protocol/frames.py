"""Board-to-host frames of protocol v1: header, CRC-32 and COBS around a typed payload."""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, FramingError, ProtocolError
from telemetryhub.protocol.cobs import cobs_decode, cobs_encode
from telemetryhub.protocol.payloads import (
    MAX_BODY_BYTES,
    Payload,
    decode_payload,
    encode_payload,
)

PROTO_MAJOR = 1
FLAG_RESEND = 0x01
SEQ_MODULUS = 1 << 30  # seq and t_ms are 30-bit on the board
DELIMITER = b"\x00"

_HEADER = struct.Struct("<BBH")
_CRC = struct.Struct("<I")


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
class Frame:
    """One decoded frame: header fields and its typed payload."""

    flags: int
    frame_seq: int
    payload: Payload

    @property
    def resend(self) -> bool:
        return bool(self.flags & FLAG_RESEND)


def encode_frame(
    payload: Payload,
    frame_seq: int = 0,
    flags: int = 0,
    *,
    minor: int | None = None,
    trailing: bytes = b"",
) -> bytes:
    """The wire bytes of one frame: 0x00, COBS(header + payload + CRC-32), 0x00.

    `minor` chooses which minors' fields are written (see encode_payload); `trailing` bytes
    follow the payload as a newer minor's fields would (for tests and the golden vectors).
    """
    frame_type, data = encode_payload(payload, minor)
    body = _HEADER.pack(frame_type, flags, frame_seq & 0xFFFF) + data + trailing
    if len(body) + _CRC.size > MAX_BODY_BYTES:
        raise ProtocolError(f"frame body of {len(body) + 4} bytes exceeds {MAX_BODY_BYTES}")
    body += _CRC.pack(zlib.crc32(body))
    return DELIMITER + cobs_encode(body) + DELIMITER


def decode_body(body: bytes, peer_minor: int | None = None) -> Frame:
    """Check the CRC of a COBS-decoded body and parse it; raises ProtocolError subclasses.

    `peer_minor` is the sender's minor from its last HELLO (None: no HELLO seen yet); it decides
    which fields must be present and whether trailing bytes are ignored (docs/protocol.md).
    """
    if not _HEADER.size + _CRC.size <= len(body) <= MAX_BODY_BYTES:
        raise FramingError(f"frame of {len(body)} bytes, not 8-{MAX_BODY_BYTES}")
    (expected_crc,) = _CRC.unpack_from(body, len(body) - _CRC.size)
    content = body[: -_CRC.size]
    actual_crc = zlib.crc32(content)
    if actual_crc != expected_crc:
        raise ChecksumError(f"frame CRC {actual_crc:08X} != {expected_crc:08X}")
    frame_type, flags, frame_seq = _HEADER.unpack_from(content)
    payload = decode_payload(frame_type, content[_HEADER.size :], peer_minor)
    return Frame(flags=flags, frame_seq=frame_seq, payload=payload)


def decode_frame(wire: bytes, peer_minor: int | None = None) -> Frame:
    """Decode exactly one frame's wire bytes (delimiters optional)."""
    return decode_body(cobs_decode(wire.strip(DELIMITER)), peer_minor)
