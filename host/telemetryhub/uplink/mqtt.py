"""MqttSink: delivers sample batches to an MQTT broker with QoS 1, confirmed by PUBACK."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from telemetryhub.errors import UplinkError
from telemetryhub.models import Sample
from telemetryhub.uplink.base import (
    CONNECTED,
    DISCONNECTED,
    CursorStore,
    Forwarder,
    sample_record,
)
from telemetryhub.uplink.settings import MqttSettings

_log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class MqttSink:
    """One paho client, connected in the background, that publishes batches per device.

    Topics: samples on `topic_template`, the last delivered sample of each device retained on
    `state_topic_template`, and `online`/`offline` retained on `status_topic_template` (the
    `offline` is also the last will, so the broker announces a gateway that vanished).

    paho's network loop runs on our own thread, `uplink-mqtt-net` (not paho's loop_start): if it
    crashes (a paho bug, a malformed packet) the crash is logged with its traceback, counted in
    `network_restarts`, and the loop starts again after a backoff. It holds no data: a batch
    counts as delivered, and the cursor moves, only after every PUBACK arrived.
    """

    kind = "mqtt"

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._device_states: dict[str, dict[str, object]] = {}
        self._connected = threading.Event()
        self._connects = 0
        self._disconnects = 0
        self._messages = 0
        self._last_connect_error: str | None = None
        self._network_restarts = 0
        self._opened = False
        self._closed = False
        self._stopping = threading.Event()
        self._client = self._make_client()
        self._network = threading.Thread(target=self._run_network, name="uplink-mqtt-net")

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id or f"telemetryhub-{s.gateway_id}",
            protocol=mqtt.MQTTv311,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(
                ca_certs=s.tls_ca_certs,
                certfile=s.tls_certfile,
                keyfile=s.tls_keyfile,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(s.tls_insecure)
        client.will_set(self._status_topic(), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        client.max_inflight_messages_set(s.max_inflight)
        client.max_queued_messages_set(s.max_queued_messages)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        return client

    # -- Sink -------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect in the background; paho retries with backoff until close()."""
        with self._lock:
            if self._opened:
                return
            self._opened = True
        self._client.connect_async(
            self.settings.host, self.settings.port, self.settings.keepalive_s
        )
        self._network.start()

    def deliver(self, samples: Sequence[Sample]) -> None:
        """Publish one QoS 1 message per device (chunked) and wait for every PUBACK.

        Messages go out in windows of `max_inflight`, each window acknowledged before the next,
        so a batch spanning many devices never overfills paho's queue.
        """
        messages = self._messages_for(samples)
        window = max(1, self.settings.max_inflight)
        for start in range(0, len(messages), window):
            if not self._connected.is_set():
                raise UplinkError(f"MQTT broker {self._broker()} not connected")
            infos = [
                self._publish(topic, body) for topic, body in messages[start : start + window]
            ]
            for info in infos:
                self._wait_puback(info)
            with self._lock:
                self._messages += len(infos)
        self._publish_states(samples)

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        """Remember the device's state and publish it retained on its state topic."""
        with self._lock:
            self._device_states[device_id] = {"state": state, "reason": reason}
        self.publish_state(device_id, self._state_document(device_id))

    def _state_document(self, device_id: str, sample: Sample | None = None) -> dict[str, object]:
        with self._lock:
            doc: dict[str, object] = {
                "device": device_id,
                **self._device_states.get(device_id, {}),
            }
        if sample is not None:
            doc["last_sample"] = sample_record(sample)
        return doc

    def publish_state(self, device_id: str, state: Mapping[str, object]) -> None:
        """Publish `state` retained on the device's state topic (best effort, not awaited)."""
        if self._connected.is_set():
            topic = self._topic(self.settings.state_topic_template, device_id)
            self._client.publish(topic, json.dumps(state), qos=1, retain=True)

    def state(self) -> str:
        return CONNECTED if self._connected.is_set() else DISCONNECTED

    def hold_off_s(self) -> float:
        return 0.0

    def close(self) -> None:
        """Announce `offline` (a clean disconnect does not fire the will), then disconnect."""
        with self._lock:
            if self._closed or not self._opened:
                self._closed = True
                return
            self._closed = True
        if self._connected.is_set():
            info = self._client.publish(self._status_topic(), OFFLINE, qos=1, retain=True)
            # No PUBACK means the link is likely dead; the broker then publishes the will.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(self.settings.publish_timeout_s)
        self._stopping.set()
        self._client.disconnect()  # loop_forever returns once it is disconnected
        self._network.join()

    def status(self) -> dict[str, object]:
        with self._lock:
            return {
                "broker": self._broker(),
                "connects": self._connects,
                "disconnects": self._disconnects,
                "messages_published": self._messages,
                "last_connect_error": self._last_connect_error,
                "network_restarts": self._network_restarts,
            }

    # -- uplink-mqtt-net ---------------------------------------------------------------------

    def _run_network(self) -> None:
        """paho's network loop (connects, reconnects with backoff), restarted if it crashes."""
        delay_s = self.settings.reconnect_min_s
        while not self._stopping.is_set():
            try:
                self._client.loop_forever(retry_first_connection=True)
            except Exception as exc:  # anything: it is counted and the loop comes back
                _log.exception("MQTT network loop to %s crashed; restarting it", self._broker())
                self._connected.clear()
                with self._lock:
                    self._network_restarts += 1
                    self._last_connect_error = f"network loop crashed: {exc!r}"
                self._stopping.wait(delay_s)
                delay_s = min(delay_s * 2, self.settings.reconnect_max_s)
                continue
            return  # disconnect(): close() is stopping us

    # -- publishing -------------------------------------------------------------------------

    def _messages_for(self, samples: Sequence[Sample]) -> list[tuple[str, bytes]]:
        """(topic, payload) per device, each device's samples in order, chunked."""
        limit = max(1, self.settings.max_samples_per_message)
        per_device: dict[str, list[dict[str, object]]] = {}
        for sample in samples:
            per_device.setdefault(sample.device_id, []).append(sample_record(sample))
        out: list[tuple[str, bytes]] = []
        for device_id, records in per_device.items():
            topic = self._topic(self.settings.topic_template, device_id)
            for start in range(0, len(records), limit):
                body = {
                    "gateway": self.settings.gateway_id,
                    "device": device_id,
                    "samples": records[start : start + limit],
                }
                out.append((topic, json.dumps(body, separators=(",", ":")).encode()))
        return out

    def _publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
            raise UplinkError(f"MQTT publish to {topic} failed: {mqtt.error_string(info.rc)}")
        return info

    def _wait_puback(self, info: mqtt.MQTTMessageInfo) -> None:
        timeout_s = self.settings.publish_timeout_s
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise UplinkError(f"MQTT publish to {self._broker()} failed: {exc}") from exc
        if not info.is_published():
            raise UplinkError(f"MQTT broker {self._broker()}: no PUBACK within {timeout_s} s")

    def _publish_states(self, samples: Sequence[Sample]) -> None:
        last: dict[str, Sample] = {s.device_id: s for s in samples}
        for device_id, sample in last.items():
            self.publish_state(device_id, self._state_document(device_id, sample))

    # -- paho callbacks (paho's network thread) ---------------------------------------------

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho passes no reason: the TCP connect or the TLS handshake failed before CONNACK
        with self._lock:
            self._last_connect_error = f"cannot connect to {self._broker()} (network or TLS)"

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        if reason_code.is_failure:
            with self._lock:
                self._last_connect_error = str(reason_code)
            return
        with self._lock:
            self._connects += 1
            self._last_connect_error = None
        _disable_nagle(client)
        client.publish(self._status_topic(), ONLINE, qos=1, retain=True)
        self._connected.set()
        with self._lock:
            known = list(self._device_states)
        for device_id in known:  # states noted while the broker was away
            self.publish_state(device_id, self._state_document(device_id))
        _log.info("MQTT connected to %s", self._broker())

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        self._connected.clear()
        with self._lock:
            self._disconnects += 1
        _log.info("MQTT disconnected from %s: %s", self._broker(), reason_code)

    def _topic(self, template: str, device_id: str) -> str:
        return template.format(gateway_id=self.settings.gateway_id, device_id=device_id)

    def _status_topic(self) -> str:
        return self.settings.status_topic_template.format(gateway_id=self.settings.gateway_id)

    def _broker(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


def _disable_nagle(client: mqtt.Client) -> None:
    """PUBACK round trips gate every batch: Nagle's delay would cost up to 40 ms each."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def mqtt_uplink(store: CursorStore, settings: MqttSettings, name: str = "mqtt") -> Forwarder:
    """The MQTT uplink the core starts and stops: a Forwarder around an MqttSink."""
    return Forwarder(name, store, MqttSink(settings), settings.forwarding)
