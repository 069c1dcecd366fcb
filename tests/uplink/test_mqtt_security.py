"""MQTT uplink security and last will against a real Mosquitto: passwords, TLS, `offline`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telemetryhub import config
from telemetryhub.store import SqliteStore
from telemetryhub.uplink import MqttSettings, mqtt_uplink
from telemetryhub.uplink.base import CONNECTED
from telemetryhub.uplink.factory import mqtt_settings
from telemetryhub.uplink.mosquitto import BrokerTls, MosquittoBroker
from tests.uplink.support import make_samples, wait_until
from tests.uplink.test_mqtt import settings_for

USER, PASSWORD = "hub", "s3cret-Pa55"
BACKLOG = 30
KEEPALIVE_S = 2
NEW_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # quick to make


def anonymous(broker: MosquittoBroker) -> MqttSettings:
    return replace(settings_for(broker, rate_sps=0), gateway_id="gw-sec")


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker that refuses anonymous clients and knows one user."""
    passwords = tmp_path / "passwords"
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([passwd, "-b", "-c", str(passwords), USER, PASSWORD], check=True)
    with MosquittoBroker(tmp_path, password_file=passwords) as broker:
        yield broker


@pytest.fixture
def broker_tls(tmp_path: Path) -> BrokerTls:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    ca, key, csr = tmp_path / "ca.crt", tmp_path / "server.key", tmp_path / "server.csr"
    tls = BrokerTls(cafile=ca, certfile=tmp_path / "server.crt", keyfile=key)
    ca_key = tmp_path / "ca.key"
    openssl("req", "-x509", *NEW_EC_KEY, "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
            "-subj", "/CN=TelemetryHub test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *NEW_EC_KEY, "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    extensions = tmp_path / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", tls.certfile, "-days", "2", "-extfile", extensions)  # fmt: skip
    return tls


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path: Path, broker_tls: BrokerTls) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path, tls=broker_tls) as broker:
        yield broker


class Watcher:
    """Every message under telemetryhub/#, connecting as `settings` say (user, TLS)."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self.latest: dict[str, bytes] = {}
        self.samples = 0
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(ca_certs=settings.tls_ca_certs)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(settings.host, settings.port)
        self._client.subscribe("telemetryhub/#", qos=1)
        self._client.loop_start()
        if not self._subscribed.wait(5.0):
            self.stop()
            raise AssertionError(f"watcher {client_id}: no SUBACK within 5 s")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.latest[msg.topic] = bytes(msg.payload)
            if msg.topic.endswith("/samples"):
                self.samples += len(json.loads(msg.payload)["samples"])
            self._cond.notify_all()

    def wait(self, predicate: Callable[[Watcher], bool], timeout_s: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout_s)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def watching(settings: MqttSettings, client_id: str) -> Iterator[Watcher]:
    watcher = Watcher(settings, client_id)
    try:
        yield watcher
    finally:
        watcher.stop()


def test_a_wrong_password_holds_the_backlog_and_the_right_one_drains_it(
    auth_broker: MosquittoBroker, store: SqliteStore
) -> None:
    good = replace(anonymous(auth_broker), username=USER, password=PASSWORD)
    store.write_batch(make_samples(BACKLOG))
    with watching(good, "watch-auth") as seen:
        refused = run_uplink(
            store,
            replace(good, password="wrong"),
            lambda s: s["last_connect_error"] is not None and int(str(s["failures"])) >= 1,
        )
        assert "authori" in str(refused["last_connect_error"]).lower()
        assert refused["state"] != CONNECTED
        assert (refused["connects"], refused["cursor"], refused["delivered"]) == (0, 0, 0)
        assert store.get_cursor("mqtt") == 0  # nothing counted as sent, nothing lost
        assert seen.samples == 0

        accepted = run_uplink(store, good, lambda s: seen.samples == BACKLOG == s["delivered"])
    assert accepted["last_connect_error"] is None
    assert store.get_cursor("mqtt") == store.last_rowid() == BACKLOG


# paho 2.2.0 drops, without closing, the SSLSocket of a failed handshake; the GC closes it.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
def test_tls_needs_the_ca_file_from_the_ini_to_deliver(
    tls_broker: MosquittoBroker, broker_tls: BrokerTls, store: SqliteStore
) -> None:
    section = replace(
        config.MqttSettings(),
        enabled=True,
        host=tls_broker.host,
        port=tls_broker.port,
        tls=True,
        ca_certs=str(broker_tls.cafile),
    )
    trusted = mqtt_settings(section, "gw-tls")  # the user's path: [mqtt] keys, the factory
    assert trusted.tls_ca_certs == str(broker_tls.cafile)
    store.write_batch(make_samples(BACKLOG))
    with watching(trusted, "watch-tls") as seen:
        system_trust = replace(anonymous(tls_broker), tls=True)  # tls_ca_certs None
        rejected = run_uplink(
            store,
            system_trust,
            lambda s: (
                "alert unknown ca" in tls_broker.log.read_text()
                and s["last_connect_error"] is not None
            ),
        )
        assert rejected["state"] != CONNECTED
        assert (rejected["connects"], rejected["cursor"], rejected["delivered"]) == (0, 0, 0)
        assert "network or TLS" in str(rejected["last_connect_error"])
        assert seen.samples == 0

        run_uplink(store, trusted, lambda s: seen.samples == BACKLOG == s["delivered"])
    assert store.get_cursor("mqtt") == BACKLOG


def run_uplink(
    store: SqliteStore,
    settings: MqttSettings,
    until: Callable[[dict[str, object]], bool],
) -> dict[str, object]:
    """Run an MQTT uplink until its status satisfies `until`; that status (before stop)."""
    uplink = mqtt_uplink(store, settings)
    uplink.start()
    try:
        reached = wait_until(lambda: until(uplink.status()), 5.0)
        status = uplink.status()
    finally:
        uplink.stop()
    assert reached, status
    return status


GATEWAY_SCRIPT = """
import sys, threading
from telemetryhub.store import SqliteStore
from telemetryhub.uplink import MqttSettings, mqtt_uplink
db, port, keepalive_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
settings = MqttSettings(port=port, gateway_id="gw-will", keepalive_s=keepalive_s)
mqtt_uplink(SqliteStore(db), settings).start()
threading.Event().wait()  # until killed
"""


def test_the_broker_announces_offline_when_the_gateway_is_killed(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """SIGKILL leaves no chance to say `offline`: the broker publishes the retained will.

    The kernel closes the killed process's socket, so the broker sees EOF at once. A frozen
    gateway (SIGSTOP, socket open) is found only by the keepalive, which Mosquitto 2.0.11
    enforces in a sweep that took 5-6 s here even at keepalive 1-2 s: too slow for this suite.
    """
    status_topic = "telemetryhub/gw-will/status"
    stderr = tmp_path / "gateway.stderr"
    with watching(anonymous(broker), "watch-will") as seen, stderr.open("wb") as err:
        gateway = subprocess.Popen(
            [sys.executable, "-c", GATEWAY_SCRIPT, str(tmp_path / "gw.db"), str(broker.port),
             str(KEEPALIVE_S)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
        try:
            online = seen.wait(lambda w: w.latest.get(status_topic) == b"online", 10.0)
            assert online, stderr.read_text()
            gateway.kill()
            bound_s = KEEPALIVE_S * 1.5 + 1.0
            assert seen.wait(lambda w: w.latest.get(status_topic) == b"offline", bound_s)
        finally:
            gateway.kill()
            gateway.wait(timeout=5)
    with watching(anonymous(broker), "watch-late") as late:  # the will was retained
        assert late.wait(lambda w: w.latest.get(status_topic) == b"offline")
