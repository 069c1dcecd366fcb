"""DedupSubscriber: an MQTT subscriber that feeds a DeliveryLedger (checks and test harnesses)."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from telemetryhub.errors import UplinkError
from telemetryhub.uplink.ledger import DeliveryLedger

DEFAULT_TOPIC = "telemetryhub/+/+/samples"


class DedupSubscriber:
    """Subscribes with QoS 1 and records every sample payload in `ledger`.

    With `clean_session=False` and a fixed `client_id` the broker keeps queueing QoS 1
    messages while this subscriber is away, so a restarted test sees everything. paho's
    network thread is a daemon thread; it only fills the ledger. Context manager: start/stop.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic: str = DEFAULT_TOPIC,
        client_id: str = "telemetryhub-dedup-subscriber",
        clean_session: bool = True,
        ledger: DeliveryLedger | None = None,
    ) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.ledger = ledger or DeliveryLedger()
        self.malformed = 0
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._started = False

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and wait until the subscription is granted."""
        self._started = True
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise UplinkError(f"no SUBACK from {self.host}:{self.port} within {timeout_s} s")

    def stop(self) -> None:
        """Disconnect and join paho's thread; idempotent."""
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> DedupSubscriber:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        if not reason_code.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: object,
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self.ledger.add_payload(json.loads(msg.payload))
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
