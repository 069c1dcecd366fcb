"""GatewayCore: the engine's facade: boards (link loop) -> pipeline -> store, uplinks, views.

Threads (named, non-daemon, joined by `close`, watched by the ThreadWatch):
  link-io         every board's bytes through one selector (telemetryhub.fleet.LinkLoop)
  core-consumer   queue -> pool, on each device's serial lane (telemetryhub.core.pipeline)
  core-worker-N   validate -> aggregate -> store (one transaction) -> settle, which acks

A sample is acked to its board only after its batch is committed, so an exit at any moment
loses nothing the board cannot resend; what the board could not keep is counted as lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from telemetryhub.core.commands import BoardCommands, BoardPolicy, fault_args
from telemetryhub.core.device_status import device_document, offline_snapshot
from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.core.pipeline import Pipeline, PipelineSettings
from telemetryhub.core.pool import ThreadPool
from telemetryhub.core.processing import RollingAggregates, SampleValidator
from telemetryhub.core.queue import TelemetryQueue
from telemetryhub.core.status import ShutdownSummary, fleet_state, status_document, summarise
from telemetryhub.core.supervise import ThreadWatch
from telemetryhub.core.views import DeviceViews
from telemetryhub.device.base import (
    DeviceSnapshot,
    LinkChange,
    PortView,
    SampleBatch,
    StateChange,
)
from telemetryhub.errors import TelemetryHubError, UnknownDeviceError
from telemetryhub.fleet.loop import LinkLoop, LoopSettings
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.models import DeviceState, Fault, Sample
from telemetryhub.store.base import KnownDevice, SampleStore

_log = logging.getLogger(__name__)

_FINAL_STATUS_S = 1.0  # at close, how long to wait for each board's last STATUS


class Uplink(Protocol):
    """An uplink the core starts and stops with itself (it reads the store on its own)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, object]: ...

    def note_device_state(self, device_id: str, state: str, reason: str) -> None: ...


class BoardIndex(Protocol):
    """What the store knows of boards: where a restarted gateway resumes each boot, and every
    board ever heard of (the fleet list shows the offline ones with when they were seen)."""

    def newest_seq(self, device_id: str, boot_id: int) -> int | None: ...

    def knows_device(self, device_id: str) -> bool: ...

    def known_devices(self) -> list[KnownDevice]: ...

    def note_device(
        self, device_id: str, firmware: str, boot_id: int, port: str, seen_at: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """Tuning of the engine; the defaults are the design's."""

    queue_capacity: int = 1000
    pool_workers: int = 4
    consumer_batch_items: int = 64
    max_batches_in_pool: int = 64
    max_samples_per_job: int = 1024
    recent_per_device: int = 600  # samples of history per board kept in memory for charts
    autostart: bool = True
    period_ms: int | None = None  # asked of every board on connect; None keeps the board's own
    boards: dict[str, BoardPolicy] = field(default_factory=dict)  # per device id, over those
    device_limits: dict[str, tuple[float, float]] = field(default_factory=dict)  # per device
    min_value: float = -1e6
    max_value: float = 1e6
    command_timeout_s: float = 2.0
    link: LoopSettings = field(default_factory=LoopSettings)


class GatewayCore:
    """The gateway engine; a facade for the API and CLI. Every public method is thread-safe."""

    def __init__(
        self,
        store: SampleStore,
        settings: CoreSettings | None = None,
        uplinks: Sequence[Uplink] = (),
        *,
        index: BoardIndex | None = None,
    ) -> None:
        self.settings = s = settings or CoreSettings()
        self.store = store
        self.uplinks = tuple(uplinks)
        self.pool = ThreadPool(s.pool_workers, name="core")
        self.validator = SampleValidator(s.min_value, s.max_value)
        self.validator.set_device_limits(s.device_limits)
        self.aggregates = RollingAggregates()
        self.views = DeviceViews(s.recent_per_device)
        self.pipeline = Pipeline(
            store,
            self.pool,
            self.validator,
            self.aggregates,
            PipelineSettings(
                s.queue_capacity,
                s.consumer_batch_items,
                s.max_batches_in_pool,
                s.max_samples_per_job,
            ),
            self.views,
        )
        self.loop = LinkLoop(
            self,
            s.link,
            resume=index.newest_seq if index else None,
            known=index.knows_device if index else None,
        )
        self.pipeline.connect(self.loop.settle, self.loop.wake)
        self.commands = BoardCommands(self.loop, self.devices, self._policy, s.command_timeout_s)
        self.threads = ThreadWatch()
        self._index = index
        self._lock = threading.Lock()
        self._opened = False
        self._closed = False
        self._summary: ShutdownSummary | None = None

    @property
    def queue(self) -> TelemetryQueue[SampleBatch]:
        return self.pipeline.queue

    @property
    def latency(self) -> LatencyHistogram:
        return self.pipeline.latency

    def add_source(self, name: str, factory: TransportFactory) -> None:
        """Attach a port where a board may be found (before or after `open`)."""
        self.loop.add_port(name, factory)

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Start the threads; boards connect on the link loop; idempotent."""
        with self._lock:
            if self._opened:
                return
            self._opened = True
        self.threads.install()
        self.pool.start()
        self.pipeline.start()
        self.loop.start()
        self.threads.watch("link-io", required=True)
        self.threads.watch("core-consumer", required=True)
        self.threads.watch("core-worker-", required=True)
        for uplink in self.uplinks:
            uplink.start()

    def close(self) -> ShutdownSummary:
        """Graceful shutdown in the design's order; idempotent, returns the summary.

        Stop the boards -> stop intake (what is on the wire is taken) -> drain the queue -> the
        pool finishes (each batch stored, then acked) -> the boards' last STATUS -> the link
        loop writes the last acks and closes -> uplinks stop.
        """
        with self._lock:
            if self._summary is not None:
                return self._summary
            opened, self._closed = self._opened, True
        if opened:
            self._stop_devices_for_shutdown()
            self.loop.stop_intake()
            self.pipeline.stop_retrying()
            self.loop.close_intake()
            self.pipeline.close()
            self.pool.shutdown(wait=True)
            self._read_final_status()
        left = self.loop.close()
        self.pipeline.count_dropped("shutdown", left)
        for uplink in self.uplinks if opened else ():
            uplink.stop()
        self.threads.uninstall()
        summary = summarise(self)
        with self._lock:
            self._summary = summary
        return summary

    def replace_uplinks(self, uplinks: Sequence[Uplink]) -> None:
        """Stop the running uplinks and start `uplinks` (a reload); cursors live in the store."""
        with self._lock:
            old, self.uplinks = self.uplinks, tuple(uplinks)
            running = self._opened and not self._closed
        for uplink in old:
            uplink.stop()
        if running:
            for uplink in self.uplinks:
                uplink.start()

    def __enter__(self) -> GatewayCore:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- device commands: one board by id, or (None) every connected board ------------------

    def start(self, device_id: str | None = None) -> dict[str, str]:
        """Idle -> Measuring; each board's outcome ("ok" or why not)."""
        return self.commands.run(device_id, "start")

    def stop(self, device_id: str | None = None) -> dict[str, str]:
        """Measuring -> Idle, then wait until what the boards sent so far is stored."""
        outcomes = self.commands.run(device_id, "stop")
        self.flush()
        return outcomes

    def reset_device(self, device_id: str | None = None) -> dict[str, str]:
        """Any state -> Idle (SafeState recovery); the armed fault stays armed."""
        return self.commands.run(device_id, "reset")

    def inject_fault(self, fault: Fault, device_id: str | None = None) -> dict[str, str]:
        """Switch the boards' fault injection mode."""
        return self.commands.run(device_id, "fault", *fault_args(fault))

    def set_period(self, period_ms: int, device_id: str | None = None) -> dict[str, str]:
        """Change the boards' sample period."""
        return self.commands.run(device_id, "set", "period_ms", str(period_ms))

    def configure_boards(self, settings: CoreSettings) -> None:
        """New shared and per-board policies (a reload): they apply at each board's next set-up."""
        with self._lock:
            self.settings = replace(
                self.settings,
                period_ms=settings.period_ms,
                autostart=settings.autostart,
                boards=settings.boards,
                device_limits=settings.device_limits,
            )

    def set_period_where_default(self, period_ms: int) -> dict[str, str]:
        """The shared period changed: set it on every connected board without its own."""
        outcomes: dict[str, str] = {}
        for device in self.devices():
            if device.connected and device.device_id not in self.settings.boards:
                try:
                    outcomes.update(self.set_period(period_ms, device.device_id))
                except TelemetryHubError as exc:
                    outcomes[device.device_id] = str(exc)
        return outcomes

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every sample read so far (what is readable now included) is settled."""
        deadline = time.monotonic() + timeout_s
        target = self.loop.barrier(timeout_s)
        if target is None:
            return False
        return self.pipeline.wait_settled(target, max(0.0, deadline - time.monotonic()))

    def _stop_devices_for_shutdown(self) -> None:
        measuring = [
            d.device_id for d in self.devices() if d.connected and d.state == DeviceState.MEASURING
        ]
        answers = self.loop.command_many(measuring, "stop", timeout_s=_FINAL_STATUS_S)
        for device_id, answer in answers.items():
            if isinstance(answer, TelemetryHubError):
                _log.warning("could not stop %s on shutdown: %s", device_id, answer)

    def _read_final_status(self) -> None:
        """Each board's counters at the end: what it still holds is not lost."""
        connected = [d.device_id for d in self.devices() if d.connected]
        answers = self.loop.command_many(connected, "status", timeout_s=_FINAL_STATUS_S)
        for device_id, answer in answers.items():
            if isinstance(answer, TelemetryHubError):
                _log.info("no final STATUS from %s: %s", device_id, answer)

    # -- the link loop's Intake (called on link-io; never blocks) ------------------------------

    def offer(self, batch: SampleBatch) -> bool:
        return self.pipeline.offer(batch)

    def overloaded(self) -> bool:
        return self.pipeline.overloaded()

    def note(self, event: StateChange | LinkChange) -> None:
        if isinstance(event, StateChange):
            _log.info(
                "%s state %s (%s: %s)",
                event.device_id,
                event.state.label,
                event.cause,
                event.reason,
            )
            for uplink in self.uplinks:
                uplink.note_device_state(event.device_id, event.state.label, event.reason)
            return
        _log.info("link %s: %s", "up" if event.connected else "down", event.detail)
        device_id = event.device_id
        # up after a connect, a reconnect or a reboot: the configured period, then autostart
        if event.connected and device_id is not None and not self._closed:
            self.pool.submit(lambda: self._on_connect(device_id), key=("setup", device_id))

    def _on_connect(self, device_id: str) -> None:
        """core-worker: a board came up: remember it in the store, then set it up."""
        device = self.device(device_id)
        if self._index is not None and device is not None and device.info is not None:
            info = device.info
            try:
                self._index.note_device(
                    device_id, info.firmware_version, info.boot_id, device.link.port, time.time()
                )
            except TelemetryHubError as exc:
                _log.warning("could not note %s in the store: %s", device_id, exc)
        self.commands.set_up(device_id)

    def _policy(self, device_id: str) -> BoardPolicy:
        s = self.settings
        return s.boards.get(device_id) or BoardPolicy(s.period_ms, s.autostart)

    # -- views ------------------------------------------------------------------------------

    def devices(self) -> list[DeviceSnapshot]:
        """Every board seen since start, then the boards only the store remembers (offline)."""
        live = self.loop.snapshots()
        if self._index is None:
            return live
        seen = {d.device_id for d in live}
        try:
            remembered = [k for k in self._index.known_devices() if k.device_id not in seen]
        except TelemetryHubError as exc:  # the list of live boards is still worth showing
            _log.warning("listing the boards the store knows failed: %s", exc)
            return live
        return live + [offline_snapshot(k) for k in remembered]

    def device(self, device_id: str | None = None) -> DeviceSnapshot | None:
        """One board (None: the first one connected, else the first one seen)."""
        devices = self.devices()
        if device_id is not None:
            return next((d for d in devices if d.device_id == device_id), None)
        return next((d for d in devices if d.connected), devices[0] if devices else None)

    def ports(self) -> list[PortView]:
        return self.loop.ports()

    def health(self) -> list[str]:
        """Why the gateway cannot do its work now (empty when it can): a thread it needs died."""
        if not self._opened or self._closed:
            return []
        return [f"thread {name}* is not running" for name in self.threads.missing()]

    def device_state(self) -> DeviceState:
        """The fleet's state (SafeState if any board is in it, else Measuring if any measures)."""
        return fleet_state(self.devices())

    def device_status(self, device_id: str) -> dict[str, object]:
        """One board's full document (`GET /devices/<id>`); UnknownDeviceError if never seen."""
        device = self.device(device_id)
        if device is None:
            raise UnknownDeviceError(f"no board {device_id!r} is known to this gateway")
        return device_document(self, device)

    def latest_sample(self, device_id: str | None = None) -> Sample | None:
        """A board's latest sample, or (None) the newest of any board's."""
        return self.views.latest(device_id)

    def recent_samples(self, seconds: float, device_id: str | None = None) -> list[Sample]:
        """Samples received in the last `seconds` (wall clock), oldest first."""
        return self.views.recent(seconds, device_id)

    def data_age_s(self, device_id: str | None = None) -> float | None:
        """Seconds since samples last arrived (from a board, or from any), None if never."""
        return self.views.age_s(device_id)

    def get_metrics(self) -> dict[str, int]:
        """Every count of the pipeline (see telemetryhub.core.status)."""
        from telemetryhub.core.status import pipeline_metrics

        return pipeline_metrics(self, self.devices())

    def status(self) -> dict[str, object]:
        """The JSON-ready `/status` document (see telemetryhub.core.status)."""
        return status_document(self)
