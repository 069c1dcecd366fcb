"""The slice of the gateway core the REST API reads and drives (`GatewayView`).

`telemetryhub.core.gateway.GatewayCore` satisfies it; tests may use a small fake. The API reads
these keys of `status()` (missing ones are reported as absent, never guessed):

- ``ts``: the gateway's wall clock when the snapshot was taken (UTC seconds), if given
- ``state``: "Idle" | "Measuring" | "SafeState"
- ``latest_sample``: ``{"seq", "value", "unit", "ts", ...}`` or None
- ``metrics``: numbers such as ``samples_received``, ``samples_stored``, ``samples_processed``,
  ``samples_dropped``, ``samples_lost``, ``queue_depth``, ``queue_capacity``,
  ``queue_high_water``, ``pool_jobs_processed``, ``pool_jobs_queued``, ``pool_num_threads``;
  reasons as ``rejected_*``, ``dropped_*`` and ``lost_*``
- ``link``: ``{"connected": bool, "crc_errors", "framing_errors", "reconnects", ...,
  "last_error": str | None}``; every number of ``metrics`` and ``link`` is exported by /metrics
  (``core_metrics.field_metric`` names it)
- ``device``: ``{"id", "firmware", "boot_id", "protocol", "period_ms", ..., "fault": {"mode":
  "none" | "random" | "intermittent" | "deterministic", "probability": float | None, "count":
  int | None}}`` or None; ``boot_id`` stays a number (shown as 8 hex digits by the dashboard)
- ``devices``: one summary per board known (``telemetryhub.core.device_status.device_summary``:
  ``device_id``, ``state``, ``connected``, ``port``, ``last_error``, ``last_seen``,
  ``latest_sample``, ``period_ms``, ``unit``, ``firmware``, ``protocol``, ``boot_id_hex``,
  ``fault``, ``samples_received``, ``samples_stored``, ``samples_lost``, ``lost`` (by reason),
  ``reconnects``), in the order the boards were first seen; ``GET /devices`` serves them and
  ``/metrics`` exports them per device

`link`, `device` and `board` are those of the first connected board (the single-board shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from telemetryhub.models import OFFLINE, DeviceState, Fault, Sample
from telemetryhub.store.base import SampleReader


class HistogramSnapshotView(Protocol):
    """Per-bucket counts (not cumulative; one more than bounds, the last is +Inf)."""

    @property
    def bounds_s(self) -> tuple[float, ...]: ...

    @property
    def counts(self) -> tuple[int, ...]: ...

    @property
    def sum_s(self) -> float: ...

    @property
    def count(self) -> int: ...


class HistogramView(Protocol):
    """The core's sample-to-stored latency histogram."""

    def snapshot(self) -> HistogramSnapshotView:
        """A consistent copy of the buckets."""
        ...


class GatewayView(Protocol):
    """What the API needs from the gateway core; every method is called from HTTP threads."""

    @property
    def store(self) -> SampleReader:
        """The sample store, for history queries."""
        ...

    @property
    def latency(self) -> HistogramView:
        """Sample arrival -> stored latency."""
        ...

    # Commands: `device_id` names one board (UnknownDeviceError if never seen); None means
    # every connected board. They return each board's outcome, "ok" or why not.

    def start(self, device_id: str | None = None) -> Mapping[str, str]:
        """Ask the board(s) to start measuring."""
        ...

    def stop(self, device_id: str | None = None) -> Mapping[str, str]:
        """Ask the board(s) to stop measuring."""
        ...

    def reset_device(self, device_id: str | None = None) -> Mapping[str, str]:
        """Ask the board(s) to leave SafeState (the armed fault stays armed) and go Idle."""
        ...

    def inject_fault(self, fault: Fault, device_id: str | None = None) -> Mapping[str, str]:
        """Set the board(s)' fault-injection mode."""
        ...

    def set_period(self, period_ms: int, device_id: str | None = None) -> Mapping[str, str]:
        """Set the board(s)' sampling period."""
        ...

    def device_status(self, device_id: str) -> Mapping[str, object]:
        """One board's full document; UnknownDeviceError if it was never seen."""
        ...

    def health(self) -> list[str]:
        """Why the gateway cannot work (a pipeline thread died); empty when it can."""
        ...

    def device_state(self) -> DeviceState:
        """The board's state as last reported."""
        ...

    def status(self) -> Mapping[str, object]:
        """A JSON-ready snapshot (see the module docstring for the keys)."""
        ...

    def recent_samples(self, seconds: float, device_id: str | None = None) -> list[Sample]:
        """Samples of the last `seconds` (of one board, or all), oldest first, from memory."""
        ...


def device_summaries(status: Mapping[str, object]) -> list[Mapping[str, object]]:
    """The `devices` summaries of a `status()` document (empty when it has none)."""
    devices = status.get("devices")
    if not isinstance(devices, list):
        return []
    return [d for d in devices if isinstance(d, Mapping)]


def board_status(summary: Mapping[str, object]) -> str:
    """A board's state, or `offline` when it is not connected now (what the dashboard shows
    and `GET /devices?state=` filters on)."""
    return str(summary.get("state")) if summary.get("connected") is True else OFFLINE
