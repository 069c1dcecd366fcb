"""Sans-I/O stream decoder: bytes in, frames and console text out, every loss counted.

The result depends only on the byte stream, never on how it was split across `feed` calls:
a candidate (the bytes between two 0x00 delimiters) longer than the longest frame is cut into
pieces at fixed offsets from its start, each piece judged on its own bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, ProtocolError
from telemetryhub.protocol.cobs import cobs_decode
from telemetryhub.protocol.frames import Frame, decode_body
from telemetryhub.protocol.payloads import MAX_BODY_BYTES, Hello

# The longest candidate that can still be one frame: COBS adds one byte to a 254-byte body.
MAX_CANDIDATE = MAX_BODY_BYTES + 1
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


@dataclass(frozen=True, slots=True)
class ConsoleText:
    """Bytes between frames that read as text: the REPL talking (a traceback, `soft reboot`)."""

    text: str


DecodedItem = Frame | ConsoleText


class _Mode(enum.Enum):
    CANDIDATE = 0  # the bytes since the last delimiter may still be a frame
    TEXT = 1  # a candidate too long for a frame, printable so far: console text in pieces
    DISCARD = 2  # a too-long candidate with a non-printable byte, counted: drop to the delimiter


class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters and decodes each candidate frame.

    Resynchronises at the next delimiter after any garbage; nothing is ever raised for bad
    input: each candidate counts once in `frames_decoded`, `crc_errors`, `framing_errors` or
    `console_chunks` (a long console text once per MAX_CANDIDATE-byte piece). `peer_minor` is
    the proto_minor of the last HELLO decoded (None before one): it decides how payloads of a
    different minor are read (docs/protocol.md, "Minor versions").
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._mode = _Mode.CANDIDATE
        self.peer_minor: int | None = None
        self.bytes_received = 0
        self.frames_decoded = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.console_chunks = 0

    def feed(self, data: bytes) -> list[DecodedItem]:
        """Decode every complete frame in `data` plus what was pending from earlier calls."""
        self.bytes_received += len(data)
        items: list[DecodedItem] = []
        *complete, rest = bytes(data).split(b"\x00")
        for chunk in complete:
            self._extend(chunk, items)
            self._end_candidate(items)
        self._extend(rest, items)
        return items

    def _extend(self, chunk: bytes, items: list[DecodedItem]) -> None:
        if self._mode is _Mode.DISCARD or not chunk:
            return
        pending = self._pending
        pending += chunk
        while len(pending) > MAX_CANDIDATE:  # cannot be a frame: judge it piece by piece
            piece = bytes(pending[:MAX_CANDIDATE])
            del pending[:MAX_CANDIDATE]
            if not _printable(piece):
                self.framing_errors += 1
                self._mode = _Mode.DISCARD
                pending.clear()
                return
            self._mode = _Mode.TEXT
            self._console(piece, items)

    def _end_candidate(self, items: list[DecodedItem]) -> None:
        candidate = bytes(self._pending)
        self._pending.clear()
        mode, self._mode = self._mode, _Mode.CANDIDATE
        if mode is _Mode.DISCARD or not candidate:
            return
        if mode is _Mode.TEXT:  # the tail of a long text is never a frame
            if _printable(candidate):
                self._console(candidate, items)
            else:
                self.framing_errors += 1
            return
        self._decode(candidate, items)

    def _decode(self, candidate: bytes, items: list[DecodedItem]) -> None:
        try:
            frame = decode_body(cobs_decode(candidate), self.peer_minor)
        except ProtocolError as exc:
            if _printable(candidate):
                self._console(candidate, items)
            elif isinstance(exc, ChecksumError):
                self.crc_errors += 1
            else:
                self.framing_errors += 1
            return
        if isinstance(frame.payload, Hello):
            self.peer_minor = frame.payload.proto_minor
        self.frames_decoded += 1
        items.append(frame)

    def _console(self, text: bytes, items: list[DecodedItem]) -> None:
        self.console_chunks += 1
        items.append(ConsoleText(text.decode("ascii")))


def _printable(data: bytes) -> bool:
    return all(byte in _PRINTABLE for byte in data)
