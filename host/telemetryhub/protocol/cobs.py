"""Consistent Overhead Byte Stuffing: removes every 0x00 from a frame body so 0x00 can delimit."""

from __future__ import annotations

from telemetryhub.errors import FramingError


def cobs_encode(data: bytes) -> bytes:
    """Encode `data` (at most 254 bytes per block of non-zero bytes) without any 0x00."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
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
