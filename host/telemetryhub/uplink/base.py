"""The uplink interface and the Forwarder: the store-and-forward loop every uplink shares.

A Forwarder owns one delivery cursor in the store (named after the uplink) and one thread,
"uplink-<name>", which reads rows after the cursor in batches, paces them through a token
bucket, hands them to its Sink, and advances the cursor only when the sink says the far end
has them. A slow or dead uplink therefore only grows its own backlog: the store, the board
and the other uplinks never wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from telemetryhub import tracing
from telemetryhub.errors import TelemetryHubError, UplinkError
from telemetryhub.models import Sample
from telemetryhub.uplink.pacing import Backoff, TokenBucket
from telemetryhub.uplink.settings import ForwarderSettings

_log = logging.getLogger(__name__)

CONNECTED = "connected"
DISCONNECTED = "disconnected"
BACKING_OFF = "backing off"
CIRCUIT_OPEN = "circuit open"
STOPPED = "stopped"


class CursorStore(Protocol):
    """What a forwarder needs of the store (SqliteStore provides it)."""

    def read_after(self, rowid: int, limit: int = 1000) -> list[tuple[int, Sample]]: ...

    def last_rowid(self) -> int: ...

    def get_cursor(self, name: str) -> int: ...

    def set_cursor(self, name: str, rowid: int) -> None: ...


class Sink(Protocol):
    """One far end. `deliver` returns only when the far end has acknowledged every sample."""

    kind: str

    def open(self) -> None:
        """Start connecting (must not block on the network)."""

    def deliver(self, samples: Sequence[Sample]) -> None:
        """Deliver `samples` (insertion order); raise UplinkError if any may be missing."""

    def state(self) -> str:
        """connected, disconnected or circuit open."""

    def hold_off_s(self) -> float:
        """Seconds the far end asked us to wait before the next attempt (0 if none)."""

    def close(self) -> None:
        """Say goodbye and release the connection; idempotent."""

    def status(self) -> dict[str, object]:
        """Sink-specific figures for /status."""

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        """The device changed state (Idle, Measuring, SafeState); sinks that publish it do."""


def sample_record(sample: Sample) -> dict[str, object]:
    """A sample in an uplink payload; (device, boot_id, seq) is its idempotency key."""
    return {
        "boot_id": sample.boot_id,
        "seq": sample.seq,
        "ts": sample.ts,
        "board_ms": sample.board_ms,
        "value": sample.value,
        "unit": sample.unit,
        "channel": sample.channel,
    }


class Forwarder:
    """A named uplink: cursor + thread + sink. Satisfies the core's `Uplink` protocol.

    `start`/`stop`/`status` may be called from any thread; everything else runs on the
    forwarder's own thread.
    """

    def __init__(
        self,
        name: str,
        store: CursorStore,
        sink: Sink,
        settings: ForwarderSettings | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.sink = sink
        self.settings = settings or ForwarderSettings()
        s = self.settings
        self._bucket = TokenBucket(s.rate_limit_sps, max(s.burst_samples, 1))
        self._backoff = Backoff(s.backoff_base_s, s.backoff_max_s)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"uplink-{name}")
        self._started = False
        self._stopped = False
        self._backing_off = False
        self._cursor = 0
        self._delivered = 0
        self._batches = 0
        self._failures = 0
        self._restarts = 0
        self._last_error: str | None = None
        self._last_delivery_ts: float | None = None
        self._final_undelivered: int | None = None

    @property
    def cursor(self) -> int:
        with self._lock:
            return self._cursor

    def start(self) -> None:
        """Load the cursor, start the sink connecting and the thread; idempotent."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._cursor = self.store.get_cursor(self.name)
        self.sink.open()
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one bounded attempt to deliver the rest; idempotent.

        What is still undelivered stays in the store behind the cursor for the next run.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        self._stop.set()
        if started:
            self._thread.join()
        self.sink.close()

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        """Passed to the sink (MQTT publishes it retained); never blocks on the network."""
        self.sink.note_device_state(device_id, state, reason)

    def status(self) -> dict[str, object]:
        """cursor, backlog, delivered, batches, failures, state, last_error and the sink's."""
        with self._lock:
            cursor = self._cursor
            doc: dict[str, object] = {
                "kind": self.sink.kind,
                "cursor": cursor,
                "delivered": self._delivered,
                "batches": self._batches,
                "failures": self._failures,
                "restarts": self._restarts,
                "state": self._state_locked(),
                "last_error": self._last_error,
                "last_delivery_ts": self._last_delivery_ts,
                "rate_limit_sps": self.settings.rate_limit_sps,
            }
        try:
            doc["backlog"] = max(0, self.store.last_rowid() - cursor)
        except TelemetryHubError as exc:
            doc["backlog"] = None
            doc["last_error"] = str(exc)
        doc.update(self.sink.status())
        return doc

    def _state_locked(self) -> str:
        if self._stopped:
            return STOPPED
        sink_state = self.sink.state()
        if self._backing_off and sink_state != CIRCUIT_OPEN:
            return BACKING_OFF
        return sink_state

    # -- uplink-<name> thread ---------------------------------------------------------------

    def _run(self) -> None:
        """uplink-<name>: deliver until stopped. Whatever goes wrong (a store error, a bug) is
        logged with its traceback, counted in `restarts`, and the loop starts over after a
        backoff: an uplink never dies quietly; its cursor is in the store."""
        while True:
            try:
                while not self._stop.is_set():
                    if not self._step():
                        self._stop.wait(self.settings.poll_interval_s)
                self._drain_before_exit()
                return
            except Exception as exc:
                _log.exception("uplink %s failed; restarting it (its cursor is kept)", self.name)
                with self._lock:
                    self._restarts += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                if self._stop.wait(self._backoff.next_delay_s()):
                    return

    def _step(self) -> bool:
        """One batch: True if there was one to send (delivered or not)."""
        cursor = self.cursor
        rows = self.store.read_after(cursor, self.settings.batch_size)
        if not rows:
            return False
        wait_s = self._bucket.reserve(len(rows))
        if wait_s > 0 and self._stop.wait(wait_s):
            return True  # stopping: the final drain takes over
        if self._send(rows):
            self._backoff.reset()
        else:
            self._wait_after_failure()
        return True

    def _send(self, rows: Sequence[tuple[int, Sample]]) -> bool:
        try:
            samples = [sample for _, sample in rows]
            with tracing.delivery_span(self.name, samples):
                self.sink.deliver(samples)
        except UplinkError as exc:
            with self._lock:
                self._failures += 1
                self._last_error = str(exc)
            _log.warning("uplink %s: %s", self.name, exc)
            return False
        last = rows[-1][0]
        self.store.set_cursor(self.name, last)
        with self._lock:
            self._cursor = last
            self._delivered += len(rows)
            self._batches += 1
            self._last_delivery_ts = time.time()
            self._backing_off = False
        return True

    def _wait_after_failure(self) -> None:
        delay_s = max(self._backoff.next_delay_s(), self.sink.hold_off_s())
        with self._lock:
            self._backing_off = True
        self._stop.wait(delay_s)

    def _drain_before_exit(self) -> None:
        """The last bounded attempt: no rate limit, stop at the first failure or deadline."""
        deadline = time.monotonic() + self.settings.stop_timeout_s
        while time.monotonic() < deadline:
            rows = self.store.read_after(self.cursor, self.settings.batch_size)
            if not rows or not self._send(rows):
                return
