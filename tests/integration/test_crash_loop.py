"""The acceptance test: kill -9 the gateway at random moments; store and broker lose nothing.

The firmware runs on the emulator in this process behind a stable port path; the gateway is a
real `telemetryhub run` process publishing to a private Mosquitto, watched by a subscriber with a
persistent session that deduplicates by (device, boot_id, seq) and counts what came twice.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.emulator import BoardEmulator
from telemetryhub.models import DeviceState
from telemetryhub.uplink import DedupSubscriber
from telemetryhub.uplink.mosquitto import MosquittoBroker
from tests.hil.wire import WireClient
from tests.integration.conftest import SpawnGateway
from tests.integration.support import GatewayProcess, seqs_by_boot, stored_keys, wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.slow]

SEED = int(os.environ.get("CRASH_LOOP_SEED", "20240611"))  # set it to replay another run
KILL_ROUNDS = 5
KILL_DELAY_S = (0.3, 1.5)
FINAL_RUN_S = 2.0  # how long the last gateway ingests before its graceful stop
PERIOD_MS = 10  # a restart (~1 s) is ~100 samples: far inside the board's 1024-sample ring
STOP_WITHIN_S = 5.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = MosquittoBroker(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def subscriber(broker: MosquittoBroker) -> Iterator[DedupSubscriber]:
    sub = DedupSubscriber(
        broker.host, broker.port, client_id="crash-loop-subscriber", clean_session=False
    )
    sub.start()
    try:
        yield sub
    finally:
        sub.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[BoardEmulator]:
    with BoardEmulator(link_path=tmp_path / "ttyACM-crash") as board:
        yield board


def gateway_env(broker: MosquittoBroker) -> dict[str, str]:
    return {
        "TELEMETRYHUB_MQTT_ENABLED": "true",
        "TELEMETRYHUB_MQTT_HOST": broker.host,
        "TELEMETRYHUB_MQTT_PORT": str(broker.port),
        "TELEMETRYHUB_MQTT_RATE_LIMIT_SPS": "0",
        "TELEMETRYHUB_GATEWAY_GATEWAY_ID": "gw1",
        "TELEMETRYHUB_GATEWAY_AUTOSTART": "true",
        "TELEMETRYHUB_DEVICE_PERIOD_MS": str(PERIOD_MS),
    }


def wait_for_new_rows(gateway: GatewayProcess, data_dir: Path, before: int) -> int:
    """Until this gateway has stored a row past `before`; returns the row count then."""
    count = before

    def grew() -> bool:
        nonlocal count
        gateway.assert_running()
        count = len(stored_keys(data_dir))
        return count > before

    wait_until(grew, 15, "the gateway stores new samples")
    return count


def test_kill_9_at_random_moments_loses_no_sample_in_the_store_or_the_broker(
    tmp_path: Path,
    emulator: BoardEmulator,
    subscriber: DedupSubscriber,
    broker: MosquittoBroker,
    spawn_gateway: SpawnGateway,
) -> None:
    print(f"crash loop seed: {SEED}")
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    gateway = spawn_gateway(
        ["--device", emulator.port, "--data-dir", str(data_dir), "--no-http"],
        gateway_env(broker),
    )
    rows = 0
    for round_no in range(KILL_ROUNDS):
        gateway.start()
        rows = wait_for_new_rows(gateway, data_dir, rows)
        delay_s = rng.uniform(*KILL_DELAY_S)
        time.sleep(delay_s)  # the random moment of the crash, not a synchronisation
        gateway.kill()
        print(f"round {round_no + 1}: SIGKILL {delay_s:.2f} s after new rows appeared")

    gateway.start()
    wait_for_new_rows(gateway, data_dir, len(stored_keys(data_dir)))
    time.sleep(FINAL_RUN_S)  # ingest for a while before the graceful stop
    code, took_s = gateway.terminate(STOP_WITHIN_S)
    assert code == 0, gateway.stderr_path.read_text()[-2000:]
    out = gateway.output()
    assert "telemetryhub stopped:" in out
    assert "stored" in out

    keys = stored_keys(data_dir)
    assert len(keys) == len(set(keys))
    ((boot_id, seqs),) = seqs_by_boot(keys).items()
    assert seqs == list(range(len(seqs))), "a seq is missing from the store"

    with WireClient(emulator.port).open(timeout_s=2.0) as board:
        status = board.status()
    assert status.state == DeviceState.IDLE  # the graceful stop told the board `stop`
    assert status.dropped_overflow == 0
    assert status.period_ms == PERIOD_MS
    assert status.samples_taken == len(seqs)  # every sample the board took is stored

    ledger = subscriber.ledger
    assert ledger.wait_for(len(keys), timeout_s=20), ledger.snapshot()
    assert set(ledger.keys()) == set(keys)
    assert ledger.unique == len(keys)
    assert ledger.out_of_order == 0
    print(
        f"rounds: {KILL_ROUNDS} kills + 1 graceful stop ({took_s:.2f} s); "
        f"samples: {len(keys)} (boot {boot_id:08x}); "
        f"duplicates received: {ledger.duplicates}; payloads: {ledger.payloads}"
    )
