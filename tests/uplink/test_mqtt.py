"""MQTT uplink against a real Mosquitto: outage and drain, order, rate limit, retained topics."""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import replace

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telemetryhub.errors import StoreError
from telemetryhub.models import Sample
from telemetryhub.store import SqliteStore
from telemetryhub.store.retention import RetentionSettings, StoreRetention
from telemetryhub.uplink import DedupSubscriber, MqttSettings, mqtt_uplink
from telemetryhub.uplink.base import CONNECTED
from telemetryhub.uplink.mosquitto import MosquittoBroker
from telemetryhub.uplink.mqtt import MqttSink
from telemetryhub.uplink.settings import ForwarderSettings
from tests.uplink.support import make_samples, wait_until

RATE_SPS = 1000.0
BURST = 100
BATCH = 50


def settings_for(broker: MosquittoBroker, rate_sps: float = RATE_SPS) -> MqttSettings:
    return MqttSettings(
        host=broker.host,
        port=broker.port,
        gateway_id="gw1",
        reconnect_min_s=1,
        reconnect_max_s=1,
        publish_timeout_s=2.0,
        max_samples_per_message=20,
        forwarding=ForwarderSettings(
            batch_size=BATCH,
            rate_limit_sps=rate_sps,
            burst_samples=BURST,
            poll_interval_s=0.02,
            backoff_base_s=0.05,
            backoff_max_s=0.2,
        ),
    )


def test_backlog_drains_in_order_after_an_outage_with_the_rate_limit_held(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    devices = ("dev-a", "dev-b")
    sub = DedupSubscriber(broker.host, broker.port, client_id="dedup-outage", clean_session=False)
    sub.start()
    uplink = mqtt_uplink(store, settings_for(broker))
    uplink.start()
    try:
        store.write_batch(make_samples(100, devices))
        assert sub.ledger.wait_for(100, timeout_s=10)

        broker.stop()
        assert wait_until(lambda: uplink.status()["state"] != CONNECTED)
        backlog = make_samples(1000, devices, start=100)
        store.write_batch(backlog)
        assert wait_until(lambda: int(str(uplink.status()["failures"])) >= 1)
        assert uplink.status()["cursor"] == 100  # nothing past the outage counts as sent

        broker.start()
        assert sub.ledger.wait_for(1100, timeout_s=20)
        assert wait_until(lambda: uplink.status()["backlog"] == 0)
    finally:
        uplink.stop()
        sub.stop()

    ledger = sub.ledger
    assert ledger.out_of_order == 0
    assert set(ledger.keys()) == {
        (s.device_id, s.boot_id, s.seq) for s in make_samples(1100, devices)
    }
    assert store.get_cursor("mqtt") == store.last_rowid() == 1100
    assert_rate_held(ledger.arrival_times[100:], RATE_SPS, BURST + BATCH)


def assert_rate_held(arrivals: list[float], rate_sps: float, slack: int) -> None:
    """Never more than slack + rate * elapsed samples since the first arrival."""
    assert len(arrivals) > slack
    first = arrivals[0]
    for index, at in enumerate(arrivals):
        assert index <= slack + rate_sps * (at - first) * 1.05, (index, at - first)
    # and the drain as a whole could not beat the limit
    assert arrivals[-1] - first >= (len(arrivals) - slack) / rate_sps * 0.9


def test_state_is_retained_and_the_gateway_says_online_then_offline(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    uplink = mqtt_uplink(store, settings_for(broker, rate_sps=0))
    uplink.note_device_state("dev-a", "Measuring", "start")  # before the broker answered
    uplink.start()
    store.write_batch(make_samples(30, ("dev-a",)))
    assert wait_until(lambda: uplink.status()["backlog"] == 0)
    seen = RetainedWatcher(broker)
    try:
        assert seen.wait("telemetryhub/gw1/status", b"online")
        state = seen.wait_json("telemetryhub/gw1/dev-a/state")
        assert state["device"] == "dev-a"
        assert state["state"] == "Measuring"
        assert state["last_sample"]["seq"] == 29
        uplink.note_device_state("dev-a", "SafeState", "deterministic fault")
        assert wait_until(
            lambda: seen.wait_json("telemetryhub/gw1/dev-a/state")["state"] == "SafeState"
        )
        uplink.stop()
        assert seen.wait("telemetryhub/gw1/status", b"offline")
    finally:
        uplink.stop()
        seen.stop()
    status = uplink.status()
    assert status["messages_published"] == 2  # 30 samples, 20 per message
    assert status["delivered"] == 30


class RetainedWatcher:
    """Collects the latest payload per topic under telemetryhub/#."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.latest: dict[str, bytes] = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("telemetryhub/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.latest[msg.topic] = msg.payload
            self.cond.notify_all()

    def wait(self, topic: str, payload: bytes, timeout_s: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.latest.get(topic) == payload, timeout_s)

    def wait_json(self, topic: str, timeout_s: float = 5.0) -> dict[str, object]:
        with self.cond:
            assert self.cond.wait_for(lambda: topic in self.latest, timeout_s)
            doc: dict[str, object] = json.loads(self.latest[topic])
            return doc

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_second_run_resumes_where_the_first_stopped(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    with DedupSubscriber(broker.host, broker.port, client_id="dedup-resume") as sub:
        store.write_batch(make_samples(40))
        first = mqtt_uplink(store, settings_for(broker, rate_sps=0))
        first.start()
        assert sub.ledger.wait_for(40, timeout_s=10)
        first.stop()
        store.write_batch(make_samples(40, start=40))
        second = mqtt_uplink(store, settings_for(broker, rate_sps=0))
        second.start()
        try:
            assert sub.ledger.wait_for(80, timeout_s=10)
        finally:
            second.stop()
        assert sub.ledger.duplicates == 0
        assert sub.ledger.out_of_order == 0


def test_budget_eviction_during_an_outage_is_counted_and_the_rest_drains(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    sub = DedupSubscriber(broker.host, broker.port, client_id="dedup-budget", clean_session=False)
    sub.start()
    broker.stop()
    uplink = mqtt_uplink(store, settings_for(broker, rate_sps=0))
    uplink.start()
    total = 4000
    store.write_batch(make_samples(total))
    retention = StoreRetention(store, RetentionSettings(max_bytes=1), ("mqtt",))
    budget = retention.used_bytes() // 2
    retention = StoreRetention(store, RetentionSettings(max_bytes=budget), ("mqtt",))
    try:
        evicted = retention.enforce()
        assert evicted.undelivered_bytes == evicted.bytes > 0
        broker.start()
        assert sub.ledger.wait_for(total - evicted.bytes, timeout_s=20)
        assert wait_until(lambda: uplink.status()["backlog"] == 0)
    finally:
        uplink.stop()
        retention.stop()
        sub.stop()
    keys = sub.ledger.keys()
    assert len(keys) == total - evicted.bytes  # nothing lost beyond what was counted
    assert keys[0][2] == evicted.bytes  # the oldest went first
    assert retention.status()["evicted_undelivered"] == evicted.bytes


def test_interleaved_devices_go_out_as_one_message_per_device(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    with DedupSubscriber(broker.host, broker.port, client_id="dedup-interleaved") as sub:
        store.write_batch(make_samples(60, ("a", "b", "c")))  # a, b, c, a, b, c, ...
        settings = settings_for(broker, rate_sps=0)
        uplink = mqtt_uplink(store, replace(settings, max_samples_per_message=100))
        uplink.start()
        try:
            assert sub.ledger.wait_for(60, timeout_s=10)
        finally:
            uplink.stop()
    assert uplink.status()["messages_published"] == 6  # batches of 50 and 10: 3 messages each
    assert sub.ledger.out_of_order == 0


def test_a_crash_in_the_network_loop_is_counted_and_the_loop_comes_back(
    broker: MosquittoBroker, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8: paho's thread died on struct.error and the uplink stayed dead, silently."""
    sub = DedupSubscriber(broker.host, broker.port, client_id="dedup-crash")
    sub.start()
    uplink = mqtt_uplink(store, settings_for(broker))
    sink = uplink.sink
    assert isinstance(sink, MqttSink)
    real_loop = sink._client._loop
    crashes = iter([True])

    def crash_once(timeout: float = 1.0) -> mqtt.MQTTErrorCode:
        if next(crashes, False):
            raise struct.error("argument out of range")  # what a keepalive of 1e9 raised
        return real_loop(timeout)

    sink._client._loop = crash_once  # type: ignore[method-assign]
    uplink.start()
    try:
        assert wait_until(lambda: uplink.status()["network_restarts"] == 1)
        store.write_batch(make_samples(50, ("dev-a",)))
        assert sub.ledger.wait_for(50, timeout_s=10)  # delivering again
    finally:
        uplink.stop()
        sub.stop()
    crash_logs = [r for r in caplog.records if "network loop" in r.getMessage()]
    assert crash_logs
    assert crash_logs[0].exc_info is not None
    assert not any(t.name == "uplink-mqtt-net" for t in threading.enumerate())  # joined


def test_an_uplink_thread_that_fails_restarts_and_delivers(
    broker: MosquittoBroker, store: SqliteStore
) -> None:
    uplink = mqtt_uplink(store, settings_for(broker))
    real_read = store.read_after
    failures = iter([RuntimeError("a bug"), StoreError("disk gone")])

    def flaky(rowid: int, limit: int = 1000) -> list[tuple[int, Sample]]:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_read(rowid, limit)

    uplink.store = type("FlakyStore", (), {})()  # the forwarder only reads through these
    uplink.store.read_after = flaky  # type: ignore[attr-defined]
    for name in ("last_rowid", "get_cursor", "set_cursor"):
        setattr(uplink.store, name, getattr(store, name))
    store.write_batch(make_samples(30, ("dev-a",)))
    uplink.start()
    try:
        assert wait_until(lambda: uplink.status()["backlog"] == 0, timeout_s=10)
    finally:
        uplink.stop()
    assert uplink.status()["restarts"] == 2
    assert "disk gone" in str(uplink.status()["last_error"])
