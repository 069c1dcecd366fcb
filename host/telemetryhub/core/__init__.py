"""The gateway's pipeline engine: hand-over queue, worker pool and sample processing."""

from __future__ import annotations

from telemetryhub.core.pool import PoolMetrics, ShutdownReport, ThreadPool
from telemetryhub.core.processing import (
    Aggregate,
    Rejection,
    RollingAggregates,
    SampleValidator,
    ValidationResult,
)
from telemetryhub.core.queue import QueueStats, TelemetryQueue

__all__ = [
    "Aggregate",
    "PoolMetrics",
    "QueueStats",
    "Rejection",
    "RollingAggregates",
    "SampleValidator",
    "ShutdownReport",
    "TelemetryQueue",
    "ThreadPool",
    "ValidationResult",
]
