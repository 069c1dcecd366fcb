"""LinkLoop: the one `link-io` thread that moves bytes for every board through one selector.

Every port's transport is a selectable file descriptor (pyserial ports and ptys are) or says
when it may have data (the in-process simulator); one `select` waits on all of them, with the
nearest timer (handshake, reconnect, STATUS poll, hole repair) as its timeout. Sessions are
sans-I/O, so the loop only moves bytes and turns session events into pipeline events, which
it hands to the Intake without ever blocking: a batch the Intake cannot take waits in its port,
and that port is not read until the batch is taken (the board keeps the rest in its ring).

Threading: methods documented as thread-safe hand work to the loop with `call_soon`; everything
else runs on the loop's thread.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import logging
import os
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from telemetryhub.device.base import (
    DeviceCounters,
    DeviceSnapshot,
    LinkChange,
    PortView,
    SampleBatch,
    StateChange,
)
from telemetryhub.errors import (
    CommandTimeoutError,
    DeviceNotConnectedError,
    TelemetryHubError,
    TransportError,
)
from telemetryhub.fleet.dispatch import CommandAnswer, Dispatcher, KnownDevice
from telemetryhub.fleet.port import Port, PortSettings, TransportFactory
from telemetryhub.protocol import DecodedItem

_log = logging.getLogger(__name__)

T = TypeVar("T")
_FINAL_WRITE_S = 1.0  # at close, how long the last acks may take to leave


class Intake(Protocol):
    """Where the loop hands what it decoded; called on the loop's thread, must not block."""

    def offer(self, batch: SampleBatch) -> bool:
        """Take `batch` now, or return False (the loop retries after `LinkLoop.wake`)."""
        ...

    def note(self, event: StateChange | LinkChange) -> None:
        """A board changed state or its link went up or down."""
        ...

    def overloaded(self) -> bool:
        """Above the load-shedding mark: boards not attached yet wait (they keep their data)."""
        ...


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Timers of the loop; the port settings apply to every port."""

    status_every_s: float = 5.0  # the board's STATUS is read this often while up
    hole_repair_s: float = 1.0  # a hole older than this makes the board resend (a rewind)
    port: PortSettings = field(default_factory=PortSettings)


class LinkLoop:
    """Every board's I/O on one thread; see the module docstring."""

    def __init__(
        self,
        intake: Intake,
        settings: LoopSettings | None = None,
        *,
        resume: Callable[[str, int], int | None] | None = None,
        known: KnownDevice | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or LoopSettings()
        self._intake = intake
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._inbox: deque[Callable[[], None]] = deque()
        self._ports: list[Port] = []
        self._registered: dict[Port, tuple[int, int]] = {}  # port -> (fd, events)
        self._timers: list[tuple[float, int, Port]] = []  # a heap; stale entries are skipped
        self._due: dict[Port, float] = {}  # each port's one live timer
        self._timer_ids = itertools.count()
        self._dispatch = Dispatcher(intake, self.settings, resume=resume, known=known, wall=wall)
        self._closing = threading.Event()
        self._drained = threading.Event()
        self._thread = threading.Thread(target=self._run, name="link-io")
        self.internal_errors = 0  # bugs caught in the loop (each logged with its traceback)
        self.detached_backlog = 0  # samples held by ports removed before the pipeline took them

    # --- lifecycle (thread-safe) ---------------------------------------------------------

    def add_port(
        self,
        name: str,
        factory: TransportFactory,
        tap: Callable[[DecodedItem], None] | None = None,
    ) -> None:
        """Attach a port; it connects on the loop's next turn. `tap` sees every decoded item."""
        port = Port(name, factory, self.settings.port, tap)
        self.call_soon(lambda: self._attach(port))

    def remove_port(self, name: str) -> None:
        """Let go of a port (its transport is closed; its board stays known, offline)."""
        self.call_soon(lambda: self._detach(name))

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop_intake(self, timeout_s: float = 5.0) -> bool:
        """Shutdown begins: take what is on the wire now, reconnect no more, and wait until every
        batch held in a port was handed to the Intake. False if that took over `timeout_s`.
        Boards are still read (commands are answered) until `close`."""
        self.call_soon(self._stop_connecting)
        return self._drained.wait(timeout_s)

    def close_intake(self) -> None:
        """The Intake takes nothing more: batches decoded from now on are held for `close` to
        count (their boards keep them unacked), and ports are read regardless (thread-safe)."""
        self.call_soon(self._close_intake)

    def close(self, timeout_s: float = 5.0) -> int:
        """Write what is queued (the last acks), close every transport, join the thread.

        Returns the samples still held in ports that the Intake never took (counted by the
        caller as dropped at shutdown: the boards still hold them unacked).
        """
        self._closing.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        left = sum(len(b.samples) for port in self._ports for b in port.backlog)
        for port in self._ports:
            port.backlog.clear()
            if port.transport is not None:
                port.transport.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._selector.close()
        return left

    def wake(self) -> None:
        """Make the loop run a turn now (thread-safe, cheap)."""
        # a full pipe means a wake-up is pending anyway; a closed one, that the loop is gone
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the loop's thread at its next turn (thread-safe)."""
        self._inbox.append(fn)
        self.wake()

    # --- requests (thread-safe) ----------------------------------------------------------

    def command(
        self, device_id: str | None, verb: str, *args: str, timeout_s: float = 2.0
    ) -> CommandAnswer:
        """Send a command to `device_id` (None: the only or first connected board) and wait."""
        future: Future[CommandAnswer] = Future()
        self.call_soon(lambda: self._dispatch.send(device_id, verb, args, future, self._now()))
        try:
            return future.result(timeout_s)
        except FutureTimeoutError:
            self.call_soon(lambda: self._dispatch.forget(future))
            raise CommandTimeoutError(
                f"{device_id or 'board'}: no answer to {verb!r} within {timeout_s} s"
            ) from None

    def command_many(
        self, device_ids: list[str], verb: str, *args: str, timeout_s: float = 2.0
    ) -> dict[str, CommandAnswer | TelemetryHubError]:
        """The same command to several boards at once; each one's answer or error."""
        futures: dict[str, Future[CommandAnswer]] = {d: Future() for d in device_ids}

        def send_all() -> None:
            now = self._now()
            for device_id, future in futures.items():
                self._dispatch.send(device_id, verb, args, future, now)

        self.call_soon(send_all)
        deadline = time.monotonic() + timeout_s
        outcomes: dict[str, CommandAnswer | TelemetryHubError] = {}
        for device_id, future in futures.items():
            try:
                outcomes[device_id] = future.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeoutError:
                self.call_soon(lambda f=future: self._dispatch.forget(f))  # type: ignore[misc]
                outcomes[device_id] = CommandTimeoutError(
                    f"{device_id}: no answer to {verb!r} within {timeout_s} s"
                )
            except TelemetryHubError as exc:
                outcomes[device_id] = exc
        return outcomes

    def read_counters(self, device_id: str | None, timeout_s: float = 2.0) -> DeviceCounters:
        """The board's STATUS counters, asked now."""
        answer = self.command(device_id, "status", timeout_s=timeout_s)
        if answer.status is None:
            raise DeviceNotConnectedError("RESULT of status came without a STATUS frame")
        return answer.status

    def settle(self, device_id: str, boot_id: int, seqs: list[int]) -> None:
        """The pipeline finished these samples: update the ledger, ack the board."""
        self.call_soon(lambda: self._dispatch.settle(device_id, boot_id, seqs))

    @property
    def superseded(self) -> int:
        """Links closed because their board connected again on another port."""
        return self._dispatch.superseded

    @property
    def attach_deferred(self) -> int:
        """Handshakes turned away by load shedding (each board retries after a backoff)."""
        return self._dispatch.attach_deferred

    def barrier(self, timeout_s: float = 2.0) -> int | None:
        """Take what is readable now; the count of samples received so far (None: timeout)."""
        return self._ask(self._barrier, timeout_s)

    def snapshots(self, timeout_s: float = 2.0) -> list[DeviceSnapshot]:
        """Every board seen since start, in the order they were first seen."""
        result = self._ask(self._dispatch.snapshots, timeout_s)
        return [] if result is None else result

    def ports(self, timeout_s: float = 2.0) -> list[PortView]:
        """Every configured port: up or not, with which board, or why not."""
        result = self._ask(self._dispatch.port_views, timeout_s)
        return [] if result is None else result

    def _ask(self, fn: Callable[[], T], timeout_s: float) -> T | None:
        if not self._thread.is_alive():
            return fn()  # not started, or closed: nothing else touches the loop's state
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except Exception as exc:  # the caller gets it: nothing is lost in the loop
                future.set_exception(exc)

        self.call_soon(run)
        try:
            return future.result(timeout_s)
        except FutureTimeoutError:
            return None

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing.is_set():
            self._turn(self._timeout())
        self._finish()

    def _turn(self, timeout_s: float | None) -> None:
        for key, mask in self._selector.select(timeout_s):
            port = key.data
            if port is None:
                self._drain_wake()
            elif isinstance(port, Port):
                self._touch(port, functools.partial(self._serve, port, mask))
        self._run_inbox()
        self._run_timers()

    def _touch(self, port: Port, action: Callable[[float], None] | None = None) -> None:
        """Run `action` on `port`, then settle it. A bug while doing so resets this port only:
        logged with its traceback, counted, and the port reconnects like after an unplug."""
        now = self._now()
        try:
            if action is not None:
                action(now)
            self._settle_port(port, now)
        except Exception as exc:  # one board's trouble must not stop every board
            _log.exception("link loop: handling %s failed; reconnecting it", port.label)
            self.internal_errors += 1
            self._dispatch.transport_failed(port, TransportError(f"internal error: {exc!r}"), now)
            self._settle_port(port, now)

    def _serve(self, port: Port, mask: int, now: float) -> None:
        """The selector says `port` is readable or writable (`mask`)."""
        try:
            if mask & selectors.EVENT_READ:
                port.read(now)
            if mask & selectors.EVENT_WRITE:
                port.write()
        except TelemetryHubError as exc:
            self._dispatch.transport_failed(port, exc, now)

    def _settle_port(self, port: Port, now: float) -> None:
        """After anything touched `port`: take its events, write, re-arm selector and timers."""
        self._dispatch.drain(port, now)
        try:
            port.write()
        except TelemetryHubError as exc:
            self._dispatch.transport_failed(port, exc, now)
            self._dispatch.drain(port, now)
        if not port.backlog:
            self._check_drained()
        self._arm(port)
        self._schedule(port, now)

    def _run_inbox(self) -> None:
        while self._inbox:
            fn = self._inbox.popleft()
            try:
                fn()
            except Exception:  # a request's bug is logged and counted; the loop goes on
                _log.exception("link loop: a request failed")
                self.internal_errors += 1
        for port in self._dispatch.take_touched():
            self._touch(port)

    def _run_timers(self) -> None:
        now = self._now()
        due: list[Port] = []
        while self._timers and self._timers[0][0] <= now:
            when, _, port = heapq.heappop(self._timers)
            if self._due.get(port) == when:  # else replaced by a later _schedule
                del self._due[port]
                due.append(port)
        for port in due:  # what they re-schedule, even for "now", waits for the next turn
            self._touch(port, functools.partial(self._dispatch.on_timer, port))

    def _timeout(self) -> float | None:
        if self._inbox:
            return 0.0
        while self._timers and self._due.get(self._timers[0][2]) != self._timers[0][0]:
            heapq.heappop(self._timers)  # stale
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - self._now())

    # --- selector and timers -------------------------------------------------------------

    def _attach(self, port: Port) -> None:
        self._ports.append(port)
        self._dispatch.ports.append(port)
        self._schedule(port, self._now(), at=0.0)

    def _detach(self, name: str) -> None:
        for port in [p for p in self._ports if p.name == name]:
            now = self._now()
            self._dispatch.transport_failed(port, TransportError(f"{name} was removed"), now)
            self._dispatch.drain(port, now)
            self._dispatch.forget_port(port)
            left = sum(len(batch.samples) for batch in port.backlog)
            if left:  # not offered yet: the board keeps them unacked and resends them
                self.detached_backlog += left
            port.backlog.clear()
            self._ports.remove(port)
            self._due.pop(port, None)
            old = self._registered.pop(port, None)
            if old is not None:
                self._selector.unregister(old[0])
        self._check_drained()

    def _arm(self, port: Port) -> None:
        fd = port.transport.fileno() if port.transport is not None else None
        events = 0
        if fd is not None:
            if self._dispatch.reads(port):
                events |= selectors.EVENT_READ
            if port.wants_write:
                events |= selectors.EVENT_WRITE
        old = self._registered.get(port)
        if old == (fd, events) or (old is None and not events):
            return
        if old is not None:
            self._selector.unregister(old[0])
            del self._registered[port]
        if fd is not None and events:
            self._selector.register(fd, events, port)
            self._registered[port] = (fd, events)

    def _schedule(self, port: Port, now: float, at: float | None = None) -> None:
        when = self._dispatch.next_timer(port, now) if at is None else at
        if when is None:
            self._due.pop(port, None)
        elif self._due.get(port) != when:
            self._due[port] = when
            heapq.heappush(self._timers, (when, next(self._timer_ids), port))

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        for port in self._ports:  # the Intake may have room again
            if port.backlog:
                self._touch(port)  # settling it offers its backlog again

    # --- barrier, snapshots, shutdown (on the loop's thread) -----------------------------

    def _barrier(self) -> int:
        for key, mask in self._selector.select(0):
            if isinstance(key.data, Port):
                self._touch(key.data, functools.partial(self._serve, key.data, mask))
        return self._dispatch.samples_received()

    def _stop_connecting(self) -> None:
        self._barrier()
        self._dispatch.connecting = False
        self._check_drained()

    def _close_intake(self) -> None:
        self._dispatch.intake_open = False
        for port in self._ports:
            self._arm(port)
            self._schedule(port, self._now())

    def _check_drained(self) -> None:
        if not self._dispatch.connecting and not any(port.backlog for port in self._ports):
            self._drained.set()

    def _finish(self) -> None:
        """Closing: run what is queued (the last settles), then write the acks out (bounded)."""
        self._run_inbox()
        deadline = self._now() + _FINAL_WRITE_S
        while self._now() < deadline:
            waiting = [p for p in self._ports if p.wants_write and p.transport is not None]
            if not waiting:
                return
            for port in waiting:
                self._arm(port)
            for key, _ in self._selector.select(max(0.0, deadline - self._now())):
                if isinstance(key.data, Port):
                    try:
                        key.data.write()
                    except TelemetryHubError:
                        key.data.discard_output()  # gone: the board resends what stayed unacked

    @staticmethod
    def _now() -> float:
        return time.monotonic()
