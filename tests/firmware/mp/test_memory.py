# Memory: the sampling path allocates nothing; the whole loop keeps the heap flat.
import gc

import micropython
from app import SAMPLE_TAKEN, App
from faults import Faults
from hal import Clock, NullLink, SimSensor, Watchdog
from ring import Ring
from rng import XorShift16
from support import FakeClock, command

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
