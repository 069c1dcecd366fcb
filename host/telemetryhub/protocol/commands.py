"""Host-to-board command lines: printable ASCII with a CRC-32, never a REPL control byte.

The argument grammar here is the board's (docs/protocol.md, "Arguments"): the host refuses to
encode what the board would refuse, and the simulator checks lines with the same functions.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, ProtocolError
from telemetryhub.protocol.frames import Code

MAX_LINE_BYTES = 96
MAX_CMD_ID = 0xFFFF
PERIOD_MS_MAX = 60_000
ARG_MAX = (1 << 30) - 1  # counts and seqs stay small ints on a 32-bit board
PPM = 1_000_000
VERBS = frozenset({"hello", "ping", "start", "stop", "reset", "set", "fault", "status", "ack"})
FAULT_MODES = ("none", "random", "intermittent", "deterministic")

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,9}")
_PROBABILITY = re.compile(r"0|1|0\.[0-9]{1,6}|1\.0{1,6}")


@dataclass(frozen=True, slots=True)
class Command:
    """One command: `cmd_id` is echoed back by the board in its RESULT."""

    cmd_id: int
    verb: str
    args: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join((str(self.cmd_id), self.verb, *self.args))


def parse_decimal(word: str, low: int = 0, high: int = ARG_MAX) -> int | None:
    """`word` as an integer in [low, high]: decimal digits, no sign, no leading zero, <= 10."""
    if not _DECIMAL.fullmatch(word):
        return None
    value = int(word)
    return value if low <= value <= high else None


def parse_probability_ppm(word: str) -> int | None:
    """`word` as a probability in parts per million: 0, 1, 0.d{1,6} or 1.0{1,6}."""
    if not _PROBABILITY.fullmatch(word):
        return None
    whole, _, frac = word.partition(".")
    return int(whole) * PPM + int(frac.ljust(6, "0") or "0")


def _fault_error(args: tuple[str, ...]) -> str | None:
    mode = args[0] if args else None
    if mode not in FAULT_MODES:
        return "usage: fault none|random P|intermittent N|deterministic N"
    if mode == "none":
        return None if len(args) == 1 else "fault none takes no argument"
    if len(args) != 2:
        return f"fault {mode} takes one argument"
    if mode == "random":
        return None if parse_probability_ppm(args[1]) is not None else "P must be 0, 1 or 0.d{1,6}"
    low = 1 if mode == "intermittent" else 0
    return None if parse_decimal(args[1], low) is not None else f"N must be {low}-{ARG_MAX}"


def argument_error(verb: str, args: tuple[str, ...]) -> str | None:
    """Why the board answers BAD_ARGUMENT to `verb args`, or None if it accepts them."""
    if verb == "set":
        ok = len(args) == 2 and args[0] == "period_ms"
        ok = ok and parse_decimal(args[1], 1, PERIOD_MS_MAX) is not None
        return None if ok else f"usage: set period_ms N (N 1-{PERIOD_MS_MAX})"
    if verb == "fault":
        return _fault_error(args)
    if verb == "ack":
        ok = len(args) == 1 and parse_decimal(args[0]) is not None
        return None if ok else f"usage: ack SEQ (SEQ 0-{ARG_MAX})"
    return "takes no argument" if args else None


def encode_command(command: Command) -> bytes:
    """The line for `command`: `<id> <verb> [args]*<CRC-32 hex>\\n`.

    Raises ProtocolError for anything the board would refuse: an id outside 0-65535, an
    unknown verb, arguments outside the grammar, a line over 96 bytes.
    """
    if not 0 <= command.cmd_id <= MAX_CMD_ID:
        raise ProtocolError(f"command id {command.cmd_id} is outside 0-{MAX_CMD_ID}")
    text = command.text
    if command.verb not in VERBS:
        raise ProtocolError(f"command {text!r}: unknown verb {command.verb!r}")
    error = argument_error(command.verb, command.args)
    if error is not None:
        raise ProtocolError(f"command {text!r}: {error}")
    line = f"{text}*{zlib.crc32(text.encode()):08X}\n".encode()
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"command line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def decode_command(line: bytes) -> Command:
    """Parse and check one line (the board's side, used by the simulator and the vectors).

    Raises ChecksumError when the line cannot be trusted (no `*CRC`, a bad CRC) and
    ProtocolError when its id is not a decimal 0-65535; the verb and arguments are returned
    unchecked (see VERBS and argument_error).
    """
    text, star, crc_hex = line.rstrip(b"\r\n").rpartition(b"*")
    if not star or not re.fullmatch(rb"[0-9A-F]{8}", crc_hex):
        raise ChecksumError(f"command line {line!r} has no *CRC (8 uppercase hex digits)")
    if f"{zlib.crc32(text):08X}".encode() != crc_hex:
        raise ChecksumError(f"command line {line!r} fails its CRC")
    words = text.decode("ascii", errors="replace").split(" ")
    if len(words) < 2 or parse_decimal(words[0], 0, MAX_CMD_ID) is None:
        raise ProtocolError(f"command line {line!r} needs '<id> <verb>', id 0-{MAX_CMD_ID}")
    return Command(int(words[0]), words[1], tuple(words[2:]))


def judge_line(line: bytes) -> tuple[Code, Command | None]:
    """The board's verdict on one received line (without its newline), as docs/protocol.md says.

    (OK, command) for a line to execute; (code, command) for a RESULT with that error code;
    (code, None) for an ERROR frame: the line cannot be trusted, nor its cmd_id.
    """
    if len(line) > MAX_LINE_BYTES:
        return Code.LINE_TOO_LONG, None
    if any(not 0x20 <= byte <= 0x7E for byte in line):
        return Code.BAD_CHECKSUM, None
    try:
        command = decode_command(line)
    except ChecksumError:
        return Code.BAD_CHECKSUM, None
    except ProtocolError:
        return Code.BAD_ARGUMENT, None
    if command.verb not in VERBS:
        return Code.UNKNOWN_COMMAND, command
    if argument_error(command.verb, command.args) is not None:
        return Code.BAD_ARGUMENT, command
    return Code.OK, command
