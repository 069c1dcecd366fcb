"""Settings of the uplinks: frozen value objects with sane defaults.

INI mapping (uplink.factory wires it): [mqtt] -> MqttSettings, [uplink_http] ->
HttpUplinkSettings; the forwarding keys of [mqtt] and [uplink_http] (batch_size,
rate_limit_sps, ...) -> their ForwarderSettings. [store] retention is the store's
(store.retention.RetentionSettings).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ForwarderSettings:
    """How one uplink walks the store: batches, replay rate, backoff, shutdown budget."""

    batch_size: int = 500
    rate_limit_sps: float = 5000.0  # samples/s ceiling, so a backlog replay never floods; 0 = off
    burst_samples: int = 1000
    poll_interval_s: float = 0.1  # how often an idle uplink looks for new rows
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    stop_timeout_s: float = 5.0  # the final delivery attempt in stop() gives up after this


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """An MQTT broker uplink (QoS 1, batched JSON, retained state, last will)."""

    host: str = "127.0.0.1"
    port: int = 1883
    gateway_id: str = "gateway"
    client_id: str = ""  # empty: "telemetryhub-<gateway_id>"
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_certs: str | None = None  # None with tls=True: the system trust store
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    tls_insecure: bool = False  # skip host name checking (test brokers only)
    topic_template: str = "telemetryhub/{gateway_id}/{device_id}/samples"
    state_topic_template: str = "telemetryhub/{gateway_id}/{device_id}/state"
    status_topic_template: str = "telemetryhub/{gateway_id}/status"  # online / offline (will)
    max_samples_per_message: int = 250
    publish_timeout_s: float = 10.0  # wait this long for every PUBACK of a batch
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    max_inflight: int = 20
    max_queued_messages: int = 1000  # bounds paho's own queue while the broker is away
    forwarding: ForwarderSettings = field(default_factory=ForwarderSettings)


@dataclass(frozen=True, slots=True)
class HttpUplinkSettings:
    """An HTTP cloud uplink: batch POST to the first healthy endpoint of a list."""

    endpoints: tuple[str, ...] = ()
    gateway_id: str = "gateway"
    timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Authorization", "Bearer ..."),)
    breaker_failures: int = 5  # consecutive failures that open an endpoint's breaker
    breaker_cooldown_s: float = 30.0  # then one half-open probe
    max_retry_after_s: float = 600.0  # a larger Retry-After is clamped to this
    forwarding: ForwarderSettings = field(default_factory=ForwarderSettings)
