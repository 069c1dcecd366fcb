"""How the core reads to people and programs: the `/status` document and the shutdown summary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from telemetryhub.models import Sample

if TYPE_CHECKING:
    from telemetryhub.core.gateway import GatewayCore, ShutdownSummary


def status_document(core: GatewayCore) -> dict[str, object]:
    """Time, state, latest sample, metrics, link, device, uplinks and aggregates, JSON-ready."""
    latest = core.latest_sample()
    info = core.link.info
    return {
        "ts": time.time(),  # snapshot time: a client computes ages without its own clock
        "state": core.device_state().label,
        "latest_sample": None if latest is None else sample_json(latest),
        "metrics": core.get_metrics(),
        "link": dataclasses.asdict(core.link.stats()),
        "device": None
        if info is None
        else {
            "id": info.device_id,
            "firmware": info.firmware_version,
            "boot_id": info.boot_id,
            "protocol": f"{info.proto_major}.{info.proto_minor}",
            "period_ms": info.period_ms,
            "ring_capacity": info.ring_capacity,
            "unit": info.unit,
        },
        "uplinks": {uplink.name: uplink.status() for uplink in core.uplinks},
        "aggregates": [dataclasses.asdict(a) for a in core.aggregates.snapshot()],
    }


def sample_json(sample: Sample) -> dict[str, object]:
    """A sample as the API shows it: every field of its key, times and value."""
    return dataclasses.asdict(sample)


def summary_lines(summary: ShutdownSummary) -> Iterable[str]:
    """A person-readable shutdown summary."""
    yield f"received   {summary.received}"
    yield f"stored     {summary.stored} (+{summary.duplicates} duplicates ignored)"
    yield f"rejected   {summary.rejected}"
    yield f"dropped    {summary.dropped}"
