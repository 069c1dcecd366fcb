"""Sans-I/O stream decoder: bytes in, frames and console text out, every loss counted."""

from __future__ import annotations

from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, ProtocolError
from telemetryhub.protocol.cobs import cobs_decode
from telemetryhub.protocol.frames import Frame, decode_body

# Longest run of bytes without a delimiter that could still be one frame (COBS adds one byte).
_MAX_CANDIDATE = 256
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


@dataclass(frozen=True, slots=True)
class ConsoleText:
    """Bytes between frames that read as text: the REPL talking (a traceback, `soft reboot`)."""

    text: str


DecodedItem = Frame | ConsoleText


class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters and decodes each candidate frame.

    Resynchronises at the next delimiter after any garbage; nothing is ever raised for bad
    input: it is counted in `crc_errors`, `framing_errors` or `console_chunks` instead.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overflowed = False
        self.bytes_received = 0
        self.frames_decoded = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.console_chunks = 0

    def feed(self, data: bytes) -> list[DecodedItem]:
        """Decode every complete frame in `data` plus what was pending from earlier calls."""
        self.bytes_received += len(data)
        items: list[DecodedItem] = []
        *complete, rest = data.split(b"\x00")
        for chunk in complete:
            self._pending += chunk
            if not self._overflowed:
                self._emit(bytes(self._pending), items)
            self._pending.clear()
            self._overflowed = False
        self._pending += rest
        if len(self._pending) > _MAX_CANDIDATE:
            self._emit_junk(bytes(self._pending), items)
            self._pending.clear()
            self._overflowed = True
        return items

    def _emit(self, candidate: bytes, items: list[DecodedItem]) -> None:
        if not candidate:
            return
        try:
            frame = decode_body(cobs_decode(candidate))
        except ChecksumError:
            self._count_bad(candidate, items, checksum=True)
            return
        except ProtocolError:
            self._count_bad(candidate, items, checksum=False)
            return
        self.frames_decoded += 1
        items.append(frame)

    def _emit_junk(self, candidate: bytes, items: list[DecodedItem]) -> None:
        self._count_bad(candidate, items, checksum=False)

    def _count_bad(self, candidate: bytes, items: list[DecodedItem], *, checksum: bool) -> None:
        if all(byte in _PRINTABLE for byte in candidate):
            self.console_chunks += 1
            items.append(ConsoleText(candidate.decode("ascii")))
        elif checksum:
            self.crc_errors += 1
        else:
            self.framing_errors += 1
