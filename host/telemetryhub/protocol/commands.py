"""Host-to-board command lines: printable ASCII with a CRC-32, never a REPL control byte."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, ProtocolError

MAX_LINE_BYTES = 96
VERBS = frozenset({"hello", "ping", "start", "stop", "reset", "set", "fault", "status", "ack"})


@dataclass(frozen=True, slots=True)
class Command:
    """One command: `cmd_id` is echoed back by the board in its RESULT."""

    cmd_id: int
    verb: str
    args: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join((str(self.cmd_id), self.verb, *self.args))


def encode_command(command: Command) -> bytes:
    """The line for `command`: `<id> <verb> [args]*<CRC-32 hex>\\n`."""
    if not 0 <= command.cmd_id <= 0xFFFF:
        raise ProtocolError(f"command id {command.cmd_id} is outside 0-65535")
    text = command.text
    if not all(0x21 <= ord(ch) <= 0x7E for part in (command.verb, *command.args) for ch in part):
        raise ProtocolError(f"command {text!r} has a non-printable or space character in a word")
    line = f"{text}*{zlib.crc32(text.encode()):08X}\n".encode()
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"command line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def decode_command(line: bytes) -> Command:
    """Parse and check one line (the board's side, used by the simulator and the vectors)."""
    text, star, crc_hex = line.rstrip(b"\r\n").partition(b"*")
    if not star or len(crc_hex) != 8:
        raise ProtocolError(f"command line {line!r} has no *CRC")
    if f"{zlib.crc32(text):08X}".encode() != crc_hex:
        raise ChecksumError(f"command line {line!r} fails its CRC")
    words = text.decode("ascii").split(" ")
    if len(words) < 2 or not words[0].isdigit() or int(words[0]) > 0xFFFF:
        raise ProtocolError(f"command line {line!r} needs '<id> <verb>'")
    return Command(int(words[0]), words[1], tuple(words[2:]))
