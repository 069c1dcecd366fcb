# Memory: whole loop steps allocate nothing while Measuring; the whole loop keeps the heap flat.
import gc

import micropython
from app import SAMPLE_TAKEN, App
from faults import Faults
from hal import Clock, Link, NullLink, SimSensor, Watchdog
from ring import Ring
from rng import XorShift16
from support import FakeClock, command, line

from device import MEASURING

_SAMPLES = 10000


def null_app(clock: Clock) -> App:
    rng = XorShift16(4242)
    return App(
        NullLink(),
        clock,
        SimSensor(rng),
        Ring(1024),
        Faults(rng),
        Watchdog(),
        b"mem-board",
        1,
        1,
        1,
    )


def test_sampling_path_allocates_nothing_under_heap_lock():
    # sensor read + fault check + ring push, 10,000 times with the heap locked (the ring
    # overflows along the way, so the drop-oldest path runs too)
    app = null_app(Clock())
    sample = app.sample
    now = 0
    outcome = 0
    taken = 0
    gc.collect()
    micropython.heap_lock()
    try:
        for now in range(_SAMPLES):
            outcome = sample(now)
            if outcome == SAMPLE_TAKEN:
                taken += 1
    finally:
        micropython.heap_unlock()
    assert taken == _SAMPLES
    assert app.ring.next_seq == _SAMPLES
    assert app.ring.dropped_overflow == _SAMPLES - 1024


def test_encoding_samples_allocates_nothing_on_this_port():
    # on 64-bit unix crc32 returns a small int, so encode + send to a null link is allocation
    # free too; on a 32-bit board the CRC result may be a (short-lived) long int
    app = null_app(Clock())
    for now in range(64):
        app.sample(now)
    gc.collect()
    micropython.heap_lock()
    try:
        app.flush()
    finally:
        micropython.heap_unlock()
    assert app.ring.pending() == 0
    assert app.samples_sent == 64


def test_whole_loop_keeps_free_memory_flat_over_10000_samples():
    clock = FakeClock()
    app = null_app(clock)
    app.link = NullLink()
    app.boot()
    app.device.start()

    def run(n: int) -> None:
        for _ in range(n):
            clock.now += 1
            app.step()
            app.ring.ack(app.ring.next_seq - 1) if app.ring.count > 512 else None

    run(2000)  # warm up: the ring and every code path are touched once
    gc.collect()
    before = gc.mem_free()
    run(_SAMPLES)
    gc.collect()
    after = gc.mem_free()
    assert app.samples_taken == 2000 + _SAMPLES
    assert app.samples_sent == 2000 + _SAMPLES
    assert abs(after - before) <= 64, (before, after)


def test_commands_leave_no_garbage_behind():
    clock = FakeClock()
    rng = XorShift16(1)
    from support import RecordingLink

    app = App(
        RecordingLink(),
        clock,
        SimSensor(rng),
        Ring(64),
        Faults(rng),
        Watchdog(),
        b"mem-board",
        1,
        1,
        1,
    )
    for _ in range(3):
        command(app, "1 status")
    gc.collect()
    before = gc.mem_free()
    for i in range(200):
        command(app, f"{i} ping")
        command(app, f"{i} status")
    gc.collect()
    assert abs(gc.mem_free() - before) <= 256


class PartialLink(Link):
    # reads nothing; takes at most 2 bytes per write and nothing every other call, so the TX
    # queue fills, frames go out in pieces and the ring overflows; allocates nothing itself
    def __init__(self) -> None:
        self.calls = 0
        self.written = 0

    def read(self, buf: bytearray) -> int:
        return 0

    def write(self, buf: bytearray, off: int, n: int) -> int:
        self.calls += 1
        if self.calls % 2 == 0:
            return 0
        n = 2 if n > 2 else n
        self.written += n
        return n

    def wait(self, timeout_ms: int, writing: bool) -> None:
        pass


def _locked_steps(app: App, clock: FakeClock, steps: int) -> int:
    # `steps` loop iterations at 1 ms with the heap locked; an allocation raises MemoryError
    step = app.step
    done = 0
    gc.collect()
    micropython.heap_lock()
    try:
        while done < steps:
            clock.now += 1
            step()
            done += 1
    finally:
        micropython.heap_unlock()
    return done


def test_whole_loop_steps_allocate_nothing_in_every_fault_mode_and_on_a_slow_link():
    # input polling, scheduling, sampling, the fault branches, SENSOR_FAULT errors, SAMPLES
    # frames, the TX queue and partial writes: every step of 1 ms while Measuring
    for fault in ("none", "random 0.3", "intermittent 2", "deterministic 1000000"):
        for link in (NullLink(), PartialLink()):
            clock = FakeClock()
            app = App(
                link, clock, SimSensor(XorShift16(7)), Ring(64), Faults(XorShift16(9)),
                Watchdog(), b"mem-board", 1, 1, 1,
            )  # fmt: skip
            for text in ("1 set period_ms 1", "2 fault " + fault, "3 start"):
                app.handle_line(line(text)[:-1])  # these links read nothing
            _locked_steps(app, clock, 50)  # warm-up: lazily made objects are made here
            taken = app.samples_taken
            for _ in range(10):
                if app.device.state != MEASURING:  # random faults reach SafeState now and then
                    app.handle_line(line("8 reset")[:-1])
                    app.handle_line(line("9 start")[:-1])
                assert _locked_steps(app, clock, 200) == 200
            assert app.samples_taken - taken > 500, fault
            assert app.faults.read_failures > 0 or fault in ("none", "deterministic 1000000")
            if isinstance(link, PartialLink):
                assert app.ring.dropped_overflow > 0, fault  # the slow link made the ring overflow
