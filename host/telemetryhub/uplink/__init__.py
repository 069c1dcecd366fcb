"""Store-and-forward uplinks (MQTT, HTTP) and their shared forwarder."""

from __future__ import annotations

from telemetryhub.uplink.base import CursorStore, Forwarder, Sink, sample_record
from telemetryhub.uplink.breaker import CircuitBreaker
from telemetryhub.uplink.http import HttpSink, http_uplink
from telemetryhub.uplink.ledger import DeliveryLedger
from telemetryhub.uplink.mosquitto import MosquittoBroker
from telemetryhub.uplink.mqtt import MqttSink, mqtt_uplink
from telemetryhub.uplink.pacing import Backoff, TokenBucket
from telemetryhub.uplink.settings import (
    ForwarderSettings,
    HttpUplinkSettings,
    MqttSettings,
)
from telemetryhub.uplink.subscriber import DedupSubscriber

__all__ = [
    "Backoff",
    "CircuitBreaker",
    "CursorStore",
    "DedupSubscriber",
    "DeliveryLedger",
    "Forwarder",
    "ForwarderSettings",
    "HttpSink",
    "HttpUplinkSettings",
    "MosquittoBroker",
    "MqttSettings",
    "MqttSink",
    "Sink",
    "TokenBucket",
    "http_uplink",
    "mqtt_uplink",
    "sample_record",
]
