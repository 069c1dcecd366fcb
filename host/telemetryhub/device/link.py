"""BoardLink: DeviceLink over a Transport: handshake, commands, events, state mirror, reconnect."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import asdict, dataclass, field, replace

from telemetryhub.device.base import (
    CommandResult,
    DeviceCounters,
    LinkChange,
    LinkEvent,
    LinkStats,
    SampleBatch,
    StateChange,
)
from telemetryhub.device.clock import BoardClock, Unwrapper
from telemetryhub.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    DeviceError,
    DeviceNotConnectedError,
    IncompatibleProtocolError,
    InvalidStateError,
    TelemetryHubError,
    TransportError,
)
from telemetryhub.models import DeviceInfo, DeviceState, Sample
from telemetryhub.protocol import (
    PROTO_MAJOR,
    SEQ_MODULUS,
    Code,
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
    StateCause,
    Status,
    encode_command,
)
from telemetryhub.transport.base import Transport

_log = logging.getLogger(__name__)

_CAUSES: dict[int, str] = {
    StateCause.BOOT: "boot",
    StateCause.COMMAND: "command",
    StateCause.FAULT: "fault",
}
_STATE_AFTER_OK = {
    "start": DeviceState.MEASURING,
    "stop": DeviceState.IDLE,
    "reset": DeviceState.IDLE,
}
# Ctrl-C twice (stop what runs), Ctrl-B (leave the raw REPL), Ctrl-D (soft reset: main.py runs)
_REVIVE = b"\r\x03\x03\x02\x04"
_REVIVE_BOOT_S = 1.0  # time for main.py to start before `hello` is sent again
_REPL_PROMPTS = (">>> ", "raw REPL", "Traceback", "NameError", "SyntaxError")
_MAX_HOLES = 64  # seq ranges remembered as missing, so a later resend can fill them


@dataclass(slots=True)
class _Pending:
    verb: str
    sent_utc_s: float
    future: Future[_Answer] | None
    status: Status | None = None
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Answer:
    result: CommandResult
    status: Status | None


@dataclass(slots=True)
class _SeqTracker:
    """Gaps, late fills and duplicates among one boot's host-extended seqs."""

    highest: int | None = None
    holes: list[tuple[int, int]] = field(default_factory=list)  # [start, end)
    seq_gaps: int = 0
    samples_missed: int = 0
    duplicates: int = 0

    def see(self, seq: int) -> None:
        highest = self.highest
        if highest is None or seq > highest:
            if highest is not None and seq > highest + 1:
                self.seq_gaps += 1
                self.samples_missed += seq - highest - 1
                self.holes.append((highest + 1, seq))
                del self.holes[:-_MAX_HOLES]
            self.highest = seq
            return
        for index, (start, end) in enumerate(self.holes):
            if start <= seq < end:
                self.samples_missed -= 1
                self.holes[index : index + 1] = [
                    hole for hole in ((start, seq), (seq + 1, end)) if hole[0] < hole[1]
                ]
                return
        self.duplicates += 1

    def restart(self) -> None:
        """A new boot: seqs start again; the totals are kept."""
        self.highest = None
        self.holes.clear()


class _Events:
    """Collects one poll's events, merging consecutive sample frames into one SampleBatch."""

    def __init__(self) -> None:
        self.events: list[LinkEvent] = []
        self._device: DeviceInfo | None = None
        self._resend = False
        self._samples: list[Sample] = []

    def add_samples(self, device: DeviceInfo, resend: bool, samples: list[Sample]) -> None:
        if self._samples and (device != self._device or resend != self._resend):
            self._flush()
        self._device, self._resend = device, resend
        self._samples.extend(samples)

    def add(self, event: LinkEvent) -> None:
        self._flush()
        self.events.append(event)

    def finish(self) -> list[LinkEvent]:
        self._flush()
        return self.events

    def _flush(self) -> None:
        if self._samples and self._device is not None:
            self.events.append(SampleBatch(self._device, tuple(self._samples), self._resend))
        self._samples = []


class BoardLink:
    """DeviceLink over a Transport made by `transport_factory` (called again on each reconnect).

    Threading: `poll` runs on one thread (the core's producer) and is the only reader: it
    decodes frames, resolves commands and reconnects. `command`, `read_counters`, `ack`,
    `stats`, `close` may be called from any thread. A command is answered only while some
    thread keeps calling `poll`; if nobody polls, it ends in CommandTimeoutError. Never call
    `command` from the polling thread itself.

    Reconnect: after a failure the link retries after `backoff_min_s`, doubling up to
    `backoff_max_s`; a board speaking another protocol major is retried every
    `incompatible_retry_s`. Samples received before the handshake's RESULT are held so every
    delivered sample has a measured clock.
    """

    def __init__(
        self,
        transport_factory: Callable[[], Transport],
        *,
        name: str = "board",
        clock: BoardClock | None = None,
        wall: Callable[[], float] = time.time,
        handshake_timeout_s: float = 2.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 1.0,
        incompatible_retry_s: float = 5.0,
    ) -> None:
        self._factory = transport_factory
        self._name = name
        self._clock = clock or BoardClock(wall)
        self._wall = wall
        self._handshake_timeout_s = handshake_timeout_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._incompatible_retry_s = incompatible_retry_s
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._opened = False
        # poll-thread state
        self._decoder = FrameDecoder()
        self._handshaking = False
        self._hello_seen = False
        self._hello_cmd_id = -1
        self._handshake_deadline = 0.0
        self._held: list[Frame] = []
        self._next_attempt_at = 0.0
        self._backoff_s = backoff_min_s
        self._down_reported: str | None = None
        self._expected_frame_seq: int | None = None
        self._seq = Unwrapper(SEQ_MODULUS)
        self._tracker = _SeqTracker()
        self._repl_seen = False  # the REPL, not the firmware, answered during this handshake
        self._revived = False
        self._revive_hello_at: float | None = None
        self._handshake_bytes = 0
        self._handshake_frames = 0
        # shared state, under _lock
        self._transport: Transport | None = None
        self._port_name = name
        self._connected = False
        self._info: DeviceInfo | None = None
        self._state = DeviceState.IDLE
        self._pending: dict[int, _Pending] = {}
        self._next_cmd_id = 0
        self._last_error: TelemetryHubError | None = None
        self._connects = 0
        self._reboots = 0
        self._frames = 0
        self._frame_gaps = 0
        self._bytes_before = 0
        self._crc_before = 0
        self._framing_before = 0
        self._console_before = 0

    # --- DeviceLink ------------------------------------------------------------------------

    def open(self) -> None:
        """Start connecting on the next poll; never raises."""
        self._opened = True
        self._next_attempt_at = 0.0

    def poll(self, timeout_s: float) -> list[LinkEvent]:
        """Read and decode for up to `timeout_s`; (re)connects with backoff when down."""
        events = _Events()
        if self._closed.is_set() or not self._opened:
            self._closed.wait(timeout_s)
            return []
        deadline = time.monotonic() + timeout_s
        if self._transport is None and not self._connect(timeout_s, events):
            return events.finish()
        transport = self._transport
        if transport is None:
            return events.finish()
        try:
            data = transport.read(max(0.0, deadline - time.monotonic()))
        except TransportError as exc:
            self._go_down(f"lost {transport.name}: {exc}", events)
            return events.finish()
        for item in self._decoder.feed(data):
            self._handle(item, events)
        if self._revive_hello_at is not None and time.monotonic() >= self._revive_hello_at:
            self._revive_hello_at = None
            self._start_handshake(events)
        if self._handshaking and time.monotonic() > self._handshake_deadline:
            if not self._revived and (self._repl_seen or self._answered_without_frames()):
                self._revive(transport, events)
                return events.finish()
            what = "RESULT of hello" if self._hello_seen else "HELLO"
            self._go_down(
                f"no {what} from {transport.name} within {self._handshake_timeout_s} s "
                "(is the TelemetryHub firmware running?)",
                events,
            )
        return events.finish()

    def command(self, verb: str, *args: str, timeout_s: float = 2.0) -> CommandResult:
        """Send `verb args` and wait for its RESULT (see the class doc: needs a poller)."""
        return self._request(verb, args, timeout_s).result

    def read_counters(self, timeout_s: float = 2.0) -> DeviceCounters:
        """The board's STATUS counters."""
        answer = self._request("status", (), timeout_s)
        status = answer.status
        if status is None:
            raise DeviceError(f"{self._port_name}: RESULT of status came without a STATUS frame")
        # the wire's STATUS, field for field, with the state typed
        return DeviceCounters(**{**asdict(status), "state": DeviceState(status.state)})

    def ack(self, boot_id: int, seq: int) -> None:
        """Fire-and-forget `ack seq`; ignored when down or `boot_id` is not the current boot."""
        with self._lock:
            info, transport = self._info, self._transport
            if not self._connected or transport is None or info is None:
                return
            if info.boot_id != boot_id:
                return
            line = encode_command(Command(self._alloc_cmd_id(), "ack", (str(seq % SEQ_MODULUS),)))
        # on failure poll sees the port gone; the board resends whatever stayed unacked
        with contextlib.suppress(TransportError):
            transport.write(line)

    def close(self) -> None:
        """Close the transport and fail waiting commands; idempotent."""
        self._closed.set()
        with self._lock:
            transport, self._transport = self._transport, None
            self._connected = False
            self._fail_pending("the link was closed")
        if transport is not None:
            transport.close()

    @property
    def info(self) -> DeviceInfo | None:
        with self._lock:
            return self._info

    @property
    def state(self) -> DeviceState:
        with self._lock:
            return self._state

    @property
    def clock(self) -> BoardClock:
        return self._clock

    @property
    def last_error(self) -> TelemetryHubError | None:
        """Why the last connection (attempt) failed, e.g. IncompatibleProtocolError."""
        with self._lock:
            return self._last_error

    def stats(self) -> LinkStats:
        tracker = self._tracker
        with self._lock:
            decoder = self._decoder
            return LinkStats(
                connected=self._connected,
                port=self._port_name,
                reconnects=max(0, self._connects - 1),
                reboots=self._reboots,
                frames_received=self._frames,
                bytes_received=self._bytes_before + decoder.bytes_received,
                crc_errors=self._crc_before + decoder.crc_errors,
                framing_errors=self._framing_before + decoder.framing_errors,
                console_lines=self._console_before + decoder.console_chunks,
                frame_gaps=self._frame_gaps,
                seq_gaps=tracker.seq_gaps,
                samples_missed=tracker.samples_missed,
                duplicates_received=tracker.duplicates,
            )

    # --- connecting ------------------------------------------------------------------------

    def _connect(self, timeout_s: float, events: _Events) -> bool:
        wait_s = self._next_attempt_at - time.monotonic()
        if wait_s > 0:
            self._closed.wait(min(wait_s, timeout_s))
            if wait_s > timeout_s or self._closed.is_set():
                return False
        try:
            transport = self._factory()
            transport.open()
        except TransportError as exc:
            self._schedule_retry(self._next_backoff())
            self._report_down(f"cannot open {self._name}: {exc}", exc, events)
            return False
        self._fold_decoder_counts()
        with self._lock:
            self._transport = transport
            self._port_name = transport.name
        self._expected_frame_seq = None
        self._start_handshake(events)
        return self._transport is not None

    def _start_handshake(self, events: _Events) -> None:
        if self._revive_hello_at is None and not self._revived:
            self._repl_seen = False
        self._handshaking = True
        self._handshake_bytes = self._decoder.bytes_received
        self._handshake_frames = self._decoder.frames_decoded
        self._hello_seen = False
        self._held.clear()
        self._handshake_deadline = time.monotonic() + self._handshake_timeout_s
        with self._lock:
            transport = self._transport
            cmd_id = self._alloc_cmd_id()
            self._hello_cmd_id = cmd_id
            self._pending[cmd_id] = _Pending("hello", self._wall(), None)
        if transport is None:
            return
        try:
            transport.write(encode_command(Command(cmd_id, "hello")))
        except TransportError as exc:
            self._go_down(f"lost {transport.name} during the handshake: {exc}", events)

    def _answered_without_frames(self) -> bool:
        """Bytes came back during the handshake but not one frame: something else is talking."""
        decoder = self._decoder
        return (
            decoder.bytes_received > self._handshake_bytes
            and decoder.frames_decoded == self._handshake_frames
        )

    def _revive(self, transport: Transport, events: _Events) -> None:
        """The REPL answered instead of the firmware (mpremote left the board there): soft-reset
        it so main.py runs again. The only time the host sends REPL control bytes."""
        self._revived = True
        _log.warning("%s is at the REPL; soft-resetting it to run main.py", transport.name)
        try:
            transport.write(_REVIVE)
        except TransportError as exc:
            self._go_down(f"lost {transport.name} while reviving it: {exc}", events)
            return
        self._revive_hello_at = time.monotonic() + _REVIVE_BOOT_S
        self._handshake_deadline = self._revive_hello_at + self._handshake_timeout_s

    def _next_backoff(self) -> float:
        backoff_s = self._backoff_s
        self._backoff_s = min(self._backoff_max_s, backoff_s * 2)
        return backoff_s

    def _schedule_retry(self, after_s: float) -> None:
        self._next_attempt_at = time.monotonic() + after_s

    def _report_down(self, detail: str, error: TelemetryHubError, events: _Events) -> None:
        with self._lock:
            self._last_error = error
        if detail != self._down_reported:
            self._down_reported = detail
            events.add(LinkChange(connected=False, detail=detail))

    def _go_down(
        self, detail: str, events: _Events, error: TelemetryHubError | None = None
    ) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
            was_connected, self._connected = self._connected, False
            self._fail_pending(detail)
        if transport is not None:
            transport.close()
        self._handshaking = False
        self._held.clear()
        if isinstance(error, IncompatibleProtocolError):
            self._schedule_retry(self._incompatible_retry_s)
        else:
            self._schedule_retry(self._next_backoff())
        if self._closed.is_set():
            return
        if was_connected:
            self._down_reported = None
        self._report_down(detail, error or TransportError(detail), events)

    def _fail_pending(self, detail: str) -> None:
        for pending in self._pending.values():
            if pending.future is not None and not pending.future.done():
                pending.future.set_exception(DeviceNotConnectedError(detail))
        self._pending.clear()

    def _fold_decoder_counts(self) -> None:
        old = self._decoder
        with self._lock:
            self._bytes_before += old.bytes_received
            self._crc_before += old.crc_errors
            self._framing_before += old.framing_errors
            self._console_before += old.console_chunks
            self._decoder = FrameDecoder()

    # --- frames ----------------------------------------------------------------------------

    def _handle(self, item: DecodedItem, events: _Events) -> None:
        if isinstance(item, ConsoleText):
            _log.info("%s console: %s", self._port_name, item.text.rstrip())
            if self._handshaking and any(p in item.text for p in _REPL_PROMPTS):
                self._repl_seen = True
            return
        payload = item.payload
        with self._lock:
            self._frames += 1
            info = self._info
        if isinstance(payload, Hello) and (info is None or payload.boot_id != info.boot_id):
            self._expected_frame_seq = None  # a new boot counts frames from 0 again
        expected = self._expected_frame_seq
        if expected is not None and item.frame_seq != expected:
            with self._lock:
                self._frame_gaps += 1
        self._expected_frame_seq = (item.frame_seq + 1) & 0xFFFF
        match payload:
            case Hello():
                self._on_hello(payload, events)
            case Samples():
                self._on_samples(item, payload, events)
            case State():
                self._on_state(payload, events)
            case Result():
                self._on_result(payload, events)
            case Status():
                self._on_status(payload)
            case Error():
                _log.warning("%s error %d: %s", self._port_name, payload.code, payload.text)

    def _on_hello(self, hello: Hello, events: _Events) -> None:
        if hello.proto_major != PROTO_MAJOR:
            error = IncompatibleProtocolError(
                f"board {hello.device_id} on {self._port_name} speaks protocol "
                f"{hello.proto_major}.{hello.proto_minor}, this host speaks {PROTO_MAJOR}.x: "
                f"refused (retrying every {self._incompatible_retry_s} s)"
            )
            self._go_down(str(error), events, error)
            return
        info = DeviceInfo(
            device_id=hello.device_id,
            firmware_version=hello.firmware_version,
            boot_id=hello.boot_id,
            proto_major=hello.proto_major,
            proto_minor=hello.proto_minor,
            ring_capacity=hello.ring_capacity,
            period_ms=hello.period_ms,
            unit=hello.unit,
            reset_cause=hello.reset_cause,
            state=DeviceState(hello.state),
        )
        with self._lock:
            old = self._info
            self._info = info
            self._state = info.state
            identity = (info.device_id, info.boot_id)
            new_boot = old is None or (old.device_id, old.boot_id) != identity
            if old is not None and new_boot and old.device_id == info.device_id:
                self._reboots += 1
        if new_boot:
            self._seq.reset()
            self._tracker.restart()
            self._clock.reset()
            if not self._handshaking:
                self._start_handshake(events)  # unsolicited HELLO: re-measure the clock
        self._hello_seen = True

    def _on_samples(self, frame: Frame, payload: Samples, events: _Events) -> None:
        if self._handshaking:
            if self._hello_seen:
                self._held.append(frame)
            return  # sent before our hello: the board resends them after it
        info = self._info
        if info is None:
            return
        samples = []
        for wire in payload.samples:
            seq = self._seq.extend(wire.seq)
            self._tracker.see(seq)
            board_ms = self._clock.unwrap(wire.t_ms)
            samples.append(
                Sample(
                    device_id=info.device_id,
                    boot_id=info.boot_id,
                    seq=seq,
                    board_ms=board_ms,
                    ts=self._clock.to_utc(board_ms),
                    value=wire.value_milli / 1000,
                    channel=wire.channel,
                    unit=info.unit,
                )
            )
        events.add_samples(info, frame.resend, samples)

    def _on_state(self, state: State, events: _Events) -> None:
        if not self._hello_seen:
            return
        new_state = DeviceState(state.state)
        with self._lock:
            self._state = new_state
        cause = _CAUSES.get(state.cause, "unknown")
        events.add(StateChange(state=new_state, cause=cause, reason=state.reason))

    def _on_status(self, status: Status) -> None:
        with self._lock:
            self._state = DeviceState(status.state)
            for pending in self._pending.values():
                if pending.verb == "status" and pending.status is None:
                    pending.status = status
                    break

    def _on_result(self, result: Result, events: _Events) -> None:
        received_utc_s = self._wall()
        with self._lock:
            pending = self._pending.pop(result.cmd_id, None)
        if pending is None:
            return  # an ack's answer, or one that came after its caller gave up
        if self._hello_seen:
            self._clock.measure(pending.sent_utc_s, result.t_ms, received_utc_s)
        if result.cmd_id == self._hello_cmd_id and self._handshaking:
            self._finish_handshake(events)
        if pending.future is None:
            return
        if result.code == Code.OK:
            self._mirror(pending)
            board_ms = self._clock.unwrap(result.t_ms)
            answer = _Answer(CommandResult(result.cmd_id, result.text, board_ms), pending.status)
            pending.future.set_result(answer)
        elif result.code == Code.INVALID_STATE:
            pending.future.set_exception(InvalidStateError(result.code, result.text))
        else:
            pending.future.set_exception(CommandRejectedError(result.code, result.text))

    def _mirror(self, pending: _Pending) -> None:
        # from the command, not the answer's text: the firmware answers `set` with no text
        verb, args = pending.verb, pending.args
        with self._lock:
            if verb in _STATE_AFTER_OK:
                self._state = _STATE_AFTER_OK[verb]
            elif verb == "set" and self._info is not None and args[:1] == ("period_ms",):
                self._info = replace(self._info, period_ms=int(args[1]))

    def _finish_handshake(self, events: _Events) -> None:
        self._handshaking = False
        self._revived = False
        held, self._held = self._held, []
        with self._lock:
            was_connected, self._connected = self._connected, True
            self._last_error = None
            info = self._info
            if not was_connected:
                self._connects += 1
        self._backoff_s = self._backoff_min_s
        self._down_reported = None
        if not was_connected and info is not None:
            events.add(
                LinkChange(
                    connected=True,
                    detail=f"{info.device_id} on {self._port_name}: boot {info.boot_id:08x}, "
                    f"firmware {info.firmware_version}, protocol "
                    f"{info.proto_major}.{info.proto_minor}",
                )
            )
        for frame in held:
            if isinstance(frame.payload, Samples):
                self._on_samples(frame, frame.payload, events)

    # --- commands --------------------------------------------------------------------------

    def _alloc_cmd_id(self) -> int:
        # caller holds _lock
        cmd_id = self._next_cmd_id
        while cmd_id in self._pending:
            cmd_id = (cmd_id + 1) & 0xFFFF
        self._next_cmd_id = (cmd_id + 1) & 0xFFFF
        return cmd_id

    def _request(self, verb: str, args: tuple[str, ...], timeout_s: float) -> _Answer:
        future: Future[_Answer] = Future()
        with self._lock:
            transport = self._transport
            if not self._connected or transport is None:
                raise DeviceNotConnectedError(f"{self._port_name}: no board connected")
            cmd_id = self._alloc_cmd_id()
            line = encode_command(Command(cmd_id, verb, args))
            pending = _Pending(verb, self._wall(), future, args=args)
            self._pending[cmd_id] = pending
        try:
            transport.write(line)
        except TransportError as exc:
            self._drop_pending(cmd_id)
            raise DeviceNotConnectedError(f"{self._port_name}: write failed: {exc}") from exc
        try:
            return future.result(timeout_s)
        except FutureTimeoutError:
            self._drop_pending(cmd_id)
            raise CommandTimeoutError(
                f"{self._port_name}: no answer to {verb!r} within {timeout_s} s "
                "(answers are read by poll(): is the link being polled?)"
            ) from None

    def _drop_pending(self, cmd_id: int) -> None:
        with self._lock:
            self._pending.pop(cmd_id, None)
