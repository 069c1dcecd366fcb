"""Dispatcher: what the link loop does with each session event, command, settle and timer.

It owns the devices (by device id), maps them to the port they are on, hands sample batches
and state changes to the Intake, answers command futures, acks what the pipeline settled, and
decides when each port needs the loop again. Runs on the loop's thread only.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from telemetryhub.device.base import (
    CommandResult,
    DeviceCounters,
    DeviceSnapshot,
    LinkChange,
    LinkStats,
    PortView,
    SampleBatch,
)
from telemetryhub.device.session import (
    Answer,
    Console,
    ErrorIn,
    Failed,
    FrameGap,
    HelloIn,
    SamplesIn,
    StateIn,
    Up,
)
from telemetryhub.errors import (
    CommandRejectedError,
    DeviceNotConnectedError,
    InvalidStateError,
    SupersededError,
    TelemetryHubError,
    TransportError,
)
from telemetryhub.fleet.device import Device, ResumePoint
from telemetryhub.fleet.port import Port
from telemetryhub.models import Sample
from telemetryhub.protocol import Code, Hello

if TYPE_CHECKING:
    from telemetryhub.fleet.loop import Intake, LoopSettings

_log = logging.getLogger(__name__)

KnownDevice = Callable[[str], bool]  # has the store seen this device before?
_INTERNAL = object()  # the tag of the loop's own commands (the periodic `status`)
_BACKLOG_RETRY_S = 0.05  # a port whose batch the Intake refused looks again this soon
OVERLOAD_FRACTION = 0.95  # the design's load-shedding mark (the Intake decides; said in logs)


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """An OK answer, with the STATUS counters when the command was `status`."""

    result: CommandResult
    status: DeviceCounters | None


class Dispatcher:
    """See the module docstring."""

    def __init__(
        self,
        intake: Intake,
        settings: LoopSettings,
        *,
        resume: ResumePoint | None,
        known: KnownDevice | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ports: list[Port] = []
        self.devices: dict[str, Device] = {}
        self._intake = intake
        self._settings = settings
        self._resume = resume
        self._known = known
        self._wall = wall
        self._port_of: dict[str, Port] = {}
        self._touched: set[Port] = set()
        self._status_due: dict[Port, float] = {}
        self._hole_since: dict[Port, float] = {}
        self._rewound_at: dict[Port, float] = {}
        self._down_reported: dict[Port, str] = {}
        self.attach_deferred = 0  # handshakes turned away by load shedding
        self.superseded = 0  # links closed because their board connected again elsewhere
        self.connecting = True  # ports (re)connect; False once shutdown began
        self.intake_open = True  # False: the pipeline takes no more batches; read regardless

    def reads(self, port: Port) -> bool:
        """Whether the port is read now: not while a batch waits for room in the pipeline."""
        return not port.backlog or not self.intake_open

    def forget_port(self, port: Port) -> None:
        """The port is gone for good (its board stays known)."""
        self.ports.remove(port)
        self._status_due.pop(port, None)
        self._hole_since.pop(port, None)
        self._rewound_at.pop(port, None)
        self._down_reported.pop(port, None)
        self._touched.discard(port)
        for device_id, mapped in list(self._port_of.items()):
            if mapped is port:
                del self._port_of[device_id]

    def take_touched(self) -> list[Port]:
        touched, self._touched = list(self._touched), set()
        return touched

    # --- session events ------------------------------------------------------------------

    def drain(self, port: Port, now: float) -> None:
        """Take every event of the port's session, then offer what was decoded."""
        session = port.session
        run = _BatchRun()
        while session is not None and (event := session.next_event()) is not None:
            if isinstance(event, SamplesIn):
                batch = self._samples(port, event, now)
                if batch is not None:
                    run.add(batch, port.backlog)
                continue
            run.flush(port.backlog)
            self._handle(port, event, now)
        run.flush(port.backlog)
        self.offer_backlog(port)
        if port.device is not None:
            self._ack_if_due(port, port.device)  # once per turn, however many batches settled
        port.queue_output()

    def _handle(self, port: Port, event: object, now: float) -> None:
        device = port.device
        match event:
            case Up(hello=hello):
                self._on_up(port, hello, now)
            case HelloIn(hello=hello) if device is not None:
                device.on_hello(hello)
            case StateIn(state=state) if device is not None:
                self._intake.note(device.on_state(state))
            case Answer() if device is not None:
                device.on_answer(event, now)
                _resolve(event, device)
            case FrameGap() if device is not None:
                device.on_frame_gap()
            case ErrorIn(error=error):
                _log.warning("%s error %d: %s", port.label, error.code, error.text)
            case Console(text=text):
                _log.info("%s console: %s", port.label, text.rstrip())
            case Failed(error=error, pending=lost):
                self._on_failed(port, error, lost, now)

    def _samples(self, port: Port, event: SamplesIn, now: float) -> SampleBatch | None:
        device = port.device
        if device is None:
            return None
        return device.samples(event.frame, event.samples, now)

    def _on_up(self, port: Port, hello: Hello, now: float) -> None:
        attached = self.devices.get(hello.device_id)
        if (attached is None or not attached.connected) and self._intake.overloaded():
            self._shed(port, hello)
            return
        device = self.devices.get(hello.device_id)
        if device is None:
            known = self._known(hello.device_id) if self._known else False
            device = Device(hello.device_id, resume=self._resume, known=known, wall=self._wall)
            self.devices[hello.device_id] = device
        self._supersede(device, port)
        port.device = device
        self._port_of[device.device_id] = port
        fresh = device.on_handshake(hello, port.label)
        port.handshake_done()
        self._down_reported.pop(port, None)
        self._status_due[port] = now  # learn the board's counters (and floor) at once
        if fresh:  # connected, reconnected or rebooted: the core sets it up
            info = device.info
            assert info is not None
            self._intake.note(
                LinkChange(
                    device.device_id,
                    port.label,
                    True,
                    f"{info.device_id} on {port.label}: boot {info.boot_id:08x}, firmware "
                    f"{info.firmware_version}, protocol {info.proto_major}.{info.proto_minor}",
                )
            )
        self._ack_if_due(port, device)

    def _supersede(self, device: Device, port: Port) -> None:
        """The board came up on `port` while still up on another: a stale connection (a board
        moved, a socket half-open). The newer one wins; the older retries after a while."""
        old = self._port_of.get(device.device_id)
        if old is None or old is port or old.session is None:
            return
        self.superseded += 1
        _log.warning(
            "%s came up on %s: closing its older link on %s",
            device.device_id,
            port.label,
            old.label,
        )
        old.device = None  # its end must not take the board down with it
        old.session.close(
            SupersededError(f"superseded: {device.device_id} connected again on {port.label}")
        )
        self._touched.add(old)

    def _shed(self, port: Port, hello: Hello) -> None:
        """Load shedding: the pipeline is nearly full, so a board not yet attached waits (its
        ring keeps its samples) and tries again after a backoff; counted, and shown as the
        port's last error."""
        self.attach_deferred += 1
        if port.session is not None:
            port.session.close(
                TransportError(
                    f"{hello.device_id} waits to be attached: the gateway's queue is above "
                    f"{OVERLOAD_FRACTION:.0%} (load shedding)"
                )
            )

    def _on_failed(
        self, port: Port, error: TelemetryHubError, lost: tuple[object, ...], now: float
    ) -> None:
        for pending in lost:
            tag = getattr(pending, "tag", None)
            if isinstance(tag, Future) and not tag.done():
                tag.set_exception(DeviceNotConnectedError(f"{port.label}: {error}"))
        port.drop_session()
        port.fail(error, now)
        self._report_down(port, str(error), now)

    def transport_failed(self, port: Port, error: TelemetryHubError, now: float) -> None:
        if port.session is not None:
            port.session.close(error)  # its Failed event does the rest
        else:
            port.fail(error, now)
            self._report_down(port, str(error), now)

    def _report_down(self, port: Port, detail: str, now: float) -> None:
        device = port.device
        port.warn_if_due(now)
        if device is not None and device.connected:
            device.on_down(detail)
            self._intake.note(LinkChange(device.device_id, port.name, False, detail))
        elif self._down_reported.get(port) != detail:
            self._intake.note(LinkChange(None, port.name, False, detail))
        self._down_reported[port] = detail

    # --- timers --------------------------------------------------------------------------

    def on_timer(self, port: Port, now: float) -> None:
        session = port.session
        if session is None:
            if self.connecting and now >= port.next_attempt_at:
                error = port.connect(now)
                if error is not None:
                    self._report_down(port, str(error), now)
            return
        session.tick(now)
        transport = port.transport
        if transport is not None and transport.fileno() is None and self.reads(port):
            try:
                port.read(now)
            except TelemetryHubError as exc:
                self.transport_failed(port, exc, now)
        if port.up:
            self._poll_status(port, now)
            self._repair_hole(port, now)

    def next_timer(self, port: Port, now: float) -> float | None:
        """When the port needs the loop again, or None."""
        session = port.session
        if session is None:
            return port.next_attempt_at if self.connecting else None
        times = [session.deadline() or math.inf]
        transport = port.transport
        if transport is not None and transport.fileno() is None:
            times.append(transport.ready_at() if self.reads(port) else now + _BACKLOG_RETRY_S)
        if port.up:
            times.append(self._status_due.get(port, math.inf))
            since = self._hole_since.get(port)
            if since is not None:
                wait_s = self._settings.hole_repair_s
                rewound = self._rewound_at.get(port, -math.inf)
                times.append(max(since + wait_s, rewound + 2 * wait_s))
        when = min(times)
        return None if when == math.inf else when

    def _poll_status(self, port: Port, now: float) -> None:
        due = self._status_due.get(port, math.inf)
        session = port.session
        if now >= due and session is not None:
            session.send_command("status", (), now, _INTERNAL)
            self._status_due[port] = now + self._settings.status_every_s

    def _repair_hole(self, port: Port, now: float) -> None:
        device, session = port.device, port.session
        if device is None or session is None or not device.has_hole():
            self._hole_since.pop(port, None)
            return
        since = self._hole_since.setdefault(port, now)
        wait_s = self._settings.hole_repair_s
        if now - since >= wait_s and now - self._rewound_at.get(port, -math.inf) >= 2 * wait_s:
            _log.info("%s: a hole in the samples; asking the board to resend", port.label)
            session.rewind(now)
            device.counts["rewinds"] += 1
            self._rewound_at[port] = now

    # --- requests --------------------------------------------------------------------------

    def send(
        self,
        device_id: str | None,
        verb: str,
        args: tuple[str, ...],
        future: Future[CommandAnswer],
        now: float,
    ) -> None:
        port = self._port_for(device_id)
        if port is None or port.session is None:
            future.set_exception(
                DeviceNotConnectedError(f"{device_id or 'board'}: no board connected")
            )
            return
        try:
            port.session.send_command(verb, args, now, future)
        except TelemetryHubError as exc:  # a malformed command line: the caller's mistake
            future.set_exception(exc)
            return
        self._touched.add(port)

    def forget(self, future: Future[CommandAnswer]) -> None:
        for port in self.ports:
            if port.session is not None:
                port.session.forget(future)

    def _port_for(self, device_id: str | None) -> Port | None:
        if device_id is not None:
            port = self._port_of.get(device_id)
            return port if port is not None and port.up else None
        return next((port for port in self.ports if port.up), None)

    def settle(self, device_id: str, boot_id: int, seqs: list[int]) -> None:
        device = self.devices.get(device_id)
        if device is None:
            return
        device.settle(boot_id, seqs)
        port = self._port_of.get(device_id)
        if port is not None and port.up:
            self._touched.add(port)  # its ack goes out when the loop settles the port

    def _ack_if_due(self, port: Port, device: Device) -> None:
        info = device.info
        if info is None or port.session is None:
            return
        seq30 = device.ack_due(info.boot_id)
        if seq30 is not None:
            port.session.send_ack(seq30)
            self._touched.add(port)
        if device.has_hole():
            self._touched.add(port)  # re-arm its timer for the repair

    def offer_backlog(self, port: Port) -> None:
        backlog = port.backlog
        while backlog and self._intake.offer(backlog[0]):
            backlog.popleft()

    # --- views ---------------------------------------------------------------------------

    def samples_received(self) -> int:
        return sum(device.counts["samples_received"] for device in self.devices.values())

    def snapshots(self) -> list[DeviceSnapshot]:
        return [self._snapshot(device) for device in self.devices.values()]

    def port_views(self) -> list[PortView]:
        return [
            PortView(
                port.name,
                port.label,
                port.up,
                None if port.device is None else port.device.device_id,
                None if port.last_error is None else str(port.last_error),
            )
            for port in self.ports
        ]

    def _snapshot(self, device: Device) -> DeviceSnapshot:
        port = self._port_of.get(device.device_id)
        counts = device.counts
        link = LinkStats(
            connected=device.connected and port is not None and port.up,
            port=device.port_name,
            last_error=device.last_error,
            reconnects=max(0, counts["connects"] - 1),
            reboots=counts["reboots"],
            frames_received=0 if port is None else port.counter("frames"),
            bytes_received=0 if port is None else port.counter("bytes"),
            crc_errors=0 if port is None else port.counter("crc"),
            framing_errors=0 if port is None else port.counter("framing"),
            console_lines=0 if port is None else port.counter("console"),
            frame_gaps=counts["frame_gaps"],
            seq_gaps=counts["seq_gaps"],
            rewinds=counts["rewinds"],
            frames_before_handshake=0 if port is None else port.counter("early"),
            duplicates_received=counts["duplicates_received"],
        )
        return device.snapshot(link)


class _BatchRun:
    """Joins consecutive frames of one boot and kind into one batch: fewer, larger store jobs."""

    def __init__(self) -> None:
        self._head: SampleBatch | None = None
        self._samples: list[Sample] = []

    def add(self, batch: SampleBatch, out: deque[SampleBatch]) -> None:
        head = self._head
        if head is not None and (head.device.boot_id, head.resend) != (
            batch.device.boot_id,
            batch.resend,
        ):
            self.flush(out)
        if self._head is None:
            self._head = batch
        self._samples.extend(batch.samples)

    def flush(self, out: deque[SampleBatch]) -> None:
        head = self._head
        if head is not None:
            out.append(replace(head, samples=tuple(self._samples)))
        self._head = None
        self._samples = []


def _resolve(answer: Answer, device: Device) -> None:
    future = answer.pending.tag
    if not isinstance(future, Future) or future.done():
        return
    result = answer.result
    if result.code == Code.OK:
        board_ms = device.clock.unwrap(result.t_ms)
        status = device.board if answer.pending.status is not None else None
        future.set_result(
            CommandAnswer(CommandResult(result.cmd_id, result.text, board_ms), status)
        )
    elif result.code == Code.INVALID_STATE:
        future.set_exception(InvalidStateError(result.code, result.text))
    else:
        future.set_exception(CommandRejectedError(result.code, result.text))
