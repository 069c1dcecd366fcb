"""The uplinks with a fleet: 60 boards' samples interleaved in the store reach a real Mosquitto
and a real HTTP endpoint with every sample under its own device (topic and payload), each
device's samples in its own order, none missing."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import paho.mqtt.client as mqtt

from telemetryhub.models import Sample
from telemetryhub.store import SqliteStore
from telemetryhub.uplink import DedupSubscriber, mqtt_uplink
from telemetryhub.uplink.ledger import DeliveryLedger
from telemetryhub.uplink.mosquitto import MosquittoBroker
from tests.uplink.cloud import FakeCloud
from tests.uplink.test_http import uplink_for
from tests.uplink.test_mqtt import settings_for

DEVICES = tuple(f"board-{n:02d}" for n in range(60))
ROUNDS = 20  # samples per device
RUN = 5  # consecutive samples of one board in a row of the store (one read of its link)


def _write_interleaved(store: SqliteStore) -> None:
    """Round by round, a run of samples of every board in turn, as the pipeline stores a
    fleet: a forwarder's batch then spans many boards with several samples of each."""
    for first in range(0, ROUNDS, RUN):
        store.write_batch(
            [Sample(d, 7, seq, seq * 10, 1_700_000_000.0 + seq, float(n), 0, "C")
             for n, d in enumerate(DEVICES) for seq in range(first, first + RUN)]
        )  # fmt: skip


def _assert_each_device_complete_and_in_order(ledger: DeliveryLedger) -> None:
    snapshot = ledger.snapshot()
    assert snapshot["unique"] == len(DEVICES) * ROUNDS, snapshot
    assert snapshot["out_of_order"] == 0, snapshot
    per_device: dict[str, list[int]] = {}
    keys = ledger.keys()  # first arrivals, in order
    for device, boot_id, seq in keys:
        assert boot_id == 7
        per_device.setdefault(device, []).append(seq)
    assert per_device == {d: list(range(ROUNDS)) for d in DEVICES}


class TopicCheckingSubscriber(DedupSubscriber):
    """Also checks that each message's topic names the device its payload carries."""

    def __init__(self, broker: MosquittoBroker) -> None:
        super().__init__(broker.host, broker.port, client_id="dedup-fleet")
        self.topics: set[str] = set()
        self.mismatched: list[tuple[str, object]] = []
        self._topics_lock = threading.Lock()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device = json.loads(msg.payload).get("device")
        with self._topics_lock:
            self.topics.add(msg.topic)
            if msg.topic != f"telemetryhub/gw1/{device}/samples":
                self.mismatched.append((msg.topic, device))
        super()._on_message(client, userdata, msg)


def test_mqtt_publishes_each_device_on_its_topic_in_its_order(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    _write_interleaved(store)
    settings = replace(settings_for(broker, rate_sps=0), max_samples_per_message=3)
    sub = TopicCheckingSubscriber(broker)
    with sub:
        uplink = mqtt_uplink(store, settings)
        uplink.start()
        try:
            assert sub.ledger.wait_for(len(DEVICES) * ROUNDS, timeout_s=30)
        finally:
            uplink.stop()
    assert sub.mismatched == []
    assert sub.topics == {f"telemetryhub/gw1/{d}/samples" for d in DEVICES}
    assert sub.malformed == 0
    _assert_each_device_complete_and_in_order(sub.ledger)


def test_http_posts_every_sample_under_its_device_in_each_devices_order(
    store: SqliteStore,
) -> None:
    _write_interleaved(store)
    with FakeCloud() as cloud:
        uplink = uplink_for(store, cloud.url)
        uplink.start()
        try:
            assert cloud.ledger.wait_for(len(DEVICES) * ROUNDS, timeout_s=30)
        finally:
            uplink.stop()
    _assert_each_device_complete_and_in_order(cloud.ledger)
