"""Pipeline: sample batches from the link loop -> TelemetryQueue -> consumer -> pool -> store.

`offer` is called by the link loop and never blocks: a full queue refuses, the loop keeps the
batch in its port and stops reading that board until `wake` says there is room (the board keeps
the samples in its ring meanwhile). The consumer thread (`core-consumer`) hands each batch to the
pool on its device's serial lane; a worker validates, aggregates, stores it in one transaction,
and only then tells the loop the samples are settled, which acks them to the board.

Every sample handed in ends in exactly one bucket: stored, duplicate, rejected (by reason) or
dropped (by reason); `settled` counts them all, so `flush` can wait for a point in the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from telemetryhub import tracing
from telemetryhub.core.metrics import Counters, LatencyHistogram
from telemetryhub.core.pool import ThreadPool
from telemetryhub.core.processing import RollingAggregates, SampleValidator
from telemetryhub.core.queue import TelemetryQueue
from telemetryhub.core.views import DeviceViews
from telemetryhub.device.base import SampleBatch
from telemetryhub.errors import QueueClosedError, TelemetryHubError
from telemetryhub.models import Sample
from telemetryhub.store.base import SampleStore

_log = logging.getLogger(__name__)

OVERLOAD_FRACTION = 0.95  # the design's load-shedding rule: new boards wait above it
_STORE_RETRY_MIN_S = 0.05
_STORE_RETRY_MAX_S = 2.0

Settle = Callable[[str, int, list[int]], None]  # (device_id, boot_id, seqs) -> the link loop


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    queue_capacity: int = 1000
    consumer_batch_items: int = 64
    max_batches_in_pool: int = 64
    max_samples_per_job: int = 1024
    max_jobs_per_device: int = 4  # so one flooding board cannot fill the pool


class Pipeline:
    """Queue, consumer thread and store jobs; see the module docstring. Thread-safe."""

    def __init__(
        self,
        store: SampleStore,
        pool: ThreadPool,
        validator: SampleValidator,
        aggregates: RollingAggregates,
        settings: PipelineSettings,
        views: DeviceViews,
    ) -> None:
        self.store = store
        self.settings = settings
        self.queue: TelemetryQueue[SampleBatch] = TelemetryQueue(
            settings.queue_capacity, key=lambda batch: batch.device.device_id
        )
        self.counters = Counters()
        self.latency = LatencyHistogram()
        self.validator = validator
        self.aggregates = aggregates
        self.views = views
        self._pool = pool
        # jobs handed to the pool and not finished, per device and in all: a device at its limit
        # waits in its lane of the queue, and the others go on (see `_ready`)
        self._in_pool: dict[str, int] = {}
        self._in_pool_total = 0
        self._in_pool_lock = threading.Lock()
        self._settle: Settle = lambda device_id, boot_id, seqs: None
        self._wake: Callable[[], None] = lambda: None
        self._refused = threading.Event()  # the loop holds a batch until there is room
        self._stopping = threading.Event()
        self._progress = threading.Condition()
        self._settled = 0
        self._last_stored_ts: float | None = None
        self.consumer = threading.Thread(target=self._consume, name="core-consumer")

    def connect(self, settle: Settle, wake: Callable[[], None]) -> None:
        """Wire the link loop's `settle` and `wake`."""
        self._settle, self._wake = settle, wake

    # --- the link loop's side --------------------------------------------------------------

    def offer(self, batch: SampleBatch) -> bool:
        """Queue `batch` if there is room now (link loop thread; never blocks)."""
        try:
            if self.queue.try_push(batch):
                return True
        except QueueClosedError:
            return False
        self._refused.set()
        return False

    def overloaded(self) -> bool:
        """The queue is above the load-shedding mark (95 % of its capacity)."""
        return self.queue.size >= OVERLOAD_FRACTION * self.queue.capacity

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.consumer.start()

    def stop_retrying(self) -> None:
        """Shutdown has begun: a failing store gives up instead of retrying (counted)."""
        self._stopping.set()

    def close(self) -> None:
        """Close the queue and let the consumer hand out what is in it; joins the consumer.
        What a consumer that died left in the queue is counted dropped, never silent."""
        self.queue.close()
        self.consumer.join()
        while True:
            try:
                batches = self.queue.pop_many(1024, timeout_s=0)
            except QueueClosedError:
                return
            for batch in batches:
                self.count_dropped("shutdown", len(batch.samples), batch.device.device_id)

    def count_dropped(self, reason: str, samples: int, device_id: str | None = None) -> None:
        if samples:
            self.counters.add(f"dropped_{reason}", samples)
            if device_id is not None:
                self.views.count(device_id, f"dropped_{reason}", samples)
            self._add_settled(samples)

    # --- flush -----------------------------------------------------------------------------

    @property
    def settled(self) -> int:
        with self._progress:
            return self._settled

    def wait_settled(self, target: int, timeout_s: float) -> bool:
        """Wait until `target` samples have ended in a bucket; False on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._settled >= target, timeout_s)

    @property
    def last_stored_ts(self) -> float | None:
        """UTC seconds of the newest sample stored by this gateway run, or None."""
        with self._progress:
            return self._last_stored_ts

    def _note_stored(self, ts: float) -> None:
        with self._progress:
            if self._last_stored_ts is None or ts > self._last_stored_ts:
                self._last_stored_ts = ts

    def _add_settled(self, samples: int) -> None:
        with self._progress:
            self._settled += samples
            self._progress.notify_all()

    # --- core-consumer ---------------------------------------------------------------------

    def _consume(self) -> None:
        """core-consumer: queue -> the pool, on the device's serial lane, devices in turn."""
        while True:
            try:
                batches = self.queue.pop_many(
                    self.settings.consumer_batch_items, timeout_s=0.5, ready=self._ready
                )
            except QueueClosedError:
                return
            if batches and self._refused.is_set():
                self._refused.clear()
                self._wake()  # room again: the loop offers what it held back
            for batch in _merge_by_device(batches, self.settings.max_samples_per_job):
                self._hand_over(batch)

    def _ready(self, device_id: object) -> bool:
        """May the consumer take another batch of `device_id` now? (queue lock held)"""
        with self._in_pool_lock:
            total_ok = self._in_pool_total < self.settings.max_batches_in_pool
            mine = self._in_pool.get(str(device_id), 0)
        return total_ok and mine < self.settings.max_jobs_per_device

    def _in_pool_add(self, device_id: str, delta: int) -> None:
        with self._in_pool_lock:
            self._in_pool[device_id] = self._in_pool.get(device_id, 0) + delta
            self._in_pool_total += delta
            if not self._in_pool[device_id]:
                del self._in_pool[device_id]
        if delta < 0:
            self.queue.wake()  # that device's lane (or any, under the total) may go on

    def _hand_over(self, batch: SampleBatch) -> None:
        device_id = batch.device.device_id
        self.counters.add("queued", len(batch.samples))
        try:
            self.views.note_batch(device_id, batch.samples, batch.received_at)
        except Exception:  # the views missed one batch; its samples are still stored
            _log.exception("updating the latest-sample views failed")
        self._in_pool_add(device_id, 1)
        try:
            self._pool.submit(lambda: self._process(batch), key=device_id)
        except TelemetryHubError:  # the pool was shut down under us: counted, never silent
            self._in_pool_add(device_id, -1)
            self.count_dropped("shutdown", len(batch.samples), device_id)

    # --- core-worker -----------------------------------------------------------------------

    def _process(self, batch: SampleBatch) -> None:
        """core-worker: validate, aggregate, store, then settle (which acks the board)."""
        try:
            with tracing.batch_span(batch):
                self._store_and_settle(batch)
        except Exception:
            _log.exception("processing %d samples failed; not acked", len(batch.samples))
            self.count_dropped("processing_error", len(batch.samples), batch.device.device_id)
        finally:
            self._in_pool_add(batch.device.device_id, -1)

    def _store_and_settle(self, batch: SampleBatch) -> None:
        result = self.validator.validate(batch.samples)
        self.aggregates.add(result.accepted)
        rejected = [sample.seq for sample, _ in result.rejected]
        new = self._store(result.accepted) if result.accepted else 0
        info = batch.device
        views = self.views
        views.count(info.device_id, "rejected", len(rejected))
        if new is None:
            self.count_dropped("shutdown", len(result.accepted), info.device_id)
            self._add_settled(len(rejected))
            self._settle(info.device_id, info.boot_id, rejected)
            return
        self.counters.add("stored", new)
        self.counters.add("duplicates", len(result.accepted) - new)
        views.count(info.device_id, "stored", new)
        views.count(info.device_id, "duplicates", len(result.accepted) - new)
        if new:
            self._note_stored(batch.samples[-1].ts)
        latency_s = time.monotonic() - batch.received_at
        self.latency.observe(latency_s, len(batch.samples))
        views.observe_latency(info.device_id, latency_s, len(batch.samples))
        self._add_settled(len(batch.samples))
        self._settle(info.device_id, info.boot_id, [sample.seq for sample in batch.samples])

    def _store(self, samples: Sequence[Sample]) -> int | None:
        """Write with retries: a failing store holds the device's lane (and through the queue the
        board) until it recovers. Only at shutdown does it give up: None, nothing acked."""
        delay_s = _STORE_RETRY_MIN_S
        while True:
            try:
                return self.store.write_batch(samples)
            except TelemetryHubError as exc:
                self.counters.add("store_retries")
                if self._stopping.is_set():
                    _log.error(
                        "store failed at shutdown, %d samples not acked: %s", len(samples), exc
                    )
                    return None
                _log.warning(
                    "store failed for %d samples, retrying in %.2fs: %s",
                    len(samples),
                    delay_s,
                    exc,
                )
                self._stopping.wait(delay_s)
                delay_s = min(delay_s * 2, _STORE_RETRY_MAX_S)


def _merge_by_device(batches: list[SampleBatch], max_samples: int) -> list[SampleBatch]:
    """Joins consecutive batches of one boot into one job: fewer, larger store transactions."""
    merged: list[SampleBatch] = []
    for batch in batches:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.device == batch.device
            and len(last.samples) + len(batch.samples) <= max_samples
        ):
            merged[-1] = SampleBatch(
                batch.device,
                last.samples + batch.samples,
                last.resend or batch.resend,
                last.received_at,
            )
        else:
            merged.append(batch)
    return merged
