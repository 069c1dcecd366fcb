# Fault injection: none, random P, intermittent N, deterministic N, and the five-failures rule.
from codec import SENSOR_FAULT
from faults import DETERMINISTIC, INTERMITTENT, NONE, RANDOM, Faults
from rng import XorShift16
from support import ERROR, FlakySensor, command, make_app, seqs, state, status, tick

from device import CAUSE_FAULT, MEASURING, SAFE_STATE


def pattern(faults: Faults, n: int) -> list:
    return [1 if faults.injects_failure() else 0 for _ in range(n)]


def test_none_never_fails():
    assert pattern(Faults(XorShift16(1)), 1000) == [0] * 1000


def test_random_fails_with_probability_p():
    for ppm, low, high in ((0, 0, 0), (1000000, 10000, 10000), (250000, 2200, 2800)):
        faults = Faults(XorShift16(7))
        faults.configure(RANDOM, ppm)
        assert low <= sum(pattern(faults, 10000)) <= high, ppm


def test_random_is_deterministic_for_a_seed():
    a = Faults(XorShift16(99))
    b = Faults(XorShift16(99))
    a.configure(RANDOM, 450000)
    b.configure(RANDOM, 450000)
    assert pattern(a, 200) == pattern(b, 200)


def test_intermittent_fails_n_then_succeeds_once():
    faults = Faults(XorShift16(1))
    faults.configure(INTERMITTENT, 3)
    assert pattern(faults, 8) == [1, 1, 1, 0, 1, 1, 1, 0]


def test_deterministic_enters_safe_state_after_n_samples():
    app = make_app()
    command(app, "1 fault deterministic 3")
    command(app, "2 start")
    frames = tick(app, 6)
    assert seqs(frames) == [0, 1, 2]
    assert state(frames[-1]) == (SAFE_STATE, CAUSE_FAULT)
    assert app.faults.mode == DETERMINISTIC


def test_intermittent_below_five_keeps_measuring_with_one_error_per_run():
    app = make_app()
    command(app, "1 fault intermittent 2")
    command(app, "2 start")
    frames = tick(app, 9)
    assert seqs(frames) == [0, 1, 2]
    errors = [f for f in frames if f[0] == ERROR]
    assert len(errors) == 3
    assert errors[0][3][0] == SENSOR_FAULT
    assert app.device.state == MEASURING
    assert app.faults.read_failures == 6


def test_five_consecutive_failed_reads_enter_safe_state():
    sensor = FlakySensor()
    app = make_app(sensor=sensor)
    command(app, "1 start")
    tick(app, 2)
    sensor.failing = True
    frames = tick(app, 4)
    assert app.device.state == MEASURING
    assert [f[0] for f in frames] == [ERROR]  # once per entry into a failing run
    frames = tick(app, 1)
    assert state(frames[0]) == (SAFE_STATE, CAUSE_FAULT)
    frames = command(app, "2 status")
    st = status(frames[0])
    assert st[0] == SAFE_STATE
    assert st[2] == 2
    assert st[7] == 5


def test_fault_none_and_reset_clear_the_injection():
    app = make_app()
    command(app, "1 fault random 1")
    command(app, "2 start")
    tick(app, 3)
    assert app.faults.consecutive == 3
    command(app, "3 fault none")
    assert app.faults.mode == NONE
    assert app.faults.consecutive == 0
    assert seqs(tick(app, 2)) == [0, 1]
    command(app, "4 fault intermittent 9")
    tick(app, 5)
    assert app.device.state == SAFE_STATE
    command(app, "5 reset")
    assert app.faults.consecutive == 0
    assert app.faults.phase == 0


def test_random_p_one_reaches_safe_state_without_samples():
    app = make_app()
    command(app, "1 fault random 1.0")
    command(app, "2 start")
    frames = tick(app, 5)
    assert seqs(frames) == []
    assert state(frames[-1]) == (SAFE_STATE, CAUSE_FAULT)
