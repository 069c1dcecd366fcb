"""The gateway's `/status` document as Prometheus metric families, read once per scrape.

Every numeric field of the `metrics` and `link` sections is exported, described or not, so a
count added to /status cannot be missing from /metrics: `field_metric` says how each one is
named. Counters named `rejected_<reason>`, `dropped_<reason>` and `lost_<reason>` become the
`reason` label of `samples_rejected`, `samples_dropped` and `samples_lost`; the fields
`samples_rejected`, `samples_dropped` and `samples_lost` are those families' sums and are not
exported again. A field not described here is exported untyped, named after its key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)

from telemetryhub.api.contracts import GatewayView, HistogramView, device_summaries
from telemetryhub.api.device_metrics import PREFIX, STATES, device_families
from telemetryhub.api.device_metrics import number as _number
from telemetryhub.uplink.base import BACKING_OFF, CIRCUIT_OPEN, CONNECTED, DISCONNECTED, STOPPED

COUNTER, GAUGE, UNTYPED = "counter", "gauge", "untyped"
SECTIONS = ("metrics", "link", "board")
UPLINK_STATES = (CONNECTED, DISCONNECTED, BACKING_OFF, CIRCUIT_OPEN, STOPPED)
RETENTION = "retention"  # the store's retention reports among the uplinks


@dataclass(frozen=True, slots=True)
class Field:
    """How one numeric field of a /status section is exported: family name (no prefix), type,
    help, and the value of its `reason` label when the family has one."""

    name: str
    kind: str
    doc: str
    reason: str | None = None


def _c(name: str, doc: str) -> Field:
    return Field(name, COUNTER, doc)


def _g(name: str, doc: str) -> Field:
    return Field(name, GAUGE, doc)


_FAMILY_DOCS = {
    "samples_rejected": "Received samples refused by validation, by reason.",
    "samples_dropped": "Received samples not stored, not duplicates and not rejected, by reason.",
    "samples_lost": "Samples lost before the gateway received them, by reason.",
}
_REASON_PREFIXES = (
    ("rejected_", "samples_rejected"),
    ("dropped_", "samples_dropped"),
    ("lost_", "samples_lost"),
)
_TOTALS = frozenset(_FAMILY_DOCS)


def _reason(family: str, reason: str) -> Field:
    return Field(family, COUNTER, _FAMILY_DOCS[family], reason)


_FIELDS: dict[str, dict[str, Field]] = {
    "metrics": {
        "samples_received": _c("samples_received", "Samples decoded from the link."),
        "samples_processed": _c(
            "samples_processed", "Samples stored, refused as duplicate, rejected or dropped."
        ),
        "samples_stored": _c("samples_stored", "Samples written to the store."),
        "samples_duplicate": _c("samples_duplicate", "Resent samples already stored."),
        "samples_in_flight": _g(
            "samples_in_flight", "Samples received and not yet stored, rejected or dropped."
        ),
        "thread_deaths": _c("thread_deaths", "Gateway threads that ended on an exception."),
        "links_superseded": _c(
            "links_superseded", "Links closed because their board connected again elsewhere."
        ),
        "devices_attach_deferred": _c(
            "devices_attach_deferred", "Boards told to wait: the queue was above 95 % (shedding)."
        ),
        "link_loop_errors": _c(
            "link_loop_errors", "Errors caught in the link loop (the port was reconnected)."
        ),
        "store_retries": _c("store_retries", "Store writes retried after a failure."),
        "pool_jobs_processed": _c("pool_jobs_processed", "Pool jobs finished."),
        "pool_jobs_failed": _c("pool_jobs_failed", "Pool jobs that ended in an exception."),
        "pool_jobs_queued": _g("pool_jobs_queued", "Pool jobs waiting now."),
        "pool_busy": _g("pool_busy", "Pool workers running a job now."),
        "pool_num_threads": _g("pool_threads", "Worker threads in the pool."),
        "queue_depth": _g("queue_depth", "Items in the telemetry queue now."),
        "queue_capacity": _g("queue_capacity", "Capacity of the telemetry queue."),
        "queue_high_water": _g("queue_high_water", "Deepest the queue has been."),
        "queue_push_timeouts": _c("queue_push_timeouts", "Pushes that waited for queue room."),
        "last_stored_ts": _g(
            "last_stored_sample_timestamp_seconds",
            "Wall-clock time (unix seconds) of the newest sample written to the store.",
        ),
    },
    "link": {
        "connected": _g("link_connected", "1 when a board is connected."),
        "reconnects": _c("link_reconnects", "Times the serial link was reopened."),
        "reboots": _c("link_reboots", "Board reboots seen (a new boot id)."),
        "frames_received": _c("link_frames_received", "Valid frames received."),
        "bytes_received": _c("link_bytes_received", "Bytes read from the link."),
        "crc_errors": _c("link_crc_errors", "Frames refused for a bad CRC-32."),
        "framing_errors": _c("link_framing_errors", "Frames refused as malformed."),
        "console_lines": _c("link_console_lines", "Lines of console text between frames."),
        "frame_gaps": _c("link_frame_gaps", "Jumps in the frame counter (frames lost)."),
        "seq_gaps": _c("link_seq_gaps", "Jumps in the sample sequence."),
        "rewinds": _c("link_rewinds", "Resends asked of the board to fill a hole."),
        "frames_before_handshake": _c(
            "link_frames_before_handshake", "Frames ignored before the handshake (resent after)."
        ),
        "duplicates_received": _c("link_duplicates_received", "Samples received twice."),
    },
    "board": {
        "samples_taken": _c("board_samples_taken", "Samples the board took (its STATUS)."),
        "samples_sent": _c("board_samples_sent", "Samples the board sent once."),
        "samples_resent": _c("board_samples_resent", "Samples the board sent again."),
        "dropped_overflow": _c(
            "board_dropped_overflow", "Samples the board's ring dropped before sending them."
        ),
        "evicted_sent": _c(
            "board_evicted_sent", "Samples the board's ring dropped after sending, before an ack."
        ),
        "missed_slots": _c("board_missed_slots", "Sample slots the board could not take on time."),
        "commands_rejected": _c("board_commands_rejected", "Commands the board refused."),
        "read_failures": _c("board_read_failures", "Sensor reads that failed on the board."),
        "ring_used": _g("board_ring_used", "Samples the board holds unacked now."),
        "fault_mode": _g(
            "board_fault_mode", "Armed fault: 0 none, 1 random, 2 intermittent, 3 det."
        ),
        "age_s": _g("board_status_age_seconds", "How old the board's last STATUS is."),
        "oldest_seq": _g("board_oldest_seq", "The oldest seq the board still holds (30 bits)."),
        "fault_param": _g(
            "board_fault_param", "Armed fault's parameter: N, or a probability in millionths."
        ),
    },
}


def field_metric(section: str, key: str) -> Field | None:
    """How /status `section`.`key` is exported; None for a total its family's sum gives."""
    described = _FIELDS.get(section, {}).get(key)
    if described is not None:
        return described
    if section == "metrics":
        if key in _TOTALS:
            return None
        for prefix, family in _REASON_PREFIXES:
            if key.startswith(prefix):
                return _reason(family, key.removeprefix(prefix))
    name = key if section == "metrics" else f"{section}_{key}"
    return Field(name, UNTYPED, f"{section}.{key} of /status (not described yet).")


class CoreCollector:
    """Reads one `status()` snapshot per scrape and turns it into metric families; per-device
    series for the first `max_devices` boards (telemetryhub.api.device_metrics)."""

    def __init__(self, core: GatewayView, max_devices: int) -> None:
        self._core = core
        self._max_devices = max_devices

    def describe(self) -> list[Metric]:
        # Empty: registration must not call into the core.
        return []

    def collect(self) -> Iterator[Metric]:
        status = self._core.status()
        yield from _section_families(status)
        yield from _fleet(status)
        yield from device_families(device_summaries(status), self._max_devices)
        yield from _uplinks(_section(status, "uplinks"))
        yield from _latency(self._core.latency)


def _section_families(status: Mapping[str, object]) -> Iterator[Metric]:
    """Every numeric field of the `metrics` and `link` sections (see `field_metric`)."""
    families: dict[str, _Family] = {}
    for section in SECTIONS:
        for key, raw in _section(status, section).items():
            field = field_metric(section, key)
            if field is None:
                continue
            value = _number(raw) if field.kind == UNTYPED else _flag(raw)
            if value is None:
                continue
            family = families.get(field.name)
            if family is None:
                family = families[field.name] = _family(field)
            family.add_metric([] if field.reason is None else [field.reason], value)
    yield from families.values()


_Family = CounterMetricFamily | GaugeMetricFamily | UnknownMetricFamily


def _family(field: Field) -> _Family:
    name, labels = f"{PREFIX}_{field.name}", None if field.reason is None else ["reason"]
    if field.kind == COUNTER:
        return CounterMetricFamily(name, field.doc, labels=labels)
    if field.kind == GAUGE:
        return GaugeMetricFamily(name, field.doc, labels=labels)
    return UnknownMetricFamily(name, field.doc, labels=labels)


def _fleet(status: Mapping[str, object]) -> Iterator[Metric]:
    """The fleet's state (one gauge per state) and the newest sample's time of any board."""
    state = status.get("state")
    if isinstance(state, str):
        family = GaugeMetricFamily(
            f"{PREFIX}_fleet_state",
            "1 for the fleet's state: SafeState if any connected board is in it, else "
            "Measuring if any measures, else Idle.",
            labels=["state"],
        )
        for name in (*STATES, *([] if state in STATES else [state])):
            family.add_metric([name], float(name == state))
        yield family
    ts = _number(_section(status, "latest_sample").get("ts"))
    if ts is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_latest_sample_timestamp_seconds",
            "Wall-clock time (unix seconds) of the newest sample received from any board.",
            value=ts,
        )


# (status key, metric name, type, help) for every uplink; retention has its own table
_UPLINK_FIELDS = (
    ("delivered", "uplink_delivered", COUNTER, "Samples an uplink delivered (cursor advanced)."),
    ("batches", "uplink_batches", COUNTER, "Batches an uplink delivered."),
    ("failures", "uplink_failures", COUNTER, "Failed delivery attempts."),
    ("backlog", "uplink_backlog", GAUGE, "Stored samples not yet delivered by the uplink."),
    ("breaker_opens", "uplink_breaker_opens", COUNTER, "Times the circuit breaker opened."),
    ("throttled", "uplink_throttled", COUNTER, "Answers asking the uplink to slow down."),
    ("connects", "uplink_connects", COUNTER, "Connections made to the broker."),
    ("disconnects", "uplink_disconnects", COUNTER, "Connections to the broker lost."),
    ("messages_published", "uplink_messages_published", COUNTER, "Messages published."),
    (
        "last_delivery_ts",
        "uplink_last_delivery_timestamp_seconds",
        GAUGE,
        "Wall-clock time (unix seconds) of the uplink's last delivery.",
    ),
)
_EVICTIONS = (
    ("evicted_age", "store_evicted", "age"),
    ("evicted_bytes", "store_evicted", "bytes"),
    ("evicted_undelivered_age", "store_evicted_undelivered", "age"),
    ("evicted_undelivered_bytes", "store_evicted_undelivered", "bytes"),
)


def _uplinks(uplinks: Mapping[str, object]) -> Iterator[Metric]:
    """Per-uplink delivery figures and state, then the store's retention."""
    forwarders = {
        name: doc
        for name, doc in uplinks.items()
        if isinstance(doc, Mapping) and name != RETENTION and doc.get("kind") != RETENTION
    }
    for key, name, kind, doc in _UPLINK_FIELDS:
        family = (CounterMetricFamily if kind == COUNTER else GaugeMetricFamily)(
            f"{PREFIX}_{name}", doc, labels=["uplink"]
        )
        for uplink, status in forwarders.items():
            value = _number(status.get(key))
            if value is not None:
                family.add_metric([uplink], value)
        if family.samples:
            yield family
    yield from _uplink_states(forwarders)
    retention = uplinks.get(RETENTION)
    if isinstance(retention, Mapping):
        yield from _retention(retention)


def _uplink_states(forwarders: Mapping[str, Mapping[str, object]]) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        f"{PREFIX}_uplink_state",
        "1 for each uplink's state now (connected, disconnected, backing_off, circuit_open, "
        "stopped).",
        labels=["uplink", "state"],
    )
    for uplink, status in forwarders.items():
        state = status.get("state")
        if not isinstance(state, str):
            continue
        for name in (*UPLINK_STATES, *([] if state in UPLINK_STATES else [state])):
            family.add_metric([uplink, name.replace(" ", "_")], float(name == state))
    if family.samples:
        yield family


def _retention(retention: Mapping[str, object]) -> Iterator[Metric]:
    """The store's retention evictions by reason, its runs and the store's size."""
    families = {
        name: CounterMetricFamily(
            f"{PREFIX}_{name}",
            "Stored samples deleted by retention, by reason.",
            labels=["reason"],
        )
        for name in ("store_evicted", "store_evicted_undelivered")
    }
    for key, name, reason in _EVICTIONS:
        value = _number(retention.get(key))
        if value is not None:
            families[name].add_metric([reason], value)
    yield from (family for family in families.values() if family.samples)
    runs = _number(retention.get("runs"))
    if runs is not None:
        yield CounterMetricFamily(
            f"{PREFIX}_store_retention_runs", "Retention passes over the store.", value=runs
        )
    used = _number(retention.get("used_bytes"))
    if used is not None:
        yield GaugeMetricFamily(f"{PREFIX}_store_used_bytes", "Store size in bytes.", value=used)
    budget = _number(retention.get("max_bytes"))
    if budget is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_store_budget_bytes",
            "The store's byte budget ([store] max_bytes); retention evicts above it.",
            value=budget,
        )


def _latency(histogram: HistogramView) -> Iterator[Metric]:
    snap = histogram.snapshot()
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound_s, count in zip(snap.bounds_s, snap.counts, strict=False):
        cumulative += count
        buckets.append((repr(float(bound_s)), float(cumulative)))
    buckets.append(("+Inf", float(snap.count)))
    yield HistogramMetricFamily(
        f"{PREFIX}_sample_store_latency_seconds",
        "Time from a sample's arrival at the host to its commit in the store.",
        buckets=buckets,
        sum_value=snap.sum_s,
    )


def _section(status: Mapping[str, object], name: str) -> Mapping[str, object]:
    value = status.get(name)
    return value if isinstance(value, Mapping) else {}


def _flag(value: object) -> float | None:
    """A number, or a boolean as 1/0 (for described fields such as `connected`)."""
    return float(value) if isinstance(value, bool) else _number(value)
