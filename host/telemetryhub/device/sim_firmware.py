"""SimFirmware: the firmware's behaviour (docs/protocol.md) in pure Python, sans I/O.

Bytes from the host go in with `receive`, time goes in as the board's tick (`now_ms`), frame
bytes come out of `take_output`. No threads, no clock, no port: SimulatedBoard wraps it as a
Transport, and anything else (an event loop, a test) can drive it step by step.
"""

from __future__ import annotations

import math
import random

from telemetryhub.device.sim_parts import Counters, SimFaults, SimRing
from telemetryhub.models import DeviceState, FaultMode
from telemetryhub.protocol import (
    FLAG_RESEND,
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
    encode_frame,
)
from telemetryhub.protocol.commands import judge_line, parse_probability_ppm

_MASK30 = SEQ_MODULUS - 1
_LINE_MAX = 96
_SAFE_AFTER_FAILURES = 5
_RESET_POWER_ON = 1
_MAX_CATCH_UP = 4096  # samples taken at most per advance(); later slots count as missed
_ERROR_TEXTS = {  # the firmware's texts
    Code.BAD_CHECKSUM: "bad checksum",
    Code.BAD_ARGUMENT: "bad argument",
    Code.LINE_TOO_LONG: "line too long",
}
REASON_DETERMINISTIC = "deterministic fault"
REASON_SENSOR = f"{_SAFE_AFTER_FAILURES} consecutive sensor read failures"


class SimFirmware:
    """One board's firmware: state machine, ring, faults, counters, commands, frames out.

    `connected` says whether a host holds the port: frames made while it does not are lost,
    as on a USB link (the host resends with `hello`). Single-threaded: the caller serialises.
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        device_id: str,
        period_ms: int,
        ring_capacity: int,
        unit: str,
        firmware_version: str,
        proto_major: int = PROTO_MAJOR,
    ) -> None:
        self._rng = rng
        self._device_id = device_id
        self._default_period_ms = period_ms
        self._ring_capacity = ring_capacity
        self._unit = unit
        self._firmware_version = firmware_version
        self._proto_major = proto_major
        self.connected = False
        self.lost_frames = 0  # SAMPLES frames to lose on the way (a test hook)
        self._out = bytearray()
        self._line = bytearray()
        self._line_discard = False
        self.boot(0)

    # --- driving it ------------------------------------------------------------------------

    def boot(self, now_ms: int) -> None:
        """Power-on: new boot_id, seq 0, empty ring; HELLO and STATE(boot) go out."""
        self.boot_id = self._rng.getrandbits(32)
        self.state = DeviceState.IDLE
        self.period_ms = self._default_period_ms
        self.counters = Counters()
        self.ring = SimRing(self._ring_capacity, self.counters)
        self.faults = SimFaults(self._rng)
        self._frame_seq = 0
        self._now_ms = now_ms
        self._next_due_ms = now_ms
        self._last_slot_ms: int | None = None  # the last slot sampled since `start`
        self._emit(self._hello())
        self._emit(State(DeviceState.IDLE, StateCause.BOOT, "boot"))

    def receive(self, data: bytes, now_ms: int) -> None:
        """Bytes from the host: complete lines are executed at once, as the loop does."""
        self._now_ms = now_ms
        for byte in data:
            self._feed(byte)

    def advance(self, now_ms: int, samples: int | None = None) -> None:
        """One pass of the loop at `now_ms`: sample every slot due (or `samples` samples at
        once, whatever the time), then send what is pending."""
        self._now_ms = now_ms
        if samples is None:
            self._catch_up(now_ms)
        else:
            for _ in range(samples):
                if self.state != DeviceState.MEASURING:
                    break
                self._sample(now_ms)
        self._send_pending()

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    def take_output(self) -> bytes:
        """The bytes sent since the last call."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def emit_raw(self, data: bytes) -> None:
        """Raw bytes on the wire, like the REPL printing a traceback."""
        if self.connected:
            self._out += data

    def ms_to_next_sample(self, now_ms: int) -> float:
        if self.state != DeviceState.MEASURING:
            return math.inf
        return max(0, self._next_due_ms - now_ms)

    def status(self) -> Status:
        """The STATUS the board would send now."""
        c = self.counters
        return Status(
            state=self.state,
            fault_mode=self.faults.mode,
            samples_taken=c.samples_taken,
            samples_sent=c.samples_sent,
            samples_resent=c.samples_resent,
            dropped_overflow=c.dropped_overflow,
            commands_rejected=c.commands_rejected,
            read_failures=c.read_failures,
            ring_used=len(self.ring.items),
            period_ms=self.period_ms,
            missed_slots=c.missed_slots,
            evicted_sent=c.evicted_sent,
            oldest_seq=self.ring.oldest_seq(),
            fault_param=self.faults.param,
        )

    # --- frames ----------------------------------------------------------------------------

    def _hello(self) -> Hello:
        return Hello(
            proto_major=self._proto_major,
            proto_minor=PROTO_MINOR,
            ring_capacity=self._ring_capacity,
            period_ms=self.period_ms,
            boot_id=self.boot_id,
            reset_cause=_RESET_POWER_ON,
            state=self.state,
            device_id=self._device_id,
            firmware_version=self._firmware_version,
            unit=self._unit,
            oldest_seq=self.ring.oldest_seq(),
            next_seq=self.ring.next_seq,
        )

    def _emit(self, payload: Payload, flags: int = 0) -> None:
        frame = encode_frame(payload, self._frame_seq, flags)
        self._frame_seq = (self._frame_seq + 1) & 0xFFFF
        if self.connected:
            self._out += frame

    def _send_pending(self) -> None:
        while True:
            batch, resend = self.ring.next_batch()
            if not batch:
                return
            self.counters.add("samples_resent" if resend else "samples_sent", len(batch))
            if self.lost_frames:
                self.lost_frames -= 1
                self._frame_seq = (self._frame_seq + 1) & 0xFFFF
                continue
            self._emit(Samples(tuple(batch)), FLAG_RESEND if resend else 0)

    # --- sampling --------------------------------------------------------------------------

    def _catch_up(self, now_ms: int) -> None:
        taken = 0
        period = self.period_ms
        while self.state == DeviceState.MEASURING and now_ms - self._next_due_ms >= 0:
            if taken == _MAX_CATCH_UP:  # the loop fell behind: skip to the grid, count it
                skipped = (now_ms - self._next_due_ms) // period + 1
                self.counters.add("missed_slots", skipped)
                self._next_due_ms += skipped * period
                return
            self._sample(self._next_due_ms)
            self._next_due_ms += period
            taken += 1

    def _sample(self, t_ms: int) -> None:
        self._last_slot_ms = t_ms
        faults = self.faults
        if faults.safe_state_due():
            self._enter_safe_state(REASON_DETERMINISTIC)
            return
        if faults.injects_failure():
            self._read_failed()
            return
        faults.consecutive = 0
        seq = self.ring.next_seq
        self.counters.add("samples_taken")
        # 42.0 + noise, as the seed design's device (with a slow wave, for the chart's sake)
        self.ring.push(t_ms, 42_000 + int(500 * math.sin(seq / 50)) + self._rng.randint(-100, 100))
        if faults.mode == FaultMode.DETERMINISTIC:
            faults.remaining -= 1
            if faults.safe_state_due():
                self._enter_safe_state(REASON_DETERMINISTIC)

    def _read_failed(self) -> None:
        faults = self.faults
        faults.consecutive += 1
        self.counters.add("read_failures")
        if faults.consecutive == 1:
            self._emit(Error(Code.SENSOR_FAULT, "sensor read failed"))
        if faults.consecutive >= _SAFE_AFTER_FAILURES:
            self._enter_safe_state(REASON_SENSOR)

    def _enter_safe_state(self, reason: str) -> None:
        self._send_pending()  # the samples taken before the fault go out before the STATE
        self.state = DeviceState.SAFE_STATE
        self._emit(State(DeviceState.SAFE_STATE, StateCause.FAULT, reason))

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
            self._reject_line(Code.LINE_TOO_LONG)
            return
        self._line.append(byte)

    def _reject_line(self, code: Code) -> None:
        self.counters.add("commands_rejected")
        self._emit(Error(code, _ERROR_TEXTS[code]))

    def _execute(self, line: bytes) -> None:
        code, command = judge_line(line)
        if command is None:  # its cmd_id cannot be trusted: ERROR, not RESULT
            self._reject_line(code)
            return
        text = ""
        if code == Code.OK:
            code, text = getattr(self, f"_do_{command.verb}")(command.args)
        if code != Code.OK:
            self.counters.add("commands_rejected")
            text = text or code.name.lower().replace("_", " ")
        self._emit(Result(command.cmd_id, code, self._now_ms & _MASK30, text))

    def _do_hello(self, args: tuple[str, ...]) -> tuple[Code, str]:
        self._emit(self._hello())
        self.ring.cursor = 0
        return Code.OK, "hello"

    def _do_ping(self, args: tuple[str, ...]) -> tuple[Code, str]:
        return Code.OK, "pong"

    def _do_start(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if self.state != DeviceState.IDLE:
            return Code.INVALID_STATE, f"start needs Idle, state is {self.state.label}"
        self._change_state(DeviceState.MEASURING, "start")
        self._next_due_ms = self._now_ms  # the first sample at once
        self._last_slot_ms = None
        return Code.OK, "measuring"

    def _do_stop(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if self.state != DeviceState.MEASURING:
            return Code.INVALID_STATE, f"stop needs Measuring, state is {self.state.label}"
        self._change_state(DeviceState.IDLE, "stop")
        return Code.OK, "idle"

    def _do_reset(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if self.state != DeviceState.IDLE:
            self._change_state(DeviceState.IDLE, "reset")
        self.faults.clear()
        return Code.OK, "idle"

    def _change_state(self, state: DeviceState, reason: str) -> None:
        self.state = state
        self._emit(State(state, StateCause.COMMAND, reason))

    def _do_status(self, args: tuple[str, ...]) -> tuple[Code, str]:
        self._emit(self.status())
        return Code.OK, "status"

    def _do_set(self, args: tuple[str, ...]) -> tuple[Code, str]:
        period_ms = int(args[1])
        self.period_ms = period_ms
        if self.state == DeviceState.MEASURING and self._last_slot_ms is not None:
            # at once: the next sample is due period_ms after the last one (now if past)
            self._next_due_ms = max(self._last_slot_ms + period_ms, self._now_ms)
        return Code.OK, f"period_ms {period_ms}"

    def _do_fault(self, args: tuple[str, ...]) -> tuple[Code, str]:
        mode = FaultMode[args[0].upper()]
        if mode == FaultMode.NONE:
            param = 0
        elif mode == FaultMode.RANDOM:
            param = parse_probability_ppm(args[1]) or 0
        else:
            param = int(args[1])
        self.faults.configure(mode, param)
        return Code.OK, f"fault {' '.join(args)}"

    def _do_ack(self, args: tuple[str, ...]) -> tuple[Code, str]:
        if not self.ring.ack(int(args[0])):
            return Code.BAD_ARGUMENT, f"ack {args[0]} is ahead of the newest sample"
        return Code.OK, "acked"
