"""TelemetryHub: an edge telemetry gateway for MicroPython boards."""

__version__ = "0.1.0"
