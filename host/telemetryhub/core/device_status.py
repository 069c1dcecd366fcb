"""How one board reads to people and programs: its summary in the fleet list, and its full
document (`GET /devices/<id>`: what `/status` was for a single board)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from telemetryhub.device.base import DeviceSnapshot, LinkStats
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample
from telemetryhub.store.base import KnownDevice

if TYPE_CHECKING:
    from telemetryhub.core.gateway import GatewayCore


def device_summary(core: GatewayCore, device: DeviceSnapshot) -> dict[str, object]:
    """One line of the fleet: state, link, latest sample, when it was last heard, trouble."""
    info = device.info
    latest = core.latest_sample(device.device_id)
    age = core.data_age_s(device.device_id)
    last_seen = device.last_seen if age is None else time.time() - age
    return {
        "device_id": device.device_id,
        "state": device.state.label,
        "connected": device.connected,
        "port": device.link.port,
        "last_error": device.link.last_error,
        "last_seen": last_seen,
        "latest_sample": None if latest is None else sample_json(latest),
        "period_ms": None if info is None else info.period_ms,
        "unit": None if info is None else info.unit,
        "firmware": None if info is None else info.firmware_version,
        "protocol": None if info is None else f"{info.proto_major}.{info.proto_minor}",
        "boot_id_hex": None if info is None else f"{info.boot_id:08x}",
        "fault": fault_json(device),
        "samples_received": device.samples_received,
        "samples_stored": core.views.counts(device.device_id).get("stored", 0),
        "samples_lost": sum(device.lost.values()),
        "lost": dict(device.lost),
        "reconnects": device.link.reconnects,
    }


def device_document(core: GatewayCore, device: DeviceSnapshot) -> dict[str, object]:
    """Everything about one board: its state, latest sample, its counts, link, identity,
    its board-side STATUS counters and its rolling aggregates."""
    latest = core.latest_sample(device.device_id)
    return {
        "ts": time.time(),
        "state": device.state.label,
        "latest_sample": None if latest is None else sample_json(latest),
        "metrics": device_metrics(core, device),
        "link": dataclasses.asdict(device.link),
        "device": device_json(device),
        "board": board_json(device),
        "aggregates": [
            dataclasses.asdict(a)
            for a in core.aggregates.snapshot()
            if a.device_id == device.device_id
        ],
    }


def device_metrics(core: GatewayCore, device: DeviceSnapshot) -> dict[str, int]:
    """One board's share of the counts; the same identity holds per board."""
    counts = core.views.counts(device.device_id)
    dropped = {k: v for k, v in counts.items() if k.startswith("dropped_")}
    settled = (
        counts.get("stored", 0)
        + counts.get("duplicates", 0)
        + counts.get("rejected", 0)
        + sum(dropped.values())
    )
    metrics = {
        "samples_received": device.samples_received,
        "samples_stored": counts.get("stored", 0),
        "samples_duplicate": counts.get("duplicates", 0),
        "samples_rejected": counts.get("rejected", 0),
        "samples_dropped": sum(dropped.values()),
        "samples_in_flight": device.samples_received - settled,
        "samples_lost": sum(device.lost.values()),
    }
    metrics.update(dropped)
    metrics.update({f"lost_{reason}": n for reason, n in device.lost.items()})
    return metrics


def offline_snapshot(known: KnownDevice) -> DeviceSnapshot:
    """A board the store remembers and this gateway run has not heard from."""
    link = LinkStats(
        connected=False,
        port=known.port or "",
        last_error=None,
        reconnects=0,
        reboots=0,
        frames_received=0,
        bytes_received=0,
        crc_errors=0,
        framing_errors=0,
        console_lines=0,
        frame_gaps=0,
        seq_gaps=0,
        rewinds=0,
        frames_before_handshake=0,
        duplicates_received=0,
    )
    return DeviceSnapshot(
        device_id=known.device_id,
        info=None,
        state=DeviceState.IDLE,
        fault=Fault(FaultMode.NONE),
        link=link,
        samples_received=0,
        last_seen=known.last_seen,
    )


def link_json(core: GatewayCore, device: DeviceSnapshot | None) -> dict[str, object]:
    """The board's link; with no board yet, the first port and why nothing answers there."""
    if device is not None:
        return dataclasses.asdict(device.link)
    ports = core.ports()
    port = ports[0] if ports else None
    return {
        "connected": False,
        "port": "" if port is None else port.label,
        "last_error": None if port is None else port.last_error,
    }


def fault_json(device: DeviceSnapshot) -> dict[str, object]:
    fault = device.fault
    counted = fault.mode in (FaultMode.INTERMITTENT, FaultMode.DETERMINISTIC)
    return {
        "mode": fault.mode.name.lower(),
        "probability": fault.probability if fault.mode == FaultMode.RANDOM else None,
        "count": fault.count if counted else None,
    }


def device_json(device: DeviceSnapshot) -> dict[str, object]:
    """What the board said about itself (HELLO), its armed fault and its losses."""
    info = device.info
    document: dict[str, object] = {
        "id": device.device_id,
        "fault": fault_json(device),
        "lost": device.lost,
    }
    if info is not None:
        document.update(
            firmware=info.firmware_version,
            boot_id=info.boot_id,
            boot_id_hex=f"{info.boot_id:08x}",
            protocol=f"{info.proto_major}.{info.proto_minor}",
            period_ms=info.period_ms,
            ring_capacity=info.ring_capacity,
            unit=info.unit,
            reset_cause=info.reset_cause,
        )
    return document


def board_json(device: DeviceSnapshot) -> dict[str, object] | None:
    """The board's own STATUS counters, and how old they are."""
    board = device.board
    if board is None:
        return None
    counters = dataclasses.asdict(board)
    counters["state"] = board.state.label
    counters["age_s"] = device.board_age_s
    del counters["period_ms"]  # the device section has it
    return counters


def sample_json(sample: Sample) -> dict[str, object]:
    """A sample as the API shows it: every field of its key, times and value."""
    return dataclasses.asdict(sample)
