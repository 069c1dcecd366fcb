# State machine: every valid and invalid transition, directly and through command lines.
from codec import INVALID_STATE, OK
from support import ERROR, command, make_app, result, state, tick

from device import CAUSE_COMMAND, IDLE, MEASURING, SAFE_STATE, Device


def in_state(s: int) -> Device:
    d = Device()
    d.state = s
    return d


def test_transitions_from_idle():
    assert in_state(IDLE).start() == OK
    assert in_state(IDLE).stop() == INVALID_STATE
    d = in_state(IDLE)
    assert d.reset() is False
    assert d.state == IDLE
    d = in_state(IDLE)
    assert d.fail() is False
    assert d.state == IDLE


def test_transitions_from_measuring():
    d = in_state(MEASURING)
    assert d.start() == INVALID_STATE
    assert d.state == MEASURING
    d = in_state(MEASURING)
    assert d.stop() == OK
    assert d.state == IDLE
    d = in_state(MEASURING)
    assert d.reset() is True
    assert d.state == IDLE
    d = in_state(MEASURING)
    assert d.fail() is True
    assert d.state == SAFE_STATE


def test_transitions_from_safe_state():
    for move in ("start", "stop"):
        d = in_state(SAFE_STATE)
        assert getattr(d, move)() == INVALID_STATE
        assert d.state == SAFE_STATE
    d = in_state(SAFE_STATE)
    assert d.fail() is False
    assert d.state == SAFE_STATE
    d = in_state(SAFE_STATE)
    assert d.reset() is True
    assert d.state == IDLE


def test_commands_answer_state_then_result():
    app = make_app()
    frames = command(app, "1 start")
    assert [f[0] for f in frames] == [3, 4]
    assert state(frames[0]) == (MEASURING, CAUSE_COMMAND)
    assert result(frames[1]) == (1, OK)
    frames = command(app, "2 start")
    assert len(frames) == 1
    assert result(frames[0]) == (2, INVALID_STATE)
    frames = command(app, "3 stop")
    assert state(frames[0]) == (IDLE, CAUSE_COMMAND)
    assert result(frames[1]) == (3, OK)
    frames = command(app, "4 stop")
    assert len(frames) == 1
    assert result(frames[0]) == (4, INVALID_STATE)
    frames = command(app, "5 reset")  # Idle already: no STATE
    assert len(frames) == 1
    assert result(frames[0]) == (5, OK)


def test_safe_state_only_leaves_by_reset():
    app = make_app()
    command(app, "1 fault deterministic 1")
    command(app, "2 start")
    frames = tick(app, 2)
    assert state(frames[-1]) == (SAFE_STATE, 2)  # after sample 0
    for i, verb in enumerate(("start", "stop")):
        frames = command(app, f"{10 + i} {verb}")
        assert result(frames[0]) == (10 + i, INVALID_STATE)
    for i, verb in enumerate(("ping", "status", "hello", "set period_ms 5", "ack 0")):
        frames = command(app, f"{20 + i} {verb}")
        assert result(frames[-1]) == (20 + i, OK), verb
    frames = command(app, "30 reset")
    assert state(frames[0]) == (IDLE, CAUSE_COMMAND)
    assert result(frames[1]) == (30, OK)
    assert app.device.state == IDLE


def test_bad_lines_never_raise():
    app = make_app()
    for raw in (b"\n", b"garbage\n", b"1 start*ZZZZZZZZ\n", b"\xff\xfe\x00\n", b"*\n", b"**\n"):
        app.link.inbox.extend(raw)
        app.poll_input()
    app.tx.drain(app.link)
    frames = app.link.frames()
    assert [f[0] for f in frames] == [ERROR] * 5
    assert app.commands_rejected == 5
