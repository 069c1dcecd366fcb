"""SimulatedBoard: the firmware's behaviour (docs/protocol.md) in pure Python, as a Transport."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.errors import ChecksumError, PortBusyError, ProtocolError, TransportError
from telemetryhub.models import DeviceState, FaultMode
from telemetryhub.protocol import (
    FLAG_RESEND,
    MAX_SAMPLES_PER_FRAME,
    PROTO_MAJOR,
    PROTO_MINOR,
    SEQ_MODULUS,
    Code,
    Error,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    StateCause,
    Status,
    WireSample,
    decode_command,
    encode_frame,
)

_MASK30 = SEQ_MODULUS - 1
_LINE_MAX = 96
_SAFE_AFTER_FAILURES = 5
_PERIOD_MAX_MS = 60_000
_RESET_POWER_ON = 1
_READY_RECHECK_S = (
    0.1  # a clock the loop cannot see (a test's manual clock) is looked at this often
)
_MAX_CATCH_UP = 4096  # samples taken at most per pump when the host was away


@dataclass(slots=True)
class _Counters:
    samples_taken: int = 0
    samples_sent: int = 0
    samples_resent: int = 0
    dropped_overflow: int = 0
    commands_rejected: int = 0
    read_failures: int = 0


class _Ring:
    """Samples kept until acked; `cursor` is the next to send, `sent_mark` the first never sent."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: deque[WireSample] = deque()
        self.cursor = 0
        self.sent_mark = 0

    def push(self, sample: WireSample) -> bool:
        """Append; True when the oldest sample had to be dropped."""
        dropped = len(self.items) == self.capacity
        if dropped:
            self._drop(1)
        self.items.append(sample)
        return dropped

    def _drop(self, n: int) -> None:
        for _ in range(n):
            self.items.popleft()
        self.cursor = max(0, self.cursor - n)
        self.sent_mark = max(0, self.sent_mark - n)

    def ack(self, seq: int) -> None:
        if not self.items:
            return
        ahead = (seq - self.items[0].seq) & _MASK30
        if ahead >= SEQ_MODULUS // 2:
            return  # older than the oldest sample held
        self._drop(min(ahead + 1, len(self.items)))

    def next_batch(self) -> tuple[list[WireSample], bool]:
        """Up to 16 samples from the cursor, never mixing resent and new ones."""
        resend = self.cursor < self.sent_mark
        end = self.sent_mark if resend else len(self.items)
        end = min(end, self.cursor + MAX_SAMPLES_PER_FRAME)
        batch = [self.items[i] for i in range(self.cursor, end)]
        self.cursor = end
        self.sent_mark = max(self.sent_mark, self.cursor)
        return batch, resend


class _Faults:
    """Injected sensor faults, mirroring firmware/faults.py."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mode = FaultMode.NONE
        self.probability = 0.0
        self.count = 0
        self.phase = 0
        self.remaining = 0
        self.consecutive = 0

    def configure(self, mode: FaultMode, probability: float, count: int) -> None:
        self.mode, self.probability, self.count = mode, probability, count
        self.clear()

    def clear(self) -> None:
        self.phase = 0
        self.remaining = self.count
        self.consecutive = 0

    def injects_failure(self) -> bool:
        if self.mode == FaultMode.RANDOM:
            return self.rng.random() < self.probability
        if self.mode == FaultMode.INTERMITTENT:
            if self.phase < self.count:
                self.phase += 1
                return True
            self.phase = 0
        return False

    def safe_state_due(self) -> bool:
        return self.mode == FaultMode.DETERMINISTIC and self.remaining <= 0


class SimulatedBoard:
    """A board behind the Transport interface, deterministic for a given `seed`.

    Time comes from `clock` (seconds, default time.monotonic): while Measuring a sample is due
    every `period_ms`, taken lazily when the host reads. With `fast=True` every read takes up to
    `samples_per_read` samples at once, whatever the clock says. Frames produced while the port
    is closed or unplugged are lost, as on a real USB link; `hello` resends what was not acked.

    Threading: `read` from one thread, `write` and the test hooks from any.
    """

    def __init__(
        self,
        *,
        device_id: str = "sim-0001",
        seed: int = 0,
        period_ms: int = 100,
        ring_capacity: int = 1024,
        unit: str = "arb.units",
        firmware_version: str = "sim-1.0",
        proto_major: int = PROTO_MAJOR,
        clock: Callable[[], float] = time.monotonic,
        fast: bool = False,
        samples_per_read: int = 256,
        tick_origin_ms: int = 0,
        name: str | None = None,
    ) -> None:
        self._device_id = device_id
        self._rng = random.Random(seed)
        self._default_period_ms = period_ms
        self._ring_capacity = ring_capacity
        self._unit = unit
        self._firmware_version = firmware_version
        self._proto_major = proto_major
        self._clock = clock
        self._fast = fast
        self._samples_per_read = samples_per_read
        self._tick_origin_ms = tick_origin_ms
        self._name = name or f"sim://{device_id}"
        self._cond = threading.Condition()
        self._open = False
        self._plugged = True
        self._lost_frames = 0
        self._out = bytearray()
        self._line = bytearray()
        self._line_discard = False
        self._boot()

    # --- Transport -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    def open(self) -> None:
        with self._cond:
            if not self._plugged:
                raise TransportError(f"{self._name}: no such port (unplugged)")
            if self._open:
                raise PortBusyError(f"{self._name}: already open")
            self._open = True
            self._out.clear()
            self._line.clear()

    def read(self, timeout_s: float) -> bytes:
        with self._cond:
            self._require_open()
            self._pump()
            if not self._out and timeout_s > 0:
                self._cond.wait(min(timeout_s, self._seconds_to_next_sample()))
                self._require_open()
                self._pump()
            data = bytes(self._out)
            self._out.clear()
            return data

    def write(self, data: bytes) -> None:
        with self._cond:
            self._require_open()
            if not self._fast:  # in fast mode only reads take samples: one batch per read
                self._pump()
            for byte in data:
                self._feed(byte)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False
            self._cond.notify_all()

    # --- the link loop's side (no descriptor: the loop reads when `ready_at` says) ----------

    def fileno(self) -> int | None:
        return None

    def ready_at(self) -> float:
        """When a read may return something (monotonic), looked at again at least every 0.1 s."""
        with self._cond:
            now = time.monotonic()
            if self._out or (self._fast and self._state == DeviceState.MEASURING):
                return now
            return now + min(_READY_RECHECK_S, self._seconds_to_next_sample())

    def read_available(self) -> bytes:
        return self.read(0)

    def write_some(self, data: bytes) -> int:
        self.write(data)
        return len(data)

    # --- test hooks ------------------------------------------------------------------------

    @property
    def boot_id(self) -> int:
        return self._boot_id

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def next_seq(self) -> int:
        """The seq the next sample will get."""
        return self._next_seq

    @property
    def is_open(self) -> bool:
        return self._open

    def power_cycle(self) -> None:
        """Reboot: new boot_id, seq 0, empty ring; HELLO and STATE(boot) go out if open."""
        with self._cond:
            self._boot()
            self._cond.notify_all()

    def unplug(self) -> None:
        """The port vanishes: reads and writes raise TransportError until replug() and open()."""
        with self._cond:
            self._plugged = False
            self._open = False
            self._cond.notify_all()

    def replug(self) -> None:
        """The port is back (the board kept running); the host must open() it again."""
        with self._cond:
            self._plugged = True

    def lose_frames(self, count: int) -> None:
        """The next `count` SAMPLES frames are lost on the way (the host sees a gap)."""
        with self._cond:
            self._lost_frames += count

    def emit_raw(self, data: bytes) -> None:
        """Put raw bytes on the wire, like the REPL printing a traceback."""
        with self._cond:
            if self._open:
                self._out += data
                self._cond.notify_all()

    # --- the board -------------------------------------------------------------------------

    def _boot(self) -> None:
        self._boot_id = self._rng.getrandbits(32)
        self._boot_at_s = self._clock()
        self._state = DeviceState.IDLE
        self._period_ms = self._default_period_ms
        self._ring = _Ring(self._ring_capacity)
        self._faults = _Faults(self._rng)
        self._counters = _Counters()
        self._next_seq = 0
        self._frame_seq = 0
        self._next_due_ms = 0
        self._emit(self._hello())
        self._emit(State(DeviceState.IDLE, StateCause.BOOT, "boot"))

    def _ticks_ms(self) -> int:
        elapsed_us = round((self._clock() - self._boot_at_s) * 1_000_000)  # no float truncation
        return elapsed_us // 1000 + self._tick_origin_ms

    def _seconds_to_next_sample(self) -> float:
        if self._state != DeviceState.MEASURING:
            return math.inf
        return max(0.0, (self._next_due_ms - self._ticks_ms()) / 1000)

    def _require_open(self) -> None:
        if not self._plugged:
            raise TransportError(f"{self._name}: the port vanished (unplugged)")
        if not self._open:
            raise TransportError(f"{self._name}: not open")

    def _hello(self) -> Hello:
        return Hello(
            proto_major=self._proto_major,
            proto_minor=PROTO_MINOR,
            ring_capacity=self._ring_capacity,
            period_ms=self._period_ms,
            boot_id=self._boot_id,
            reset_cause=_RESET_POWER_ON,
            state=self._state,
            device_id=self._device_id,
            firmware_version=self._firmware_version,
            unit=self._unit,
        )

    def _emit(self, payload: Payload, flags: int = 0) -> None:
        frame = encode_frame(payload, self._frame_seq, flags)
        self._frame_seq = (self._frame_seq + 1) & 0xFFFF
        if self._open:
            self._out += frame

    def _pump(self) -> None:
        """One pass of the firmware's main loop after stdin: sample, then send."""
        if self._fast:
            for _ in range(self._samples_per_read):
                if self._state != DeviceState.MEASURING:
                    break
                self._sample(self._ticks_ms())
        else:
            self._catch_up()
        self._send_pending()

    def _catch_up(self) -> None:
        now_ms = self._ticks_ms()
        taken = 0
        while self._state == DeviceState.MEASURING and now_ms - self._next_due_ms >= 0:
            if taken == _MAX_CATCH_UP:
                self._next_due_ms = now_ms + self._period_ms
                break
            self._sample(self._next_due_ms)
            self._next_due_ms += self._period_ms
            taken += 1

    def _sample(self, t_ms: int) -> None:
        faults = self._faults
        if faults.safe_state_due():
            self._enter_safe_state("deterministic fault")
            return
        if faults.injects_failure():
            self._read_failed()
            return
        faults.consecutive = 0
        if faults.mode == FaultMode.DETERMINISTIC:
            faults.remaining -= 1
        seq = self._next_seq
        self._next_seq = (seq + 1) & _MASK30
        self._counters.samples_taken = (self._counters.samples_taken + 1) & _MASK30
        # 42.0 + noise, as the seed design's device (with a slow wave, for the chart's sake)
        value_milli = 42_000 + int(500 * math.sin(seq / 50)) + self._rng.randint(-100, 100)
        if self._ring.push(WireSample(seq, t_ms & _MASK30, value_milli, 0)):
            self._counters.dropped_overflow = (self._counters.dropped_overflow + 1) & _MASK30

    def _read_failed(self) -> None:
        faults = self._faults
        faults.consecutive += 1
        self._counters.read_failures = (self._counters.read_failures + 1) & _MASK30
        if faults.consecutive == 1:
            self._emit(Error(Code.SENSOR_FAULT, "sensor read failed"))
        if faults.consecutive >= _SAFE_AFTER_FAILURES:
            self._enter_safe_state(f"{_SAFE_AFTER_FAILURES} consecutive sensor read failures")

    def _enter_safe_state(self, reason: str) -> None:
        self._state = DeviceState.SAFE_STATE
        self._emit(State(DeviceState.SAFE_STATE, StateCause.FAULT, reason))

    def _send_pending(self) -> None:
        while True:
            batch, resend = self._ring.next_batch()
            if not batch:
                return
            counters = self._counters
            if resend:
                counters.samples_resent = (counters.samples_resent + len(batch)) & _MASK30
            else:
                counters.samples_sent = (counters.samples_sent + len(batch)) & _MASK30
            if self._lost_frames:
                self._lost_frames -= 1
                self._frame_seq = (self._frame_seq + 1) & 0xFFFF
                continue
            self._emit(Samples(tuple(batch)), FLAG_RESEND if resend else 0)

    # --- command lines ---------------------------------------------------------------------

    def _feed(self, byte: int) -> None:
        if byte == 0x0A:
            line, discard = bytes(self._line), self._line_discard
            self._line.clear()
            self._line_discard = False
            if line.endswith(b"\r"):
                line = line[:-1]
            if line and not discard:
                self._execute(line)
            return
        if self._line_discard:
            return
        if len(self._line) == _LINE_MAX:
            self._line.clear()
            self._line_discard = True
            self._reject_line(Code.LINE_TOO_LONG, "line longer than 96 bytes dropped")
            return
        self._line.append(byte)

    def _reject_line(self, code: Code, text: str) -> None:
        self._counters.commands_rejected = (self._counters.commands_rejected + 1) & _MASK30
        self._emit(Error(code, text))

    def _execute(self, line: bytes) -> None:
        if any(not 0x20 <= b <= 0x7E for b in line):
            self._reject_line(Code.BAD_CHECKSUM, "non-printable byte in command line")
            return
        try:
            command = decode_command(line)
        except ChecksumError:
            self._reject_line(Code.BAD_CHECKSUM, "command line CRC mismatch")
            return
        except ProtocolError:
            code = Code.BAD_ARGUMENT if b"*" in line else Code.BAD_CHECKSUM
            self._reject_line(code, "malformed command line")
            return
        code, text = self._dispatch(command.verb, command.args)
        if code != Code.OK:
            self._counters.commands_rejected = (self._counters.commands_rejected + 1) & _MASK30
        self._emit(Result(command.cmd_id, code, self._ticks_ms() & _MASK30, text))

    def _dispatch(self, verb: str, args: tuple[str, ...]) -> tuple[Code, str]:
        handler = self._handlers().get(verb)
        if handler is None:
            return Code.UNKNOWN_COMMAND, f"unknown command {verb!r}"
        return handler(args)

    def _handlers(self) -> dict[str, Callable[[tuple[str, ...]], tuple[Code, str]]]:
        return {
            "hello": self._do_hello,
            "ping": self._no_args(lambda: (Code.OK, "pong")),
            "start": self._no_args(self._do_start),
            "stop": self._no_args(self._do_stop),
            "reset": self._no_args(self._do_reset),
            "status": self._no_args(self._do_status),
            "set": self._do_set,
            "fault": self._do_fault,
            "ack": self._do_ack,
        }

    @staticmethod
    def _no_args(
        action: Callable[[], tuple[Code, str]],
    ) -> Callable[[tuple[str, ...]], tuple[Code, str]]:
        def run(args: tuple[str, ...]) -> tuple[Code, str]:
            return (Code.BAD_ARGUMENT, "takes no argument") if args else action()

        return run

    def _do_hello(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if args:
            return Code.BAD_ARGUMENT, "takes no argument"
        self._emit(self._hello())
        self._ring.cursor = 0
        return Code.OK, "hello"

    def _do_start(self) -> tuple[Code, str]:
        if self._state != DeviceState.IDLE:
            return Code.INVALID_STATE, f"start needs Idle, state is {self._state.label}"
        self._change_state(DeviceState.MEASURING, "start")
        self._next_due_ms = self._ticks_ms() + self._period_ms
        return Code.OK, "measuring"

    def _do_stop(self) -> tuple[Code, str]:
        if self._state != DeviceState.MEASURING:
            return Code.INVALID_STATE, f"stop needs Measuring, state is {self._state.label}"
        self._change_state(DeviceState.IDLE, "stop")
        return Code.OK, "idle"

    def _do_reset(self) -> tuple[Code, str]:
        if self._state != DeviceState.IDLE:
            self._change_state(DeviceState.IDLE, "reset")
        self._faults.clear()
        return Code.OK, "idle"

    def _change_state(self, state: DeviceState, reason: str) -> None:
        self._state = state
        self._emit(State(state, StateCause.COMMAND, reason))

    def _do_status(self) -> tuple[Code, str]:
        c = self._counters
        self._emit(
            Status(
                state=self._state,
                fault_mode=self._faults.mode,
                samples_taken=c.samples_taken,
                samples_sent=c.samples_sent,
                samples_resent=c.samples_resent,
                dropped_overflow=c.dropped_overflow,
                commands_rejected=c.commands_rejected,
                read_failures=c.read_failures,
                ring_used=len(self._ring.items),
                period_ms=self._period_ms,
            )
        )
        return Code.OK, "status"

    def _do_set(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if len(args) != 2 or args[0] != "period_ms" or not _is_decimal(args[1]):
            return Code.BAD_ARGUMENT, "usage: set period_ms N"
        period_ms = int(args[1])
        if not 1 <= period_ms <= _PERIOD_MAX_MS:
            return Code.BAD_ARGUMENT, f"period_ms must be 1-{_PERIOD_MAX_MS}"
        self._period_ms = period_ms
        return Code.OK, f"period_ms {period_ms}"

    def _do_fault(self, args: tuple[str, ...]) -> tuple[Code, str]:
        names = {mode.name.lower(): mode for mode in FaultMode}
        if not args or args[0] not in names:
            return Code.BAD_ARGUMENT, "usage: fault none|random P|intermittent N|deterministic N"
        mode = names[args[0]]
        if mode == FaultMode.NONE:
            if len(args) != 1:
                return Code.BAD_ARGUMENT, "fault none takes no argument"
            self._faults.configure(mode, 0.0, 0)
            return Code.OK, "fault none"
        if len(args) != 2:
            return Code.BAD_ARGUMENT, f"fault {args[0]} takes one argument"
        if mode == FaultMode.RANDOM:
            probability = _parse_probability(args[1])
            if probability is None:
                return Code.BAD_ARGUMENT, "P must be a decimal in 0-1"
            self._faults.configure(mode, probability, 0)
        else:
            minimum = 1 if mode == FaultMode.INTERMITTENT else 0
            if not _is_decimal(args[1]) or int(args[1]) < minimum:
                return Code.BAD_ARGUMENT, f"N must be an integer >= {minimum}"
            self._faults.configure(mode, 0.0, int(args[1]))
        return Code.OK, f"fault {' '.join(args)}"

    def _do_ack(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if len(args) != 1 or not _is_decimal(args[0]) or int(args[0]) >= SEQ_MODULUS:
            return Code.BAD_ARGUMENT, "usage: ack SEQ (0 <= SEQ < 2^30)"
        self._ring.ack(int(args[0]))
        return Code.OK, "acked"


def _is_decimal(word: str) -> bool:
    return 0 < len(word) <= 10 and all("0" <= ch <= "9" for ch in word)


def _parse_probability(word: str) -> float | None:
    whole, _, frac = word.partition(".")
    if not (whole or frac) or (whole and not _is_decimal(whole)):
        return None
    if frac and not all("0" <= ch <= "9" for ch in frac):
        return None
    value = float(f"{whole or 0}.{frac or 0}")
    return value if value <= 1.0 else None
