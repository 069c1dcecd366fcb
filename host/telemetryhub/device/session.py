"""BoardSession: protocol v1 for one connection to one board, sans I/O.

Bytes in (`receive`), events out (`next_event`), bytes to write out (`data_to_send`), time passed
in as `now` (monotonic seconds) and handed back as the next `deadline`. No sockets, no threads,
no clocks inside: one loop can drive a thousand sessions and tests drive one byte by byte.

A session lives as long as its transport stays open. It owns the handshake (`hello`, wait for
HELLO then its RESULT), the revival of a board left at the REPL, command ids and the matching of
RESULT (and the STATUS before it) to its command, and frame-sequence gaps. What outlives a
connection (identity, seq unwrapping, the clock, the ledger) belongs to whoever drives it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.errors import IncompatibleProtocolError, TelemetryHubError, TransportError
from telemetryhub.protocol import (
    PROTO_MAJOR,
    Command,
    ConsoleText,
    DecodedItem,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    Result,
    Samples,
    State,
    Status,
    encode_command,
)

# Ctrl-C twice (stop what runs), Ctrl-B (leave the raw REPL), Ctrl-D (soft reset: main.py runs)
REVIVE_BYTES = b"\r\x03\x03\x02\x04"
REVIVE_BOOT_S = 1.0  # time for main.py to start before `hello` is sent again
_REPL_PROMPTS = (">>> ", "raw REPL", "Traceback", "NameError", "SyntaxError")


class Phase(enum.Enum):
    """Where a session stands."""

    HANDSHAKE = "handshake"  # `hello` sent, waiting for HELLO and then its RESULT
    REVIVING = "reviving"  # the REPL answered; a soft reset was sent, `hello` follows
    UP = "up"  # the handshake finished: samples flow
    FAILED = "failed"  # terminal: the driver closes the transport and retries later


@dataclass(slots=True)
class Pending:
    """A command waiting for its RESULT; `tag` is the caller's (e.g. a Future), opaque here."""

    cmd_id: int
    verb: str
    args: tuple[str, ...]
    sent_at: float
    tag: object = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class Up:
    """The handshake finished: `hello` is what the board said about itself."""

    hello: Hello


@dataclass(frozen=True, slots=True)
class Failed:
    """The session cannot go on; `pending` are the commands that will never be answered."""

    error: TelemetryHubError
    pending: tuple[Pending, ...]


@dataclass(frozen=True, slots=True)
class HelloIn:
    """A HELLO while up: the board rebooted (new boot id) or answered a rewind."""

    hello: Hello


@dataclass(frozen=True, slots=True)
class SamplesIn:
    frame: Frame
    samples: Samples


@dataclass(frozen=True, slots=True)
class StateIn:
    state: State


@dataclass(frozen=True, slots=True)
class Answer:
    """The RESULT of `pending` (and the STATUS that came just before it, for `status`)."""

    pending: Pending
    result: Result
    received_at: float


@dataclass(frozen=True, slots=True)
class ErrorIn:
    error: Error


@dataclass(frozen=True, slots=True)
class Console:
    """Text between frames: the REPL talking (a traceback, `soft reboot`)."""

    text: str


@dataclass(frozen=True, slots=True)
class FrameGap:
    """Frames were lost between two received ones (the board counts every frame it sends)."""

    expected: int
    got: int


SessionEvent = Up | Failed | HelloIn | SamplesIn | StateIn | Answer | ErrorIn | Console | FrameGap


class BoardSession:
    """One connection's protocol state; see the module docstring for the sans-I/O contract.

    `port` names the connection in messages. `tap`, if given, sees every decoded item first
    (the `monitor` command prints them).
    """

    def __init__(
        self,
        port: str,
        *,
        handshake_timeout_s: float = 2.0,
        first_cmd_id: int = 0,
        tap: Callable[[DecodedItem], None] | None = None,
    ) -> None:
        self.port = port
        self.tap = tap
        self.decoder = FrameDecoder()
        self.phase = Phase.HANDSHAKE
        self.hello: Hello | None = None  # the HELLO of the current handshake or boot
        self._timeout_s = handshake_timeout_s
        self._events: deque[SessionEvent] = deque()
        self._out = bytearray()
        self._pending: dict[int, Pending] = {}
        self._next_cmd_id = first_cmd_id & 0xFFFF
        self._hello_cmd_id = -1
        self._deadline: float | None = None
        self._revived = False
        self._repl_seen = False
        self._bytes_at_hello = 0
        self._frames_at_hello = 0
        self._held: list[Frame] = []
        self._expected_frame_seq: int | None = None
        self.frames_before_handshake = 0

    # --- driving -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin the handshake; a newline first, so a partial line left on the board is ended."""
        self._out += b"\n"
        self._send_hello(now)

    def receive(self, data: bytes, now: float) -> None:
        """Feed bytes read from the transport."""
        for item in self.decoder.feed(data):
            if self.failed:
                return  # the rest is not read: the driver closes the transport
            self._handle(item, now)

    def tick(self, now: float) -> None:
        """Let time pass: send the delayed `hello` after a revival, or time the handshake out."""
        deadline = self._deadline
        if deadline is None or now < deadline or self.phase is Phase.FAILED:
            return
        if self.phase is Phase.REVIVING:
            self._send_hello(now)
        elif not self._revived and (self._repl_seen or self._answered_without_frames()):
            self._revive(now)
        else:
            what = "RESULT of hello" if self.hello is not None else "HELLO"
            self._fail(
                TransportError(
                    f"no {what} from {self.port} within {self._timeout_s} s "
                    "(is the TelemetryHub firmware running?)"
                )
            )

    def deadline(self) -> float | None:
        """When `tick` must be called next (None: nothing is timed)."""
        return None if self.phase is Phase.FAILED else self._deadline

    def next_event(self) -> SessionEvent | None:
        """The oldest event not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Everything queued for the transport since the last call."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def close(self, error: TelemetryHubError) -> None:
        """The transport went away: fail what is pending (a Failed event), end the session."""
        if self.phase is not Phase.FAILED:
            self._fail(error)

    # --- commands ------------------------------------------------------------------------

    def send_command(self, verb: str, args: tuple[str, ...], now: float, tag: object) -> int:
        """Queue a command line; its Answer (or the session's Failed) carries `tag` back."""
        cmd_id = self._alloc_cmd_id()
        self._out += encode_command(Command(cmd_id, verb, args))
        self._pending[cmd_id] = Pending(cmd_id, verb, args, now, tag)
        return cmd_id

    def forget(self, tag: object) -> None:
        """Stop waiting for the command sent with `tag` (its caller gave up)."""
        for cmd_id, pending in list(self._pending.items()):
            if pending.tag is tag:
                del self._pending[cmd_id]

    def send_ack(self, seq30: int) -> None:
        """`ack seq30`: fire and forget (the board's RESULT is not waited for)."""
        self._out += encode_command(Command(self._alloc_cmd_id(), "ack", (str(seq30),)))

    def rewind(self, now: float) -> None:
        """Ask the board to resend every unacked sample (a `hello` while up)."""
        if self.phase is Phase.UP:
            self._pending_hello(now)

    @property
    def failed(self) -> bool:
        return self.phase is Phase.FAILED

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def next_cmd_id(self) -> int:
        """The id the next command gets: a new session on the same port continues from it."""
        return self._next_cmd_id

    # --- handshake -----------------------------------------------------------------------

    def _send_hello(self, now: float) -> None:
        self.phase = Phase.HANDSHAKE
        if not self._revived:
            self._repl_seen = False
        self.hello = None
        self._held.clear()
        self._bytes_at_hello = self.decoder.bytes_received
        self._frames_at_hello = self.decoder.frames_decoded
        self._pending_hello(now)
        self._deadline = now + self._timeout_s

    def _pending_hello(self, now: float) -> None:
        self._hello_cmd_id = self._alloc_cmd_id()
        self._out += encode_command(Command(self._hello_cmd_id, "hello"))
        self._pending[self._hello_cmd_id] = Pending(self._hello_cmd_id, "hello", (), now)

    def _answered_without_frames(self) -> bool:
        """Bytes came back during the handshake but not one frame: something else is talking."""
        return (
            self.decoder.bytes_received > self._bytes_at_hello
            and self.decoder.frames_decoded == self._frames_at_hello
        )

    def _revive(self, now: float) -> None:
        """The REPL answered instead of the firmware (mpremote left the board there): soft-reset
        it so main.py runs again. The only time the host sends REPL control bytes."""
        self._revived = True
        self.phase = Phase.REVIVING
        self._out += REVIVE_BYTES
        self._deadline = now + REVIVE_BOOT_S

    def _finish_handshake(self, hello: Hello) -> None:
        self.phase = Phase.UP
        self._deadline = None
        self._revived = False
        self._events.append(Up(hello))
        held, self._held = self._held, []
        for frame in held:
            if isinstance(frame.payload, Samples):
                self._events.append(SamplesIn(frame, frame.payload))

    def _fail(self, error: TelemetryHubError) -> None:
        self.phase = Phase.FAILED
        self._deadline = None
        pending = tuple(self._pending.values())
        self._pending.clear()
        self._events.append(Failed(error, pending))

    # --- frames --------------------------------------------------------------------------

    def _handle(self, item: DecodedItem, now: float) -> None:
        if self.tap is not None:
            self.tap(item)
        if isinstance(item, ConsoleText):
            if self.phase is not Phase.UP and any(p in item.text for p in _REPL_PROMPTS):
                self._repl_seen = True
            self._events.append(Console(item.text))
            return
        self._check_frame_seq(item)
        match item.payload:
            case Hello() as hello:
                self._on_hello(hello, now)
            case Samples() as samples:
                self._on_samples(item, samples)
            case State() as state:
                if self.hello is not None:
                    self._events.append(StateIn(state))
            case Result() as result:
                self._on_result(result, now)
            case Status() as status:
                self._on_status(status)
            case Error() as error:
                self._events.append(ErrorIn(error))
            case _:
                pass  # a frame type of a newer minor version: checked, then ignored

    def _check_frame_seq(self, frame: Frame) -> None:
        if isinstance(frame.payload, Hello) and (
            self.hello is None or frame.payload.boot_id != self.hello.boot_id
        ):
            self._expected_frame_seq = None  # a new boot counts frames from 0 again
        expected = self._expected_frame_seq
        if expected is not None and frame.frame_seq != expected:
            self._events.append(FrameGap(expected, frame.frame_seq))
        self._expected_frame_seq = (frame.frame_seq + 1) & 0xFFFF

    def _on_hello(self, hello: Hello, now: float) -> None:
        if hello.proto_major != PROTO_MAJOR:
            self._fail(
                IncompatibleProtocolError(
                    f"board {hello.device_id} on {self.port} speaks protocol "
                    f"{hello.proto_major}.{hello.proto_minor}, this host speaks "
                    f"{PROTO_MAJOR}.x: refused"
                )
            )
            return
        previous, self.hello = self.hello, hello
        if self.phase is not Phase.UP:
            return
        self._events.append(HelloIn(hello))
        if previous is not None and previous.boot_id != hello.boot_id:
            self._send_hello(now)  # rebooted under a live link: set it up (and the clock) again

    def _on_samples(self, frame: Frame, samples: Samples) -> None:
        if self.phase is Phase.UP:
            self._events.append(SamplesIn(frame, samples))
        elif self.hello is not None:
            self._held.append(frame)  # after HELLO: released with the handshake's end
        else:
            self.frames_before_handshake += 1  # sent before our hello: the board resends them

    def _on_status(self, status: Status) -> None:
        for pending in self._pending.values():
            if pending.verb == "status" and pending.status is None:
                pending.status = status
                return

    def _on_result(self, result: Result, now: float) -> None:
        pending = self._pending.pop(result.cmd_id, None)
        if pending is None:
            return  # an ack's answer, or one whose caller gave up
        finishes = result.cmd_id == self._hello_cmd_id and self.phase is Phase.HANDSHAKE
        if finishes and self.hello is None:
            return  # a RESULT with no HELLO before it: not our firmware's handshake
        self._events.append(Answer(pending, result, now))  # first: it measures the clock
        if finishes and self.hello is not None:
            self._finish_handshake(self.hello)

    def _alloc_cmd_id(self) -> int:
        cmd_id = self._next_cmd_id
        while cmd_id in self._pending:
            cmd_id = (cmd_id + 1) & 0xFFFF
        self._next_cmd_id = (cmd_id + 1) & 0xFFFF
        return cmd_id
