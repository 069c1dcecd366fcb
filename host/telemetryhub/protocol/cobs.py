"""Consistent Overhead Byte Stuffing: removes every 0x00 from a frame body so 0x00 can delimit."""

from __future__ import annotations

from telemetryhub.errors import FramingError


def cobs_encode(data: bytes) -> bytes:
    """Encode `data` so that it contains no 0x00 (one code byte per zero-free run of <= 254)."""
    out = bytearray()
    for segment in data.split(b"\x00"):
        while len(segment) >= 254:
            out.append(255)
            out += segment[:254]
            segment = segment[254:]
        out.append(len(segment) + 1)
        out += segment
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS block sequence; raises FramingError if it is malformed."""
    out = bytearray()
    index = 0
    end = len(data)
    while index < end:
        code = data[index]
        if code == 0:
            raise FramingError("COBS data contains a 0x00 byte")
        next_index = index + code
        if next_index > end:
            raise FramingError(f"COBS code {code} at offset {index} runs past the end ({end})")
        out += data[index + 1 : next_index]
        index = next_index
        if code != 255 and index < end:
            out.append(0)
    return bytes(out)
