"""GatewayCore: producer thread -> TelemetryQueue -> consumer thread -> ThreadPool -> store -> ack.

Threads (all named, non-daemon, joined by `close`):
  core-producer   polls the DeviceLink and pushes one queue item per read chunk (backpressure:
                  a full queue stops the reading, so the board keeps the samples in its ring)
  core-consumer   pops items, updates the latest sample and counters, hands each batch to the
                  pool on the device's serial lane
  core-worker-N   validate -> aggregate -> store (one transaction) -> ack the board

A sample is acked to the board only after its batch is committed, so an exit at any moment
loses nothing the board cannot resend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from telemetryhub.core.metrics import Counters, LatencyHistogram
from telemetryhub.core.pool import ThreadPool
from telemetryhub.core.processing import RollingAggregates, SampleValidator
from telemetryhub.core.queue import TelemetryQueue
from telemetryhub.core.status import status_document
from telemetryhub.device.base import DeviceLink, LinkChange, SampleBatch, StateChange
from telemetryhub.errors import QueueClosedError, TelemetryHubError
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample
from telemetryhub.store.base import SampleStore

_log = logging.getLogger(__name__)

# Polls after intake stops, to take samples already on the wire (the board keeps the rest).
_DRAIN_POLLS = 20
_STORE_RETRY_MIN_S = 0.05
_STORE_RETRY_MAX_S = 2.0

_FAULT_ARGS: dict[FaultMode, Callable[[Fault], tuple[str, ...]]] = {
    FaultMode.NONE: lambda f: ("none",),
    FaultMode.RANDOM: lambda f: ("random", repr(f.probability)),
    FaultMode.INTERMITTENT: lambda f: ("intermittent", str(f.count)),
    FaultMode.DETERMINISTIC: lambda f: ("deterministic", str(f.count)),
}


class Uplink(Protocol):
    """An uplink the core starts and stops with itself (it reads the store on its own)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, object]: ...

    def note_device_state(self, device_id: str, state: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """Tuning of the pipeline; the defaults are the design's."""

    queue_capacity: int = 1000
    pool_workers: int = 4
    poll_timeout_s: float = 0.05
    consumer_batch_items: int = 64
    max_batches_in_pool: int = 64
    max_samples_per_job: int = 1024
    recent_samples: int = 6000
    autostart: bool = True
    period_ms: int | None = None  # asked of every board on connect; None keeps the board's own
    min_value: float = -1e6
    max_value: float = 1e6
    command_timeout_s: float = 2.0


@dataclass(frozen=True, slots=True)
class ShutdownSummary:
    """What the gateway did from open to close; every received sample is in one bucket."""

    received: int
    stored: int
    duplicates: int
    rejected: int
    dropped: int
    pool_jobs_finished_at_shutdown: int


@dataclass(frozen=True, slots=True)
class _Item:
    batch: SampleBatch
    received_at: float


class GatewayCore:
    """The gateway engine; a facade for the API and CLI. Every public method is thread-safe."""

    def __init__(
        self,
        link: DeviceLink,
        store: SampleStore,
        settings: CoreSettings | None = None,
        uplinks: Sequence[Uplink] = (),
    ) -> None:
        self.settings = settings or CoreSettings()
        self.link = link
        self.store = store
        self.uplinks = tuple(uplinks)
        self.queue: TelemetryQueue[_Item] = TelemetryQueue(self.settings.queue_capacity)
        self.pool = ThreadPool(self.settings.pool_workers, name="core")
        self.validator = SampleValidator(self.settings.min_value, self.settings.max_value)
        self.aggregates = RollingAggregates()
        self.counters = Counters()
        self.latency = LatencyHistogram()
        # Bounds the work handed to the pool, so a slow store backs up into the queue.
        self._pool_slots = threading.BoundedSemaphore(self.settings.max_batches_in_pool)
        self._lock = threading.Lock()
        # flush() waits on these: producer polls finished, samples pushed, samples settled
        # (stored, duplicate, rejected or given up), each only ever growing
        self._progress = threading.Condition()
        self._polls_done = 0
        self._samples_pushed = 0
        self._samples_settled = 0
        self._latest: Sample | None = None
        self._recent: deque[Sample] = deque(maxlen=self.settings.recent_samples)
        self._last_sample_at: float | None = None
        self._intake_stopped = threading.Event()
        self._user_stopped = threading.Event()  # autostart must not undo a person's stop
        self._setup_lock = threading.Lock()
        self._opened = False
        self._closed = False
        self._summary: ShutdownSummary | None = None
        self._producer = threading.Thread(target=self._produce, name="core-producer")
        self._consumer = threading.Thread(target=self._consume, name="core-consumer")

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Connect to the board and start the threads; idempotent."""
        with self._lock:
            if self._opened:
                return
            self._opened = True
        self.link.open()
        self.pool.start()
        self._consumer.start()
        self._producer.start()
        for uplink in self.uplinks:
            uplink.start()

    def close(self) -> ShutdownSummary:
        """Graceful shutdown in the design's order; idempotent, returns the summary.

        Stop intake -> stop the device -> drain the queue -> join threads -> the pool finishes
        (every batch stored and acked) -> uplinks stop -> the link closes.
        """
        with self._lock:
            if self._summary is not None:
                return self._summary
            opened, self._closed = self._opened, True
        finished = 0
        if opened:
            self._stop_device_for_shutdown()
            self._intake_stopped.set()
            self._producer.join()
            self.queue.close()
            self._consumer.join()
            finished = self.pool.shutdown(wait=True).finished
            for uplink in self.uplinks:
                uplink.stop()
        self.link.close()
        summary = self._summarise(finished)
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

    # -- device commands --------------------------------------------------------------------

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
        """Any state -> Idle (SafeState recovery)."""
        self._command("reset")

    def inject_fault(self, fault: Fault) -> None:
        """Switch the board's fault injection mode."""
        self._command("fault", *_FAULT_ARGS[fault.mode](fault))

    def set_period(self, period_ms: int) -> None:
        """Change the board's sample period."""
        self._command("set", "period_ms", str(period_ms))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every sample read so far is stored and acked; False on timeout.

        "Read so far" includes the poll in flight now: a command's answer and the samples
        decoded with it come out of the same poll, so the producer must finish that one first.
        """
        deadline = time.monotonic() + timeout_s
        with self._progress:
            polls = self._polls_done
            if not self._progress.wait_for(
                lambda: self._polls_done >= polls + 2 or not self._producer.is_alive(), timeout_s
            ):
                return False
            pushed = self._samples_pushed
            return self._progress.wait_for(
                lambda: self._samples_settled >= pushed, max(0.0, deadline - time.monotonic())
            )

    def _command(self, verb: str, *args: str) -> None:
        self.link.command(verb, *args, timeout_s=self.settings.command_timeout_s)

    def _stop_device_for_shutdown(self) -> None:
        if self.link.state != DeviceState.MEASURING:
            return
        try:
            self._command("stop")
        except TelemetryHubError as exc:
            _log.warning("could not stop the device on shutdown: %s", exc)

    # -- views ------------------------------------------------------------------------------

    def device_state(self) -> DeviceState:
        return self.link.state

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
        """The seed's metrics plus every count the pipeline keeps."""
        counts = self.counters.snapshot()
        pool = self.pool.metrics()
        queue = self.queue.stats()
        rejected = {k: v for k, v in self.validator.counters().items() if k != "accepted"}
        link = self.link.stats()
        metrics = {
            "samples_received": counts.get("received", 0),
            "samples_processed": counts.get("processed", 0),
            "samples_stored": counts.get("stored", 0),
            "samples_duplicate": counts.get("duplicates", 0),
            "samples_rejected": sum(rejected.values()),
            "samples_dropped": self._dropped(counts, rejected, link.samples_missed),
            "samples_missed_on_board": link.samples_missed,
            "samples_dropped_shutdown": counts.get("dropped_shutdown", 0),
            "store_errors": counts.get("store_errors", 0),
            "store_retries": counts.get("store_retries", 0),
            "pool_jobs_processed": pool.processed,
            "pool_jobs_queued": pool.queued,
            "pool_jobs_failed": pool.failed,
            "pool_busy": pool.busy,
            "pool_num_threads": pool.threads,
            "queue_depth": queue.size,
            "queue_capacity": queue.capacity,
            "queue_high_water": queue.high_water,
            "queue_push_timeouts": queue.push_timeouts,
        }
        metrics.update({f"rejected_{reason}": n for reason, n in rejected.items()})
        return metrics

    @staticmethod
    def _dropped(counts: dict[str, int], rejected: dict[str, int], missed: int) -> int:
        return (
            sum(rejected.values())
            + missed
            + counts.get("dropped_shutdown", 0)
            + counts.get("store_errors", 0)
        )

    def status(self) -> dict[str, object]:
        """The JSON-ready `/status` document (see telemetryhub.core.status)."""
        return status_document(self)

    # -- threads ----------------------------------------------------------------------------

    def _produce(self) -> None:
        """core-producer: link -> queue until intake stops, then take what is still in flight."""
        while not self._intake_stopped.is_set():
            for event in self.link.poll(self.settings.poll_timeout_s):
                self._handle_event(event)
            with self._progress:
                self._polls_done += 1
                self._progress.notify_all()
        for _ in range(_DRAIN_POLLS):
            events = self.link.poll(self.settings.poll_timeout_s)
            if not events:
                return
            for event in events:
                self._handle_event(event)

    def _handle_event(self, event: SampleBatch | StateChange | LinkChange) -> None:
        if isinstance(event, SampleBatch):
            self._push(_Item(event, time.monotonic()))
            return
        if isinstance(event, StateChange):
            _log.info("device state %s (%s: %s)", event.state.label, event.cause, event.reason)
            self._tell_uplinks(event)
            # a board that rebooted under a live link is set up like a newly connected one
            board_up = event.cause == "boot"
        else:
            _log.info("link %s: %s", "up" if event.connected else "down", event.detail)
            board_up = event.connected
        if board_up and not self._closed:
            self.pool.submit(self._set_up_board)

    def _tell_uplinks(self, change: StateChange) -> None:
        info = self.link.info
        if info is not None:
            for uplink in self.uplinks:
                uplink.note_device_state(info.device_id, change.state.label, change.reason)

    def _push(self, item: _Item) -> None:
        try:
            self.queue.push(item)
        except QueueClosedError:
            # Only reachable if close() raced past the producer join; counted, never silent.
            self.counters.add("dropped_shutdown", len(item.batch.samples))
            return
        with self._progress:
            self._samples_pushed += len(item.batch.samples)

    def _set_up_board(self) -> None:
        """core-worker: a board connected or booted: the configured period, then autostart."""
        with self._setup_lock:  # a connect and a boot STATE may both ask; the second finds it done
            try:
                self._apply_period()
                if self.settings.autostart:
                    self._autostart()
            except TelemetryHubError as exc:
                _log.warning("setting up the board failed: %s", exc)

    def _apply_period(self) -> None:
        info, wanted = self.link.info, self.settings.period_ms
        if wanted is not None and info is not None and info.period_ms != wanted:
            self.set_period(wanted)

    def _autostart(self) -> None:
        if self.link.state != DeviceState.IDLE or self._user_stopped.is_set():
            return
        self.start()

    def _consume(self) -> None:
        """core-consumer: queue -> latest sample, counters -> pool (per-device serial lane)."""
        while True:
            try:
                items = self.queue.pop_many(self.settings.consumer_batch_items, timeout_s=0.5)
            except QueueClosedError:
                return
            for item in _merge_by_device(items, self.settings.max_samples_per_job):
                self._take(item)

    def _take(self, item: _Item) -> None:
        samples = item.batch.samples
        if not samples:
            return
        self.counters.add("received", len(samples))
        with self._lock:
            self._latest = samples[-1]
            self._recent.extend(samples)
            self._last_sample_at = item.received_at
        self._pool_slots.acquire()
        self.pool.submit(lambda: self._process(item), key=item.batch.device.device_id)

    def _process(self, item: _Item) -> None:
        """core-worker: validate, aggregate, store, then ack the board."""
        try:
            self._store_and_ack(item.batch, item.received_at)
        finally:
            self._pool_slots.release()
            with self._progress:
                self._samples_settled += len(item.batch.samples)
                self._progress.notify_all()

    def _store_and_ack(self, batch: SampleBatch, received_at: float) -> None:
        result = self.validator.validate(batch.samples)
        self.aggregates.add(result.accepted)
        new = self._store(result.accepted) if result.accepted else 0
        if new is None:
            return
        self.counters.add("stored", new)
        self.counters.add("duplicates", len(result.accepted) - new)
        self.counters.add("processed", len(batch.samples))
        self.latency.observe(time.monotonic() - received_at, len(batch.samples))
        last = batch.samples[-1]
        self.link.ack(last.boot_id, last.seq)

    def _store(self, samples: Sequence[Sample]) -> int | None:
        """Write with retries: a failing store holds the device's lane (and so, through the
        queue, the board) until it recovers. Only at shutdown does it give up: the samples are
        counted in `store_errors` and not acked, so the board still holds them."""
        delay_s = _STORE_RETRY_MIN_S
        while True:
            try:
                return self.store.write_batch(samples)
            except TelemetryHubError as exc:
                self.counters.add("store_retries")
                if self._intake_stopped.is_set():
                    _log.error(
                        "store failed at shutdown, %d samples not acked: %s", len(samples), exc
                    )
                    self.counters.add("store_errors", len(samples))
                    return None
                _log.warning(
                    "store failed for %d samples, retrying in %.2fs: %s",
                    len(samples),
                    delay_s,
                    exc,
                )
                self._intake_stopped.wait(delay_s)
                delay_s = min(delay_s * 2, _STORE_RETRY_MAX_S)

    def _summarise(self, finished: int) -> ShutdownSummary:
        metrics = self.get_metrics()
        return ShutdownSummary(
            received=metrics["samples_received"],
            stored=metrics["samples_stored"],
            duplicates=metrics["samples_duplicate"],
            rejected=metrics["samples_rejected"],
            dropped=metrics["samples_dropped"],
            pool_jobs_finished_at_shutdown=finished,
        )


def _merge_by_device(items: list[_Item], max_samples: int) -> list[_Item]:
    """Joins consecutive items of one device into one job: fewer, larger store transactions."""
    merged: list[_Item] = []
    for item in items:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.batch.device == item.batch.device
            and len(last.batch.samples) + len(item.batch.samples) <= max_samples
        ):
            batch = SampleBatch(
                item.batch.device,
                last.batch.samples + item.batch.samples,
                last.batch.resend or item.batch.resend,
            )
            merged[-1] = _Item(batch, last.received_at)
        else:
            merged.append(item)
    return merged
