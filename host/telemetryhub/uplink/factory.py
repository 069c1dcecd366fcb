"""build_uplinks: the uplinks and store retention that the INI sections [mqtt], [uplink_http]
and [store] ask for, ready for GatewayCore (which starts and stops them)."""

from __future__ import annotations

import logging
import socket
from typing import Protocol

from telemetryhub import config
from telemetryhub.store.retention import RetainedStore, RetentionSettings, StoreRetention
from telemetryhub.uplink.base import CursorStore, Forwarder
from telemetryhub.uplink.http import http_uplink
from telemetryhub.uplink.mqtt import mqtt_uplink
from telemetryhub.uplink.settings import ForwarderSettings, HttpUplinkSettings, MqttSettings

_log = logging.getLogger(__name__)


class GatewayStore(CursorStore, RetainedStore, Protocol):
    """The store the uplinks walk and retention trims (SqliteStore)."""


def build_uplinks(
    settings: config.Settings, store: GatewayStore
) -> list[Forwarder | StoreRetention]:
    """Forwarders for the enabled uplinks, then retention if [store] sets a budget."""
    uplinks: list[Forwarder | StoreRetention] = []
    gateway_id = settings.gateway.gateway_id or socket.gethostname()
    if settings.mqtt.enabled:
        uplinks.append(mqtt_uplink(store, mqtt_settings(settings.mqtt, gateway_id)))
    if settings.uplink_http.enabled and settings.uplink_http.endpoints:
        uplinks.append(http_uplink(store, http_settings(settings.uplink_http, gateway_id)))
    retention = retention_settings(settings.store)
    if retention.max_bytes is not None or retention.max_age_s is not None:
        names = [u.name for u in uplinks]
        uplinks.append(StoreRetention(store, retention, names))
    return uplinks


def mqtt_settings(section: config.MqttSettings, gateway_id: str) -> MqttSettings:
    """[mqtt] -> MqttSettings (QoS is always 1: the cursor moves on PUBACK)."""
    if section.qos != 1:
        _log.warning("[mqtt] qos = %d ignored: the uplink publishes with QoS 1", section.qos)
    topic = section.topic
    state_topic = MqttSettings().state_topic_template
    if topic.endswith("/samples"):
        state_topic = topic.removesuffix("/samples") + "/state"
    return MqttSettings(
        host=section.host,
        port=section.port,
        gateway_id=gateway_id,
        client_id=section.client_id,
        keepalive_s=section.keepalive_s,
        username=section.username or None,
        password=section.password or None,
        tls=section.tls,
        tls_ca_certs=section.ca_certs or None,
        tls_certfile=section.certfile or None,
        tls_keyfile=section.keyfile or None,
        topic_template=topic,
        state_topic_template=state_topic,
        max_samples_per_message=section.batch_size,
        forwarding=ForwarderSettings(rate_limit_sps=section.rate_limit_sps),
    )


def http_settings(section: config.UplinkHttpSettings, gateway_id: str) -> HttpUplinkSettings:
    """[uplink_http] -> HttpUplinkSettings."""
    headers = (("Authorization", f"Bearer {section.token}"),) if section.token else ()
    return HttpUplinkSettings(
        endpoints=section.endpoints,
        gateway_id=gateway_id,
        timeout_s=section.timeout_s,
        headers=headers,
        forwarding=ForwarderSettings(
            batch_size=section.batch_size, backoff_max_s=section.retry_max_s
        ),
    )


def retention_settings(section: config.StoreSettings) -> RetentionSettings:
    """[store] -> RetentionSettings (0 means no limit)."""
    return RetentionSettings(
        max_bytes=section.max_bytes or None,
        max_age_s=section.max_age_s or None,
    )
