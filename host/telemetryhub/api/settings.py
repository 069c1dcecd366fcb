"""Configuration of the REST API: tokens, read policy, rate limit, body limit, readiness, TLS."""

from __future__ import annotations

from dataclasses import dataclass

from telemetryhub.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """A PEM certificate and its unencrypted PEM key: ApiServer then serves HTTPS (TLS 1.2+)."""

    cert_path: str
    key_path: str


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How the API guards itself.

    `reads_open` lets loopback clients read without a token; every other read needs a viewer or
    operator token, and every mutation an operator token. `rate_per_s` <= 0 disables the
    per-client-IP limiter. `metrics_max_devices` caps the boards with series of their own in
    /metrics (telemetryhub.api.device_metrics).
    """

    operator_tokens: tuple[str, ...] = ()
    viewer_tokens: tuple[str, ...] = ()
    reads_open: bool = True
    rate_per_s: float = 20.0
    rate_burst: int = 60
    max_body_bytes: int = 4096
    ready_max_age_periods: float = 5.0
    ready_queue_fraction: float = 0.8
    metrics_max_devices: int = 200
    tls: TlsSettings | None = None

    def __post_init__(self) -> None:
        if any(not t for t in (*self.operator_tokens, *self.viewer_tokens)):
            raise ConfigError("API tokens must be non-empty strings")
        if set(self.operator_tokens) & set(self.viewer_tokens):
            raise ConfigError("a token cannot be both an operator and a viewer token")
        if self.rate_per_s > 0 and self.rate_burst < 1:
            raise ConfigError(f"rate_burst must be >= 1 when limiting, got {self.rate_burst}")
        if self.max_body_bytes < 64:
            raise ConfigError(f"max_body_bytes must be >= 64, got {self.max_body_bytes}")
        if self.metrics_max_devices < 0:
            raise ConfigError(f"metrics_max_devices must be >= 0, got {self.metrics_max_devices}")
        if not 0.0 < self.ready_queue_fraction <= 1.0:
            raise ConfigError(
                f"ready_queue_fraction must be in (0, 1], got {self.ready_queue_fraction}"
            )
