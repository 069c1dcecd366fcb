"""Prometheus exposition: the core's counters read at scrape time plus REST request latency."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from telemetryhub.api.contracts import GatewayView, HistogramView

PREFIX = "telemetryhub"

# (status section, key, metric name, is_counter, help)
_CORE_METRICS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("metrics", "samples_received", "samples_received", True, "Samples decoded from the link."),
    ("metrics", "samples_stored", "samples_stored", True, "Samples written to the store."),
    ("metrics", "samples_processed", "samples_processed", True, "Samples taken off the queue."),
    ("metrics", "samples_duplicate", "samples_duplicate", True, "Resent samples already stored."),
    ("metrics", "queue_depth", "queue_depth", False, "Items in the telemetry queue now."),
    ("metrics", "queue_capacity", "queue_capacity", False, "Capacity of the telemetry queue."),
    ("metrics", "queue_high_water", "queue_high_water", False, "Deepest the queue has been."),
    ("metrics", "pool_jobs_processed", "pool_jobs_processed", True, "Pool jobs finished."),
    ("metrics", "pool_jobs_queued", "pool_jobs_queued", False, "Pool jobs waiting now."),
    ("metrics", "pool_num_threads", "pool_threads", False, "Worker threads in the pool."),
    ("link", "crc_errors", "link_crc_errors", True, "Frames refused for a bad CRC-32."),
    ("link", "framing_errors", "link_framing_errors", True, "Frames refused as malformed."),
    ("link", "reconnects", "link_reconnects", True, "Times the serial link was reopened."),
    ("link", "frames_received", "link_frames_received", True, "Valid frames received."),
    ("link", "samples_missed", "link_samples_missed", True, "Samples the board never resent."),
)


class CoreCollector:
    """Reads one `status()` snapshot per scrape and turns it into metric families."""

    def __init__(self, core: GatewayView) -> None:
        self._core = core

    def describe(self) -> list[Metric]:
        # Empty: registration must not call into the core.
        return []

    def collect(self) -> Iterator[Metric]:
        status = self._core.status()
        for section, key, name, is_counter, doc in _CORE_METRICS:
            value = _number(_section(status, section).get(key))
            if value is None:
                continue
            family = CounterMetricFamily if is_counter else GaugeMetricFamily
            yield family(f"{PREFIX}_{name}", doc, value=value)
        yield from _dropped(_section(status, "metrics"))
        yield from _uplinks(_section(status, "uplinks"))
        yield from _latency(self._core.latency)
        connected = _section(status, "link").get("connected")
        if isinstance(connected, bool):
            yield GaugeMetricFamily(
                f"{PREFIX}_link_connected", "1 when a board is connected.", value=int(connected)
            )


_DROP_REASONS = (
    ("samples_missed_on_board", "missed_on_board"),
    ("samples_dropped_shutdown", "shutdown"),
    ("store_errors", "store_error"),
)


def _dropped(metrics: Mapping[str, object]) -> Iterator[Metric]:
    family = CounterMetricFamily(
        f"{PREFIX}_samples_dropped", "Samples lost or refused, by reason.", labels=["reason"]
    )
    reasons = [(label, metrics.get(key)) for key, label in _DROP_REASONS]
    reasons += [(k, v) for k, v in metrics.items() if k.startswith("rejected_")]
    for reason, count in reasons:
        value = _number(count)
        if value is not None:
            family.add_metric([reason], value)
    if family.samples:
        yield family


# (status key, metric name, is_counter, help) for every uplink; retention has its own table
_UPLINK_METRICS = (
    ("delivered", "uplink_delivered", True, "Samples an uplink delivered (cursor advanced)."),
    ("failures", "uplink_failures", True, "Failed delivery attempts."),
    ("backlog", "uplink_backlog", False, "Stored samples not yet delivered by the uplink."),
    ("breaker_opens", "uplink_breaker_opens", True, "Times the circuit breaker opened."),
)
_EVICTIONS = (
    ("evicted_age", "store_evicted", "age"),
    ("evicted_bytes", "store_evicted", "bytes"),
    ("evicted_undelivered_age", "store_evicted_undelivered", "age"),
    ("evicted_undelivered_bytes", "store_evicted_undelivered", "bytes"),
)


def _uplinks(uplinks: Mapping[str, object]) -> Iterator[Metric]:
    """Per-uplink delivery figures and the store's retention evictions, by reason."""
    for key, name, is_counter, doc in _UPLINK_METRICS:
        family = (CounterMetricFamily if is_counter else GaugeMetricFamily)(
            f"{PREFIX}_{name}", doc, labels=["uplink"]
        )
        for uplink, status in uplinks.items():
            value = _number(status.get(key)) if isinstance(status, Mapping) else None
            if value is not None:
                family.add_metric([uplink], value)
        if family.samples:
            yield family
    retention = uplinks.get("retention")
    if not isinstance(retention, Mapping):
        return
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
    used = _number(retention.get("used_bytes"))
    if used is not None:
        yield GaugeMetricFamily(f"{PREFIX}_store_used_bytes", "Store size in bytes.", value=used)


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


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class ApiMetrics:
    """The per-app registry: core metrics plus request counters and latency per endpoint."""

    def __init__(self, core: GatewayView) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CoreCollector(core))
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "REST requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "REST request handling time, by endpoint.",
            ["endpoint", "method"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )

    def observe(self, endpoint: str, method: str, status: int, duration_s: float) -> None:
        """Count one answered request."""
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method).observe(duration_s)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return bytes(generate_latest(self.registry))
