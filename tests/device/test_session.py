"""BoardSession, sans I/O: bytes in, events out, byte by byte where it matters."""

from __future__ import annotations

import pytest

from telemetryhub.device.session import (
    REVIVE_BOOT_S,
    REVIVE_BYTES,
    Answer,
    BoardSession,
    Console,
    ErrorIn,
    Failed,
    FrameGap,
    HelloIn,
    Phase,
    SamplesIn,
    SessionEvent,
    StateIn,
    Up,
)
from telemetryhub.errors import IncompatibleProtocolError, TransportError
from telemetryhub.protocol import (
    Error,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    Status,
    WireSample,
    decode_command,
    encode_frame,
)


def hello(boot_id: int = 7, major: int = 1) -> Hello:
    return Hello(major, 1, 1024, 100, boot_id, 1, 0, "dev-1", "fw 1", "degC")


def samples(first: int, count: int) -> Samples:
    return Samples(tuple(WireSample(first + i, 1000 + i, 42000, 0) for i in range(count)))


class Board:
    """The board's side of the wire, by hand: frames numbered as the firmware numbers them."""

    def __init__(self) -> None:
        self.frame_seq = 0

    def frame(self, payload: Payload) -> bytes:
        data = encode_frame(payload, self.frame_seq)
        self.frame_seq += 1
        return data


def events(session: BoardSession) -> list[SessionEvent]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def commands(session: BoardSession) -> list[tuple[int, str, tuple[str, ...]]]:
    lines = [line for line in session.data_to_send().split(b"\n") if line]
    return [(c.cmd_id, c.verb, c.args) for c in map(decode_command, lines)]


def up_session(board: Board) -> BoardSession:
    session = BoardSession("port", handshake_timeout_s=2.0)
    session.start(0.0)
    ((cmd_id, _, _),) = commands(session)
    session.receive(board.frame(hello()) + board.frame(Result(cmd_id, 0, 5, "")), 0.01)
    assert [type(e) for e in events(session)] == [Answer, Up]
    return session


def test_the_handshake_starts_with_a_newline_then_hello() -> None:
    session = BoardSession("port")
    session.start(0.0)
    assert session.data_to_send().startswith(b"\n0 hello*")
    assert session.deadline() == 2.0


def test_handshake_byte_by_byte_holds_samples_until_the_result() -> None:
    board = Board()
    session = BoardSession("port")
    session.start(0.0)
    early = board.frame(samples(0, 2))  # sent before our hello: resent after it
    wire = (
        early
        + board.frame(hello())
        + board.frame(samples(2, 3))
        + board.frame(Result(0, 0, 9, ""))
    )
    for i in range(len(wire)):
        session.receive(wire[i : i + 1], 0.001 * i)
    got = events(session)
    assert [type(e) for e in got] == [Answer, Up, SamplesIn]
    assert isinstance(got[2], SamplesIn)
    assert got[2].samples.samples[0].seq == 2
    assert session.frames_before_handshake == 1
    assert session.phase is Phase.UP


def test_no_hello_in_time_fails_the_session_and_its_commands() -> None:
    session = BoardSession("port", handshake_timeout_s=0.5)
    session.start(0.0)
    session.tick(0.4)
    assert events(session) == []
    session.tick(0.6)
    (failed,) = events(session)
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, TransportError)
    assert "no HELLO from port within 0.5 s" in str(failed.error)
    assert [p.verb for p in failed.pending] == ["hello"]
    assert session.deadline() is None


def test_the_repl_answering_gets_one_soft_reset_then_hello_again() -> None:
    session = BoardSession("port", handshake_timeout_s=0.5)
    session.start(0.0)
    session.data_to_send()
    session.receive(b"\r\n>>> ", 0.1)  # bytes, and not one frame: not our firmware talking
    session.tick(0.6)
    assert session.data_to_send() == REVIVE_BYTES
    assert session.phase is Phase.REVIVING
    session.tick(0.6 + REVIVE_BOOT_S)
    assert [verb for _, verb, _ in commands(session)] == ["hello"]
    session.tick(0.6 + REVIVE_BOOT_S + 0.6)  # still nothing: no second revival
    assert isinstance(events(session)[-1], Failed)
    assert session.data_to_send() == b""


def test_text_between_frames_is_console_output() -> None:
    session = up_session(Board())
    session.receive(b"\x00Traceback (most recent call last):\r\n\x00", 1.0)
    (console,) = events(session)
    assert isinstance(console, Console)
    assert console.text.startswith("Traceback")


def test_an_incompatible_major_fails_at_once() -> None:
    board = Board()
    session = BoardSession("port")
    session.start(0.0)
    session.receive(board.frame(hello(major=2)), 0.1)
    (failed,) = events(session)
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, IncompatibleProtocolError)
    assert "speaks protocol 2.1" in str(failed.error)


def test_a_status_answer_carries_the_status_frame_before_it() -> None:
    board = Board()
    session = up_session(board)
    tag = object()
    cmd_id = session.send_command("status", (), 1.0, tag)
    status = Status(1, 0, 10, 10, 0, 0, 0, 0, 3, 100)
    session.receive(board.frame(status) + board.frame(Result(cmd_id, 0, 77, "")), 1.2)
    (answer,) = events(session)
    assert isinstance(answer, Answer)
    assert (answer.pending.tag, answer.pending.status, answer.pending.sent_at) == (
        tag,
        status,
        1.0,
    )
    assert answer.received_at == 1.2


def test_frames_states_errors_and_gaps_become_events() -> None:
    board = Board()
    session = up_session(board)
    wire = board.frame(State(1, 1, "start")) + board.frame(samples(0, 16))
    board.frame_seq += 2  # two frames lost on the way
    wire += board.frame(samples(48, 1)) + board.frame(Error(6, "sensor read failed"))
    session.receive(wire, 1.0)
    got = events(session)
    assert [type(e) for e in got] == [StateIn, SamplesIn, FrameGap, SamplesIn, ErrorIn]
    gap = got[2]
    assert isinstance(gap, FrameGap)
    assert (gap.expected, gap.got) == (4, 6)


def test_a_reboot_under_a_live_link_shakes_hands_again() -> None:
    board = Board()
    session = up_session(board)
    reboot = Board()
    session.receive(reboot.frame(hello(boot_id=8)), 1.0)
    assert [type(e) for e in events(session)] == [HelloIn]
    assert session.phase is Phase.HANDSHAKE
    ((cmd_id, verb, _),) = commands(session)
    assert verb == "hello"
    session.receive(reboot.frame(hello(boot_id=8)) + reboot.frame(Result(cmd_id, 0, 1, "")), 1.1)
    assert [type(e) for e in events(session)] == [Answer, Up]


def test_a_rewind_asks_for_a_resend_without_a_new_handshake() -> None:
    board = Board()
    session = up_session(board)
    session.rewind(1.0)
    ((cmd_id, verb, _),) = commands(session)
    assert verb == "hello"
    session.receive(board.frame(hello()) + board.frame(Result(cmd_id, 0, 1, "")), 1.1)
    assert [type(e) for e in events(session)] == [HelloIn, Answer]
    assert session.phase is Phase.UP


def test_acks_are_fire_and_forget_and_forgotten_commands_are_dropped() -> None:
    board = Board()
    session = up_session(board)
    session.send_ack(41)
    tag = object()
    cmd_id = session.send_command("ping", (), 1.0, tag)
    sent = commands(session)
    assert [(verb, args) for _, verb, args in sent] == [("ack", ("41",)), ("ping", ())]
    session.forget(tag)
    session.receive(board.frame(Result(cmd_id, 0, 1, "pong")), 1.1)
    assert events(session) == []
    assert session.pending == 0


def test_closing_fails_pending_commands_once() -> None:
    session = up_session(Board())
    session.send_command("ping", (), 1.0, "tag")
    session.close(TransportError("unplugged"))
    session.close(TransportError("again"))
    (failed,) = events(session)
    assert isinstance(failed, Failed)
    assert [p.tag for p in failed.pending] == ["tag"]
    with pytest.raises(AssertionError):
        assert session.phase is not Phase.FAILED
