"""How the core reads to people and programs: the `/status` document, the metrics and the
shutdown summary.

The counters form an identity (docs/architecture.md, "Counting"): every sample received from a
board is exactly one of stored, duplicate, rejected (by reason), dropped (by reason) or still
in flight; samples a board took that never arrived are `lost` (by reason), apart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telemetryhub.core.device_status import (
    board_json,
    device_json,
    device_summary,
    link_json,
    sample_json,
)
from telemetryhub.device.base import DeviceSnapshot
from telemetryhub.device.ledger import LossReason
from telemetryhub.models import DeviceState

if TYPE_CHECKING:
    from telemetryhub.core.gateway import GatewayCore

DROP_REASONS = ("shutdown", "processing_error", "detached")


@dataclass(frozen=True, slots=True)
class ShutdownSummary:
    """What the gateway did from open to close; every received sample is in one bucket."""

    received: int
    stored: int
    duplicates: int
    rejected: int
    dropped: dict[str, int]
    lost: dict[str, int]
    dropped_gone: int  # of the dropped: no longer held by the board (the rest are resent)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())


def pipeline_metrics(core: GatewayCore, devices: list[DeviceSnapshot]) -> dict[str, int]:
    """Every count of the pipeline and the fleet's links, named as /status and /metrics show."""
    counts = core.pipeline.counters.snapshot()
    rejected = {k: v for k, v in core.validator.counters().items() if k != "accepted"}
    dropped = {reason: counts.get(f"dropped_{reason}", 0) for reason in DROP_REASONS}
    dropped["detached"] = core.loop.detached_backlog  # ports let go of with batches unoffered
    lost = {
        reason.value: sum(d.lost.get(reason.value, 0) for d in devices) for reason in LossReason
    }
    received = sum(d.samples_received for d in devices)
    stored, duplicates = counts.get("stored", 0), counts.get("duplicates", 0)
    settled = stored + duplicates + sum(rejected.values()) + sum(dropped.values())
    pool, queue = core.pool.metrics(), core.pipeline.queue.stats()
    metrics = {
        "samples_received": received,
        "samples_stored": stored,
        "samples_duplicate": duplicates,
        "samples_rejected": sum(rejected.values()),
        "samples_dropped": sum(dropped.values()),
        "samples_in_flight": received - settled,
        "samples_processed": settled,
        "samples_lost": sum(lost.values()),
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
        "thread_deaths": core.threads.deaths,
        "link_loop_errors": core.loop.internal_errors,
        "devices_attach_deferred": core.loop.attach_deferred,
        "links_superseded": core.loop.superseded,
    }
    last_stored = core.pipeline.last_stored_ts
    if last_stored is not None:
        metrics["last_stored_ts"] = last_stored  # type: ignore[assignment]
    metrics.update({f"rejected_{reason}": n for reason, n in rejected.items()})
    metrics.update({f"dropped_{reason}": n for reason, n in dropped.items()})
    metrics.update({f"lost_{reason}": n for reason, n in lost.items()})
    return metrics


def status_document(core: GatewayCore) -> dict[str, object]:
    """The fleet at a glance, in the seed's shape (state, latest sample, metrics; `link`,
    `device` and `board` of the first connected board) plus one summary per board."""
    devices = core.devices()
    first = core.device()
    latest = core.latest_sample()
    return {
        "ts": time.time(),  # snapshot time: a client computes ages without its own clock
        "state": fleet_state(devices).label,
        "latest_sample": None if latest is None else sample_json(latest),
        "metrics": pipeline_metrics(core, devices),
        "link": link_json(core, first),
        "device": None if first is None else device_json(first),
        "board": None if first is None else board_json(first),
        "devices": [device_summary(core, d) for d in devices],
        "uplinks": {uplink.name: uplink.status() for uplink in core.uplinks},
        "aggregates": [dataclasses.asdict(a) for a in core.aggregates.snapshot()],
        "threads": core.threads.report(),
    }


def fleet_state(devices: list[DeviceSnapshot]) -> DeviceState:
    """The fleet's state: SafeState if any board is in it, else Measuring if any board
    measures, else Idle."""
    states = {d.state for d in devices if d.connected}
    for state in (DeviceState.SAFE_STATE, DeviceState.MEASURING):
        if state in states:
            return state
    return DeviceState.IDLE


def summarise(core: GatewayCore) -> ShutdownSummary:
    devices = core.devices()
    metrics = pipeline_metrics(core, devices)
    return ShutdownSummary(
        received=metrics["samples_received"],
        stored=metrics["samples_stored"],
        duplicates=metrics["samples_duplicate"],
        rejected=metrics["samples_rejected"],
        dropped={r: metrics[f"dropped_{r}"] for r in DROP_REASONS if metrics[f"dropped_{r}"]},
        lost={
            r.value: metrics[f"lost_{r.value}"] for r in LossReason if metrics[f"lost_{r.value}"]
        },
        dropped_gone=sum(d.unsettled_gone for d in devices),
    )


def summary_lines(summary: ShutdownSummary) -> Iterable[str]:
    """A person-readable shutdown summary."""
    yield f"received   {summary.received}"
    yield f"stored     {summary.stored} (+{summary.duplicates} duplicates ignored)"
    yield f"rejected   {summary.rejected}"
    dropped = summary.dropped_total
    line = f"dropped    {dropped}"
    if dropped:
        held = max(0, dropped - summary.dropped_gone)
        line += (
            f" ({_reasons(summary.dropped)}; not acked: {held} still on the board, resent at "
            f"the next start; {summary.dropped_gone} gone)"
        )
    yield line
    lost = summary.lost_total
    yield f"lost       {lost}" + (f" before reception ({_reasons(summary.lost)})" if lost else "")


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items())
