"""build_uplinks maps the INI sections onto uplinks and retention."""

from __future__ import annotations

import dataclasses

from telemetryhub import config
from telemetryhub.store import SqliteStore
from telemetryhub.store.retention import StoreRetention
from telemetryhub.uplink.base import Forwarder
from telemetryhub.uplink.factory import build_uplinks


def test_nothing_enabled_builds_nothing(store: SqliteStore) -> None:
    assert build_uplinks(config.Settings(), store) == []


def test_enabled_sections_build_named_uplinks_and_retention(store: SqliteStore) -> None:
    settings = config.Settings(
        gateway=dataclasses.replace(config.GatewaySettings(), gateway_id="gw7"),
        mqtt=dataclasses.replace(
            config.MqttSettings(),
            enabled=True,
            rate_limit_sps=250.0,
            topic="site/{gateway_id}/{device_id}/samples",
            batch_size=100,
        ),
        uplink_http=dataclasses.replace(
            config.UplinkHttpSettings(),
            enabled=True,
            endpoints=("http://127.0.0.1:9/x",),
            token="t0k",
        ),
        store=dataclasses.replace(config.StoreSettings(), max_bytes=10_000_000),
    )
    mqtt, http, retention = build_uplinks(settings, store)
    assert isinstance(mqtt, Forwarder)
    assert isinstance(http, Forwarder)
    assert isinstance(retention, StoreRetention)
    assert (mqtt.name, http.name, retention.name) == ("mqtt", "http", "retention")
    assert retention.cursor_names == ("mqtt", "http")
    assert retention.settings.max_age_s is None
    mqtt_settings = mqtt.sink.settings  # type: ignore[attr-defined]
    assert mqtt_settings.state_topic_template == "site/{gateway_id}/{device_id}/state"
    assert mqtt_settings.gateway_id == "gw7"
    assert mqtt_settings.max_samples_per_message == 100
    assert mqtt_settings.forwarding.rate_limit_sps == 250.0
    assert http.sink.settings.gateway_id == "gw7"  # type: ignore[attr-defined]
    http_settings = http.sink.settings  # type: ignore[attr-defined]
    assert http_settings.headers == (("Authorization", "Bearer t0k"),)
