"""Wire protocol v1 on the board: frames encoded into preallocated buffers, command lines parsed."""

import binascii
import struct

from micropython import const

PROTO_MAJOR = const(1)
PROTO_MINOR = const(1)

# frame types
T_HELLO = const(1)
T_SAMPLES = const(2)
T_STATE = const(3)
T_RESULT = const(4)
T_STATUS = const(5)
T_ERROR = const(6)

FLAG_RESEND = const(1)

# result and error codes
OK = const(0)
BAD_CHECKSUM = const(1)
UNKNOWN_COMMAND = const(2)
BAD_ARGUMENT = const(3)
INVALID_STATE = const(4)
LINE_TOO_LONG = const(5)
SENSOR_FAULT = const(6)

MAX_SAMPLES = const(16)
LINE_MAX = const(96)
MAX_BODY = const(254)
_HEAD = const(4)
_CRC = const(4)
_SAMPLE_SIZE = const(13)
_MASK16 = const(0xFFFF)

VERBS = ("hello", "ping", "start", "stop", "reset", "set", "fault", "status", "ack")
FAULT_MODES = ("none", "random", "intermittent", "deterministic")
_PERIOD_MAX_MS = const(60000)
_ARG_MAX = "1073741823"  # 2^30 - 1: counts and seqs stay small ints on a 32-bit board
_PPM_DIGITS = const(6)


class FrameEncoder:
    # Each encode_* call returns a memoryview of `0x00 COBS(body) 0x00`, valid until the next call.

    def __init__(self) -> None:
        self.body = bytearray(MAX_BODY)
        self.wire = bytearray(MAX_BODY + 3)
        body_mv = memoryview(self.body)
        wire_mv = memoryview(self.wire)
        # slicing a memoryview allocates: every length needed is sliced once, here
        self._body_views = [body_mv[:n] for n in range(MAX_BODY + 1)]
        self._wire_views = [wire_mv[:n] for n in range(MAX_BODY + 4)]
        self.frame_seq = 0

    def _begin(self, frame_type: int, flags: int) -> None:
        struct.pack_into("<BBH", self.body, 0, frame_type, flags, self.frame_seq)
        self.frame_seq = (self.frame_seq + 1) & _MASK16

    def _put_str(self, offset: int, text: bytes, reserve: int = 0) -> int:
        # cut to fit, leaving `reserve` bytes for the fields that follow the string
        n = len(text)
        room = MAX_BODY - _CRC - offset - 1 - reserve
        if n > room:
            n = room
        self.body[offset] = n
        self.body[offset + 1 : offset + 1 + n] = text[:n] if n < len(text) else text
        return offset + 1 + n

    def _finish(self, length: int) -> memoryview:
        crc = binascii.crc32(self._body_views[length])
        struct.pack_into("<I", self.body, length, crc)
        return self._wire_views[self._cobs(length + _CRC)]

    def _cobs(self, n: int) -> int:
        # n <= 254, so one code byte per zero and never a 0xFF split
        src = self.body
        dst = self.wire
        dst[0] = 0
        code_at = 1
        code = 1
        out = 2
        for i in range(n):
            b = src[i]
            if b:
                dst[out] = b
                code += 1
            else:
                dst[code_at] = code
                code_at = out
                code = 1
            out += 1
        dst[code_at] = code
        dst[out] = 0
        return out + 1

    def encode_hello(
        self,
        ring_capacity: int,
        period_ms: int,
        boot_id: int,
        reset_cause: int,
        state: int,
        device_id: bytes,
        firmware_version: bytes,
        unit: bytes,
        oldest_seq: int,
        next_seq: int,
    ) -> memoryview:
        self._begin(T_HELLO, 0)
        struct.pack_into(
            "<BBHIIBB",
            self.body,
            _HEAD,
            PROTO_MAJOR,
            PROTO_MINOR,
            ring_capacity,
            period_ms,
            boot_id,
            reset_cause,
            state,
        )
        end = self._put_str(_HEAD + 14, device_id, 8)
        end = self._put_str(end, firmware_version, 8)
        end = self._put_str(end, unit, 8)
        struct.pack_into("<II", self.body, end, oldest_seq, next_seq)  # minor 1
        return self._finish(end + 8)

    def begin_samples(self, flags: int, count: int) -> None:
        self._begin(T_SAMPLES, flags)
        self.body[_HEAD] = count

    def put_sample(self, k: int, seq: int, t_ms: int, value_milli: int, channel: int) -> None:
        struct.pack_into(
            "<IIiB", self.body, _HEAD + 1 + k * _SAMPLE_SIZE, seq, t_ms, value_milli, channel
        )

    def finish_samples(self, count: int) -> memoryview:
        return self._finish(_HEAD + 1 + count * _SAMPLE_SIZE)

    def encode_state(self, state: int, cause: int, reason: bytes) -> memoryview:
        self._begin(T_STATE, 0)
        struct.pack_into("<BB", self.body, _HEAD, state, cause)
        return self._finish(self._put_str(_HEAD + 2, reason))

    def encode_result(self, cmd_id: int, code: int, t_ms: int, text: bytes) -> memoryview:
        self._begin(T_RESULT, 0)
        struct.pack_into("<HBI", self.body, _HEAD, cmd_id, code, t_ms)
        return self._finish(self._put_str(_HEAD + 7, text))

    def encode_status(
        self,
        state: int,
        fault_mode: int,
        samples_taken: int,
        samples_sent: int,
        samples_resent: int,
        dropped_overflow: int,
        commands_rejected: int,
        read_failures: int,
        ring_used: int,
        period_ms: int,
        missed_slots: int,
        evicted_sent: int,
        oldest_seq: int,
        fault_param: int,
    ) -> memoryview:
        self._begin(T_STATUS, 0)
        struct.pack_into(
            "<BBIIIIIIHIIIII",
            self.body,
            _HEAD,
            state,
            fault_mode,
            samples_taken,
            samples_sent,
            samples_resent,
            dropped_overflow,
            commands_rejected,
            read_failures,
            ring_used,
            period_ms,
            missed_slots,
            evicted_sent,
            oldest_seq,
            fault_param,
        )
        return self._finish(_HEAD + 48)

    def encode_error(self, code: int, text: bytes) -> memoryview:
        self._begin(T_ERROR, 0)
        self.body[_HEAD] = code
        return self._finish(self._put_str(_HEAD + 1, text))


def _is_decimal(word: str) -> bool:
    # digits only, no sign, no leading zero (except "0" itself), at most 10 digits
    n = len(word)
    if not n or n > 10 or (word[0] == "0" and n > 1):
        return False
    for ch in word:
        if ch < "0" or ch > "9":
            return False
    return True


def parse_count(word: str, low: int) -> int:
    # a decimal in [low, 2^30 - 1]; -1 otherwise (compared as text: no long int is made)
    if not _is_decimal(word) or (len(word) == 10 and word > _ARG_MAX):
        return -1
    value = int(word)
    return value if value >= low else -1


def _is_crc_hex(word: bytes) -> bool:
    if len(word) != 8:
        return False
    for b in word:
        if not (48 <= b <= 57 or 65 <= b <= 70):  # 0-9, A-F: uppercase only
            return False
    return True


def _is_printable(line: bytes) -> bool:
    for b in line:
        if b < 0x20 or b > 0x7E:
            return False
    return True


def parse_probability(word: str) -> int:
    # "0", "1", "0." + 1-6 digits or "1." + 1-6 zeros, in parts per million; -1 otherwise
    if word == "0" or word == "1":
        return 1000000 if word == "1" else 0
    n = len(word)
    if n < 3 or n > 2 + _PPM_DIGITS or word[1] != "." or word[0] not in "01":
        return -1
    frac = word[2:]
    for ch in frac:
        if ch < "0" or ch > "9" or (word[0] == "1" and ch != "0"):
            return -1
    if word[0] == "1":
        return 1000000
    return int(frac) * 10 ** (_PPM_DIGITS - len(frac))


def _check_args(verb: str, args: list[str]) -> bool:
    n = len(args)
    if verb == "set":
        return n == 2 and args[0] == "period_ms" and 1 <= parse_count(args[1], 1) <= _PERIOD_MAX_MS
    if verb == "fault":
        if n == 0 or args[0] not in FAULT_MODES:
            return False
        mode = args[0]
        if mode == "none":
            return n == 1
        if n != 2:
            return False
        if mode == "random":
            return parse_probability(args[1]) >= 0
        return parse_count(args[1], 1 if mode == "intermittent" else 0) >= 0
    if verb == "ack":
        return n == 1 and parse_count(args[0], 0) >= 0
    return n == 0


def parse_command(line: bytes) -> tuple[int, int, str, list[str]]:
    # line: one command line without "\n" (and without a "\r" before it).
    # Returns (code, cmd_id, verb, args); cmd_id is -1 when it cannot be trusted (answer with ERROR).
    if len(line) > LINE_MAX:
        return LINE_TOO_LONG, -1, "", []
    star = line.rfind(b"*")
    if star < 0 or not _is_printable(line) or not _is_crc_hex(line[star + 1 :]):
        return BAD_CHECKSUM, -1, "", []
    text = line[:star]
    if binascii.crc32(text) != int(line[star + 1 :], 16):
        return BAD_CHECKSUM, -1, "", []
    words = text.decode().split(" ")
    if len(words) < 2 or not _is_decimal(words[0]) or int(words[0]) > _MASK16:
        return BAD_ARGUMENT, -1, "", []
    cmd_id = int(words[0])
    verb = words[1]
    args = words[2:]
    if verb not in VERBS:
        return UNKNOWN_COMMAND, cmd_id, verb, args
    if not _check_args(verb, args):
        return BAD_ARGUMENT, cmd_id, verb, args
    return OK, cmd_id, verb, args


class LineReader:
    # Assembles command lines byte by byte into a preallocated buffer.

    def __init__(self) -> None:
        self.buf = bytearray(LINE_MAX)
        self.length = 0
        self._cr = False
        self._discard = False

    def feed(self, b: int) -> int:
        # -> 0 nothing yet, 1 a line is ready (take it with line()), LINE_TOO_LONG once per long line
        if self._cr:
            self._cr = False
            if b == 10:
                return self._end()
            event = self._store(13)  # a stray "\r" stays in the line and fails its check
            if event:
                return event
        if b == 10:
            return self._end()
        if b == 13:
            self._cr = True
            return 0
        return self._store(b)

    def _store(self, b: int) -> int:
        if self._discard:
            return 0
        if self.length == LINE_MAX:
            self._discard = True
            self.length = 0
            return LINE_TOO_LONG
        self.buf[self.length] = b
        self.length += 1
        return 0

    def _end(self) -> int:
        ready = self.length > 0 and not self._discard
        self._discard = False
        if not ready:
            self.length = 0
            return 0
        return 1

    def line(self) -> bytes:
        line = bytes(self.buf[: self.length])
        self.length = 0
        return line
