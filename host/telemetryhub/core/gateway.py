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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.core.pipeline import Pipeline, PipelineSettings
from telemetryhub.core.pool import ThreadPool
from telemetryhub.core.processing import RollingAggregates, SampleValidator
from telemetryhub.core.queue import TelemetryQueue
from telemetryhub.core.status import ShutdownSummary, status_document, summarise
from telemetryhub.core.supervise import ThreadWatch
from telemetryhub.device.base import (
    DeviceSnapshot,
    LinkChange,
    PortView,
    SampleBatch,
    StateChange,
)
from telemetryhub.errors import TelemetryHubError
from telemetryhub.fleet.loop import LinkLoop, LoopSettings
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample
from telemetryhub.store.base import SampleStore

_log = logging.getLogger(__name__)

_FAULT_ARGS: dict[FaultMode, Callable[[Fault], tuple[str, ...]]] = {
    FaultMode.NONE: lambda f: ("none",),
    FaultMode.RANDOM: lambda f: ("random", probability_arg(f.probability)),
    FaultMode.INTERMITTENT: lambda f: ("intermittent", str(f.count)),
    FaultMode.DETERMINISTIC: lambda f: ("deterministic", str(f.count)),
}
_FINAL_STATUS_S = 1.0  # at close, how long to wait for each board's last STATUS


def probability_arg(probability: float) -> str:
    """A probability in the wire's form: at most 6 decimals (parts per million), e.g. 0.25."""
    text = f"{probability:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


class Uplink(Protocol):
    """An uplink the core starts and stops with itself (it reads the store on its own)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, object]: ...

    def note_device_state(self, device_id: str, state: str, reason: str) -> None: ...


class BoardIndex(Protocol):
    """What the store tells the link loop about boards seen before a restart."""

    def newest_seq(self, device_id: str, boot_id: int) -> int | None: ...

    def knows_device(self, device_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """Tuning of the engine; the defaults are the design's."""

    queue_capacity: int = 1000
    pool_workers: int = 4
    consumer_batch_items: int = 64
    max_batches_in_pool: int = 64
    max_samples_per_job: int = 1024
    recent_samples: int = 6000
    autostart: bool = True
    period_ms: int | None = None  # asked of every board on connect; None keeps the board's own
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
        self.aggregates = RollingAggregates()
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
        )
        self.loop = LinkLoop(
            self,
            s.link,
            resume=index.newest_seq if index else None,
            known=index.knows_device if index else None,
        )
        self.pipeline.connect(self.loop.settle, self.loop.wake, self._on_batch)
        self.threads = ThreadWatch()
        self._lock = threading.Lock()
        self._latest: Sample | None = None
        self._recent: deque[Sample] = deque(maxlen=s.recent_samples)
        self._last_sample_at: float | None = None
        self._user_stopped = threading.Event()  # autostart must not undo a person's stop
        self._setup_lock = threading.Lock()
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

    # -- device commands (the first connected board; a fleet API comes with several) -------

    def start(self) -> None:
        """Idle -> Measuring."""
        self._command("start")
        self._user_stopped.clear()

    def stop(self) -> None:
        """Measuring -> Idle, then wait until what the board sent so far is stored."""
        self._command("stop")
        self._user_stopped.set()
        self.flush()

    def reset_device(self) -> None:
        """Any state -> Idle (SafeState recovery); the armed fault stays armed."""
        self._command("reset")

    def inject_fault(self, fault: Fault) -> None:
        """Switch the board's fault injection mode."""
        self._command("fault", *_FAULT_ARGS[fault.mode](fault))

    def set_period(self, period_ms: int) -> None:
        """Change the board's sample period."""
        self._command("set", "period_ms", str(period_ms))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every sample read so far (what is readable now included) is settled."""
        deadline = time.monotonic() + timeout_s
        target = self.loop.barrier(timeout_s)
        if target is None:
            return False
        return self.pipeline.wait_settled(target, max(0.0, deadline - time.monotonic()))

    def _command(self, verb: str, *args: str, device_id: str | None = None) -> None:
        self.loop.command(device_id, verb, *args, timeout_s=self.settings.command_timeout_s)

    def _stop_devices_for_shutdown(self) -> None:
        for device in self.devices():
            if device.connected and device.state == DeviceState.MEASURING:
                try:
                    self._command("stop", device_id=device.device_id)
                except TelemetryHubError as exc:
                    _log.warning("could not stop %s on shutdown: %s", device.device_id, exc)

    def _read_final_status(self) -> None:
        """Each board's counters at the end: what it still holds is not lost."""
        for device in self.devices():
            if device.connected:
                try:
                    self.loop.read_counters(device.device_id, timeout_s=_FINAL_STATUS_S)
                except TelemetryHubError as exc:
                    _log.info("no final STATUS from %s: %s", device.device_id, exc)

    # -- the link loop's Intake (called on link-io; never blocks) ------------------------------

    def offer(self, batch: SampleBatch) -> bool:
        return self.pipeline.offer(batch)

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
            self.pool.submit(lambda: self._set_up_board(device_id))

    def _set_up_board(self, device_id: str) -> None:
        """core-worker: a board connected or booted: the configured period, then autostart."""
        with self._setup_lock:  # a connect and a boot STATE may both ask; the second finds it done
            try:
                device = self.device(device_id)
                wanted = self.settings.period_ms
                if device is None or device.info is None:
                    return
                if wanted is not None and device.info.period_ms != wanted:
                    self._command("set", "period_ms", str(wanted), device_id=device_id)
                if (
                    self.settings.autostart
                    and device.state == DeviceState.IDLE
                    and not self._user_stopped.is_set()
                ):
                    self._command("start", device_id=device_id)
            except TelemetryHubError as exc:
                _log.warning("setting up %s failed: %s", device_id, exc)

    def _on_batch(self, batch: SampleBatch) -> None:
        """core-consumer: the latest sample and the in-memory history."""
        with self._lock:
            self._latest = batch.samples[-1]
            self._recent.extend(batch.samples)
            self._last_sample_at = batch.received_at

    # -- views ------------------------------------------------------------------------------

    def devices(self) -> list[DeviceSnapshot]:
        """Every board seen since start."""
        return self.loop.snapshots()

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
        device = self.device()
        return DeviceState.IDLE if device is None else device.state

    def latest_sample(self) -> Sample | None:
        with self._lock:
            return self._latest

    def recent_samples(self, seconds: float) -> list[Sample]:
        """Samples received in the last `seconds` (wall clock), oldest first."""
        cutoff = time.time() - seconds
        with self._lock:
            return [s for s in self._recent if s.ts >= cutoff]

    def data_age_s(self) -> float | None:
        """Seconds since the last sample arrived, or None if none did."""
        with self._lock:
            if self._last_sample_at is None:
                return None
            return time.monotonic() - self._last_sample_at

    def get_metrics(self) -> dict[str, int]:
        """Every count of the pipeline (see telemetryhub.core.status)."""
        from telemetryhub.core.status import pipeline_metrics

        return pipeline_metrics(self, self.devices())

    def status(self) -> dict[str, object]:
        """The JSON-ready `/status` document (see telemetryhub.core.status)."""
        return status_document(self)
