"""The payload of each frame type: typed values, byte layouts per minor, encoding, strict decoding.

Minor versions only append fields (docs/protocol.md, "Minor versions"): the fields of each
payload form one group per minor. A sender of minor m sends groups 0..m; a receiver of minor r
decodes groups 0..min(m, r), ignores the bytes after them only when m > r, and counts anything
else (a missing field, trailing bytes from a sender that is not newer) as a framing error.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.errors import FramingError, ProtocolError

PROTO_MINOR = 1
MAX_BODY_BYTES = 254
MAX_SAMPLES_PER_FRAME = 16

_HELLO = struct.Struct("<BBHIIBB")
_HELLO_1_1 = struct.Struct("<II")  # oldest_seq, next_seq
_SAMPLE = struct.Struct("<IIiB")
_STATE = struct.Struct("<BB")
_RESULT = struct.Struct("<HBI")
_STATUS = struct.Struct("<BBIIIIIIHI")
_STATUS_1_1 = struct.Struct("<IIII")  # missed_slots, evicted_sent, oldest_seq, fault_param
_ERROR = struct.Struct("<B")

# values outside these ranges are framing errors: a minor never adds states, causes or modes
_STATES = range(3)
_CAUSES = range(3)
_FAULT_MODES = range(4)


class FrameType(enum.IntEnum):
    """The `type` byte of a frame."""

    HELLO = 0x01
    SAMPLES = 0x02
    STATE = 0x03
    RESULT = 0x04
    STATUS = 0x05
    ERROR = 0x06


@dataclass(frozen=True, slots=True)
class Hello:
    """The board introduces itself; `oldest_seq`/`next_seq` (1.1) bound the seqs it holds."""

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
    oldest_seq: int = 0
    next_seq: int = 0


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
    """The board's counters; the last four fields came with minor 1 (0 from a 1.0 board)."""

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
    missed_slots: int = 0
    evicted_sent: int = 0
    oldest_seq: int = 0
    fault_param: int = 0


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


# --- encoding ------------------------------------------------------------------------------


def _pack_str(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ProtocolError(f"string of {len(raw)} bytes does not fit a u8 length")
    return bytes([len(raw)]) + raw


def _encode_hello(p: Hello, minor: int) -> bytes:
    head = _HELLO.pack(
        p.proto_major,
        p.proto_minor,
        p.ring_capacity,
        p.period_ms,
        p.boot_id,
        p.reset_cause,
        p.state,
    )
    data = head + b"".join(_pack_str(s) for s in (p.device_id, p.firmware_version, p.unit))
    return data + _HELLO_1_1.pack(p.oldest_seq, p.next_seq) if minor >= 1 else data


def _encode_samples(p: Samples) -> bytes:
    if not 1 <= len(p.samples) <= MAX_SAMPLES_PER_FRAME:
        raise ProtocolError(f"a SAMPLES frame carries 1-16 samples, not {len(p.samples)}")
    body = b"".join(_SAMPLE.pack(s.seq, s.t_ms, s.value_milli, s.channel) for s in p.samples)
    return bytes([len(p.samples)]) + body


def _encode_status(p: Status, minor: int) -> bytes:
    data = _STATUS.pack(
        p.state,
        p.fault_mode,
        p.samples_taken,
        p.samples_sent,
        p.samples_resent,
        p.dropped_overflow,
        p.commands_rejected,
        p.read_failures,
        p.ring_used,
        p.period_ms,
    )
    if minor < 1:
        return data
    return data + _STATUS_1_1.pack(p.missed_slots, p.evicted_sent, p.oldest_seq, p.fault_param)


def encode_payload(payload: Payload, minor: int | None = None) -> tuple[int, bytes]:
    """The frame type and payload bytes for `payload`, with the fields of minors up to `minor`.

    `minor` defaults to the HELLO's own `proto_minor` for a HELLO, else to PROTO_MINOR.
    """
    if minor is None:
        minor = payload.proto_minor if isinstance(payload, Hello) else PROTO_MINOR
    match payload:
        case Hello():
            return FrameType.HELLO, _encode_hello(payload, minor)
        case Samples():
            return FrameType.SAMPLES, _encode_samples(payload)
        case State():
            return FrameType.STATE, _STATE.pack(payload.state, payload.cause) + _pack_str(
                payload.reason
            )
        case Result():
            head = _RESULT.pack(payload.cmd_id, payload.code, payload.t_ms)
            return FrameType.RESULT, head + _pack_str(payload.text)
        case Status():
            return FrameType.STATUS, _encode_status(payload, minor)
        case Error():
            return FrameType.ERROR, _ERROR.pack(payload.code) + _pack_str(payload.text)
        case Unknown():
            return payload.frame_type, payload.data


# --- decoding ------------------------------------------------------------------------------


class _Reader:
    """Reads one payload front to back; every shortfall is a FramingError naming the frame."""

    def __init__(self, data: bytes, name: str, peer_minor: int | None) -> None:
        self._data = data
        self._at = 0
        self.name = name
        self.peer_minor = peer_minor

    def fields(self, layout: struct.Struct) -> tuple[int, ...]:
        if self._at + layout.size > len(self._data):
            raise FramingError(
                f"{self.name} payload of {len(self._data)} bytes ends inside its fields"
            )
        values = layout.unpack_from(self._data, self._at)
        self._at += layout.size
        return values

    def text(self) -> str:
        if self._at >= len(self._data):
            raise FramingError(f"{self.name} payload lacks a string's length byte")
        end = self._at + 1 + self._data[self._at]
        if end > len(self._data):
            raise FramingError(f"a string runs past the end of the {self.name} payload")
        raw = self._data[self._at + 1 : end]
        self._at = end
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FramingError(f"a string of the {self.name} payload is not UTF-8") from None

    def has(self, minor: int) -> bool:
        """Whether the fields that `minor` added are in this payload."""
        if minor > PROTO_MINOR:
            return False
        if self.peer_minor is None:  # no HELLO yet: present if there is anything left
            return self._at < len(self._data)
        return self.peer_minor >= minor

    def end(self) -> None:
        """Trailing bytes are a newer minor's fields (ignored) or a framing error."""
        left = len(self._data) - self._at
        newer = self.peer_minor is None or self.peer_minor > PROTO_MINOR
        if left and not newer:
            raise FramingError(
                f"{left} trailing bytes after a {self.name} payload from a minor "
                f"{self.peer_minor} board"
            )


def _check(value: int, allowed: range, what: str, name: str) -> int:
    if value not in allowed:
        raise FramingError(f"{name} carries {what} {value}, not one of 0-{allowed.stop - 1}")
    return value


def _decode_hello(r: _Reader) -> Hello:
    major, minor, capacity, period_ms, boot_id, reset_cause, state = r.fields(_HELLO)
    r.peer_minor = minor  # a HELLO's own minor decides its layout
    _check(state, _STATES, "state", r.name)
    device_id, firmware_version, unit = r.text(), r.text(), r.text()
    oldest_seq, next_seq = r.fields(_HELLO_1_1) if r.has(1) else (0, 0)
    return Hello(
        major, minor, capacity, period_ms, boot_id, reset_cause, state,
        device_id, firmware_version, unit, oldest_seq, next_seq,
    )  # fmt: skip


def _decode_samples(r: _Reader) -> Samples:
    (count,) = r.fields(_ERROR)
    if not 1 <= count <= MAX_SAMPLES_PER_FRAME:
        raise FramingError(f"SAMPLES frame with count {count}, not 1-16")
    return Samples(tuple(WireSample(*r.fields(_SAMPLE)) for _ in range(count)))


def _decode_state(r: _Reader) -> State:
    state, cause = r.fields(_STATE)
    _check(state, _STATES, "state", r.name)
    _check(cause, _CAUSES, "cause", r.name)
    return State(state, cause, r.text())


def _decode_result(r: _Reader) -> Result:
    cmd_id, code, t_ms = r.fields(_RESULT)
    return Result(cmd_id, code, t_ms, r.text())


def _decode_status(r: _Reader) -> Status:
    fields = r.fields(_STATUS)
    _check(fields[0], _STATES, "state", r.name)
    _check(fields[1], _FAULT_MODES, "fault_mode", r.name)
    extra = r.fields(_STATUS_1_1) if r.has(1) else ()
    return Status(*fields, *extra)


def _decode_error(r: _Reader) -> Error:
    (code,) = r.fields(_ERROR)
    return Error(code, r.text())


_DECODERS: dict[int, Callable[[_Reader], Payload]] = {
    FrameType.HELLO: _decode_hello,
    FrameType.SAMPLES: _decode_samples,
    FrameType.STATE: _decode_state,
    FrameType.RESULT: _decode_result,
    FrameType.STATUS: _decode_status,
    FrameType.ERROR: _decode_error,
}


def decode_payload(frame_type: int, data: bytes, peer_minor: int | None) -> Payload:
    """The typed payload of a CRC-checked frame; FramingError for any malformed payload."""
    decode = _DECODERS.get(frame_type)
    if decode is None:
        return Unknown(frame_type, bytes(data))
    reader = _Reader(data, FrameType(frame_type).name, peer_minor)
    payload = decode(reader)
    reader.end()
    return payload
