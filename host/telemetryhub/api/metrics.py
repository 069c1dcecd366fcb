"""The per-app Prometheus registry: the core's figures, REST request metrics, the process."""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector

from telemetryhub import __version__
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.core_metrics import CoreCollector
from telemetryhub.api.device_metrics import PREFIX


class ApiMetrics:
    """Core metrics, request counters and latency per endpoint, build info, process_* and
    python_* (prometheus_client's process, platform and GC collectors on this registry)."""

    def __init__(self, core: GatewayView, max_devices: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CoreCollector(core, max_devices))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info(f"{PREFIX}_build", "The gateway's version.", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )
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
