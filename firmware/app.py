"""The firmware loop: reads command lines, samples on schedule, sends frames over the link."""

from micropython import const

import codec
from codec import FLAG_RESEND, LINE_TOO_LONG, MAX_SAMPLES, OK, FrameEncoder, LineReader
from device import CAUSE_BOOT, CAUSE_COMMAND, CAUSE_FAULT, IDLE, MEASURING, SAFE_STATE, Device
from faults import DETERMINISTIC, INTERMITTENT, NONE, RANDOM, Faults
from hal import Clock, Link, Sensor, Watchdog
from ring import Ring

FIRMWARE_VERSION = b"telemetryhub-fw 0.1.0"

# sample() outcomes
SAMPLE_TAKEN = const(0)
SAMPLE_FAILED = const(1)
SAMPLE_FAILED_SAFE = const(2)  # the fifth failure in a row
SAMPLE_DETERMINISTIC = const(3)  # `fault deterministic N` ran out

_MASK30 = const(0x3FFFFFFF)
_READ_CHUNK = const(32)
_FRAMES_PER_STEP = const(8)
_IDLE_WAIT_MS = const(20)
_LINE_READY = const(1)

_TEXTS = (
    b"",
    b"bad checksum",
    b"unknown command",
    b"bad argument",
    b"invalid state",
    b"line too long",
    b"sensor read failed",
)
_FAULT_MODES = {"none": NONE, "random": RANDOM, "intermittent": INTERMITTENT}


class App:
    def __init__(
        self,
        link: Link,
        clock: Clock,
        sensor: Sensor,
        ring: Ring,
        faults: Faults,
        watchdog: Watchdog,
        device_id: bytes,
        boot_id: int,
        reset_cause: int,
        period_ms: int,
    ) -> None:
        self.link = link
        self.clock = clock
        self.sensor = sensor
        self.ring = ring
        self.faults = faults
        self.watchdog = watchdog
        self.device_id = device_id
        self.boot_id = boot_id
        self.reset_cause = reset_cause
        self.period_ms = period_ms
        self.device = Device()
        self.encoder = FrameEncoder()
        self.lines = LineReader()
        self.samples_taken = 0
        self.samples_sent = 0
        self.samples_resent = 0
        self.commands_rejected = 0
        self._chunk = bytearray(_READ_CHUNK)
        self._value = 0
        self._due_ms = clock.ticks_ms()
        self._handlers = {
            "hello": self._do_hello,
            "ping": self._do_ping,
            "start": self._do_start,
            "stop": self._do_stop,
            "reset": self._do_reset,
            "set": self._do_set,
            "fault": self._do_fault,
            "status": self._do_status,
            "ack": self._do_ack,
        }

    # -- the loop

    def run(self) -> None:
        self.boot()
        while self.step():
            self.link.wait(self._wait_ms())

    def boot(self) -> None:
        self._send_hello()
        self._send(self.encoder.encode_state(self.device.state, CAUSE_BOOT, b"boot"))

    def step(self) -> bool:
        # one loop iteration; False once the link's input has ended (unix: the host hung up)
        if not self.poll_input():
            return False
        clock = self.clock
        now = clock.ticks_ms()
        if self.device.state == MEASURING and clock.ticks_diff(now, self._due_ms) >= 0:
            self._schedule_next(now)
            self._on_sample(self.sample(now))
        self.flush()
        self.watchdog.feed()
        return True

    def _schedule_next(self, now: int) -> None:
        clock = self.clock
        due = clock.ticks_add(self._due_ms, self.period_ms)
        # late by a whole period or more (a slow link): skip ahead rather than burst
        self._due_ms = clock.ticks_add(now, self.period_ms) if clock.ticks_diff(now, due) >= 0 else due

    def _wait_ms(self) -> int:
        if self.ring.pending() > 0:
            return 0
        if self.device.state != MEASURING:
            return _IDLE_WAIT_MS
        left = self.clock.ticks_diff(self._due_ms, self.clock.ticks_ms())
        return 0 if left < 0 else _IDLE_WAIT_MS if left > _IDLE_WAIT_MS else left

    # -- sampling: allocates nothing on the success path

    def sample(self, now: int) -> int:
        faults = self.faults
        if faults.safe_state_due():
            return SAMPLE_DETERMINISTIC
        if faults.injects_failure() or not self._read():
            return SAMPLE_FAILED_SAFE if faults.record_failure() else SAMPLE_FAILED
        self.ring.push(now, self._value, 0)
        self.samples_taken = (self.samples_taken + 1) & _MASK30
        faults.record_success()
        return SAMPLE_DETERMINISTIC if faults.safe_state_due() else SAMPLE_TAKEN

    def _read(self) -> bool:
        try:
            self._value = self.sensor.read()
        except OSError:
            return False
        return True

    def _on_sample(self, outcome: int) -> None:
        if outcome == SAMPLE_TAKEN:
            return
        if outcome != SAMPLE_DETERMINISTIC and self.faults.consecutive == 1:
            self._send_error(codec.SENSOR_FAULT)  # once per entry into a failing run
        if outcome == SAMPLE_FAILED_SAFE:
            self._enter_safe_state(b"sensor")
        elif outcome == SAMPLE_DETERMINISTIC:
            self._enter_safe_state(b"deterministic")

    def _enter_safe_state(self, reason: bytes) -> None:
        if self.device.fail():
            self.flush()  # the samples taken before the fault go out before the STATE
            self._send(self.encoder.encode_state(SAFE_STATE, CAUSE_FAULT, reason))

    # -- sending

    def flush(self) -> None:
        # samples from the send cursor, at most 16 per frame, resends in frames of their own
        ring = self.ring
        encoder = self.encoder
        for _ in range(_FRAMES_PER_STEP):
            n = ring.pending()
            if n <= 0:
                return
            resend = ring.is_resend()
            if resend and n > ring.sent_mark - ring.cursor:
                n = ring.sent_mark - ring.cursor
            if n > MAX_SAMPLES:
                n = MAX_SAMPLES
            encoder.begin_samples(FLAG_RESEND if resend else 0, n)
            first = ring.cursor
            for k in range(n):
                i = ring.index(first + k)
                encoder.put_sample(k, ring.seq[i], ring.t_ms[i], ring.value[i], ring.channel[i])
            self._send(encoder.finish_samples(n))
            ring.advance(n)
            if resend:
                self.samples_resent = (self.samples_resent + n) & _MASK30
            else:
                self.samples_sent = (self.samples_sent + n) & _MASK30

    def _send(self, frame: memoryview) -> None:
        link = self.link
        size = len(frame)
        done = link.write(frame)
        while done < size:
            self.watchdog.feed()
            done += link.write(frame[done:])  # a short write is rare: this slice may allocate

    def _send_hello(self) -> None:
        self._send(
            self.encoder.encode_hello(
                self.ring.capacity,
                self.period_ms,
                self.boot_id,
                self.reset_cause,
                self.device.state,
                self.device_id,
                FIRMWARE_VERSION,
                self.sensor.unit,
            )
        )

    def _send_error(self, code: int) -> None:
        self._send(self.encoder.encode_error(code, _TEXTS[code]))

    def _send_result(self, cmd_id: int, code: int) -> None:
        if code != OK:
            self.commands_rejected = (self.commands_rejected + 1) & _MASK30
        t_ms = self.clock.ticks_ms() & _MASK30
        self._send(self.encoder.encode_result(cmd_id, code, t_ms, _TEXTS[code]))

    # -- commands

    def poll_input(self) -> bool:
        chunk = self._chunk
        lines = self.lines
        while True:
            n = self.link.read(chunk)
            if n < 0:
                return False
            for i in range(n):
                event = lines.feed(chunk[i])
                if event == _LINE_READY:
                    self.handle_line(lines.line())
                elif event == LINE_TOO_LONG:
                    self._reject(LINE_TOO_LONG)
            if n < _READ_CHUNK:
                return True

    def _reject(self, code: int) -> None:
        self.commands_rejected = (self.commands_rejected + 1) & _MASK30
        self._send_error(code)

    def handle_line(self, line: bytes) -> None:
        code, cmd_id, verb, args = codec.parse_command(line)
        if cmd_id < 0:
            self._reject(code)  # the id cannot be trusted: ERROR, not RESULT
        elif code != OK:
            self._send_result(cmd_id, code)
        else:
            self._send_result(cmd_id, self._handlers[verb](args))

    def _do_hello(self, args: list[str]) -> int:
        self._send_hello()
        self.ring.rewind()
        return OK

    def _do_ping(self, args: list[str]) -> int:
        return OK

    def _do_start(self, args: list[str]) -> int:
        code = self.device.start()
        if code == OK:
            self._due_ms = self.clock.ticks_ms()
            self._send(self.encoder.encode_state(MEASURING, CAUSE_COMMAND, b"start"))
        return code

    def _do_stop(self, args: list[str]) -> int:
        code = self.device.stop()
        if code == OK:
            self._send(self.encoder.encode_state(IDLE, CAUSE_COMMAND, b"stop"))
        return code

    def _do_reset(self, args: list[str]) -> int:
        self.faults.clear()
        if self.device.reset():
            self._send(self.encoder.encode_state(IDLE, CAUSE_COMMAND, b"reset"))
        return OK

    def _do_set(self, args: list[str]) -> int:
        self.period_ms = int(args[1])
        return OK

    def _do_fault(self, args: list[str]) -> int:
        mode = args[0]
        if mode == "none":
            self.faults.configure(NONE, 0)
        elif mode == "random":
            self.faults.configure(RANDOM, codec.parse_probability(args[1]))
        else:
            self.faults.configure(_FAULT_MODES.get(mode, DETERMINISTIC), int(args[1]))
        return OK

    def _do_status(self, args: list[str]) -> int:
        faults = self.faults
        self._send(
            self.encoder.encode_status(
                self.device.state,
                faults.mode,
                self.samples_taken,
                self.samples_sent,
                self.samples_resent,
                self.ring.dropped_overflow,
                self.commands_rejected,
                faults.read_failures,
                self.ring.count,
                self.period_ms,
            )
        )
        return OK

    def _do_ack(self, args: list[str]) -> int:
        self.ring.ack(int(args[0]))
        return OK
