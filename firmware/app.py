"""The firmware loop: reads command lines, samples on schedule, queues frames for the link."""

from micropython import const

import codec
from codec import BAD_ARGUMENT, FLAG_RESEND, LINE_TOO_LONG, MAX_SAMPLES, OK, FrameEncoder, LineReader
from device import CAUSE_BOOT, CAUSE_COMMAND, CAUSE_FAULT, IDLE, MEASURING, SAFE_STATE, Device
from faults import DETERMINISTIC, INTERMITTENT, NONE, RANDOM, Faults
from hal import Clock, Link, Sensor, Watchdog
from ring import Ring
from tx import TxQueue

FIRMWARE_VERSION = b"telemetryhub-fw 0.2.0"

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

# TX slots: a command line is taken only while its answer (at most two frames) and the STATE
# of a fault still fit; a frame made by sampling (SAMPLES, a SENSOR_FAULT ERROR) only while one
# more does. So the loop never waits for the link, and no answer or state change is dropped.
TX_SLOTS = const(8)
_ANSWER_ROOM = const(3)
_SAMPLING_ROOM = const(4)

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
        self.tx = TxQueue(TX_SLOTS)
        self.lines = LineReader()
        self.samples_taken = 0
        self.samples_sent = 0
        self.samples_resent = 0
        self.commands_rejected = 0
        self.missed_slots = 0
        self._chunk = bytearray(_READ_CHUNK)
        self._chunk_at = 0  # bytes of _chunk already fed to the line reader
        self._chunk_len = 0
        self._value = 0
        self._due_ms = clock.ticks_ms()
        self._last_ms = self._due_ms  # the slot of the last sample (taken or failed)
        self._sampled = False  # a slot was sampled since `start`
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
            self.link.wait(self._wait_ms(), self.tx.used > 0)

    def boot(self) -> None:
        self._send_hello()
        self._send(self.encoder.encode_state(self.device.state, CAUSE_BOOT, b"boot"))
        self.tx.drain(self.link)

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
        self.tx.drain(self.link)
        self.watchdog.feed()
        return True

    def _schedule_next(self, now: int) -> None:
        # slots lie on a grid of period_ms from the first; one sample per slot, taken now for
        # the slot that is due; the slots that passed meanwhile are missed, and counted
        clock = self.clock
        period = self.period_ms
        late = clock.ticks_diff(now, self._due_ms)
        self._last_ms = now
        self._sampled = True
        if late < period:
            self._due_ms = clock.ticks_add(self._due_ms, period)
            return
        missed = late // period
        self.missed_slots = (self.missed_slots + missed) & _MASK30
        self._due_ms = clock.ticks_add(self._due_ms, (missed + 1) * period)

    def _wait_ms(self) -> int:
        if self.ring.pending() > 0 and self.tx.free() >= _SAMPLING_ROOM:
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
            # once per entry into a failing run, if it fits: read_failures counts it anyway
            if self.tx.free() >= _SAMPLING_ROOM:
                self._send_error(codec.SENSOR_FAULT)
        if outcome == SAMPLE_FAILED_SAFE:
            self._enter_safe_state(b"5 consecutive sensor read failures")
        elif outcome == SAMPLE_DETERMINISTIC:
            self._enter_safe_state(b"deterministic fault")

    def _enter_safe_state(self, reason: bytes) -> None:
        if self.device.fail():
            self.flush()  # the samples taken before the fault go out before the STATE
            self._send(self.encoder.encode_state(SAFE_STATE, CAUSE_FAULT, reason))

    # -- sending

    def flush(self) -> None:
        # samples from the send cursor, at most 16 per frame, resends in frames of their own;
        # while the TX queue is short of room no frame is built and the cursor stays put
        ring = self.ring
        encoder = self.encoder
        tx = self.tx
        for _ in range(_FRAMES_PER_STEP):
            n = ring.pending()
            if n <= 0:
                return
            if tx.free() < _SAMPLING_ROOM:
                tx.drain(self.link)
                if tx.free() < _SAMPLING_ROOM:
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
            tx.put(encoder.finish_samples(n))
            ring.advance(n)
            if resend:
                self.samples_resent = (self.samples_resent + n) & _MASK30
            else:
                self.samples_sent = (self.samples_sent + n) & _MASK30

    def _send(self, frame: memoryview) -> None:
        # the room rules above keep a slot free for every frame sent here; should one not be,
        # the frame waits for the link rather than being dropped
        tx = self.tx
        while not tx.put(frame):
            self.watchdog.feed()
            tx.drain(self.link)
            self.link.wait(_IDLE_WAIT_MS, True)

    def _send_hello(self) -> None:
        ring = self.ring
        self._send(
            self.encoder.encode_hello(
                ring.capacity,
                self.period_ms,
                self.boot_id,
                self.reset_cause,
                self.device.state,
                self.device_id,
                FIRMWARE_VERSION,
                self.sensor.unit,
                ring.oldest_seq(),
                ring.next_seq,
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
        # feeds received bytes to the line reader; stops, leaving the rest unread, while the
        # TX queue lacks room for an answer (the host is not reading: it need not be heard)
        chunk = self._chunk
        lines = self.lines
        tx = self.tx
        while True:
            if self._chunk_at == self._chunk_len:
                if tx.free() < _ANSWER_ROOM:
                    return True
                n = self.link.read(chunk)
                if n < 0:
                    return False
                self._chunk_at = 0
                self._chunk_len = n
                if n == 0:
                    return True
            while self._chunk_at < self._chunk_len:
                if tx.free() < _ANSWER_ROOM:
                    return True
                event = lines.feed(chunk[self._chunk_at])
                self._chunk_at += 1
                if event == _LINE_READY:
                    self.handle_line(lines.line())
                elif event == LINE_TOO_LONG:
                    self._reject(LINE_TOO_LONG)

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
            self._due_ms = self.clock.ticks_ms()  # the first sample at once
            self._sampled = False
            self._send(self.encoder.encode_state(MEASURING, CAUSE_COMMAND, b"start"))
        return code

    def _do_stop(self, args: list[str]) -> int:
        code = self.device.stop()
        if code == OK:
            self._send(self.encoder.encode_state(IDLE, CAUSE_COMMAND, b"stop"))
        return code

    def _do_reset(self, args: list[str]) -> int:
        self.faults.clear()  # the fault mode stays armed
        if self.device.reset():
            self._send(self.encoder.encode_state(IDLE, CAUSE_COMMAND, b"reset"))
        return OK

    def _do_set(self, args: list[str]) -> int:
        # at once: the next sample is due period_ms after the last one (now if that is past)
        period = int(args[1])
        self.period_ms = period
        if self.device.state == MEASURING and self._sampled:
            clock = self.clock
            now = clock.ticks_ms()
            due = clock.ticks_add(self._last_ms, period)
            self._due_ms = due if clock.ticks_diff(due, now) > 0 else now
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
        ring = self.ring
        self._send(
            self.encoder.encode_status(
                self.device.state,
                faults.mode,
                self.samples_taken,
                self.samples_sent,
                self.samples_resent,
                ring.dropped_overflow,
                self.commands_rejected,
                faults.read_failures,
                ring.count,
                self.period_ms,
                self.missed_slots,
                ring.evicted_sent,
                ring.oldest_seq(),
                faults.param,
            )
        )
        return OK

    def _do_ack(self, args: list[str]) -> int:
        # refused (and nothing freed) when SEQ is ahead of the newest sample taken
        return BAD_ARGUMENT if self.ring.ack(int(args[0])) < 0 else OK
