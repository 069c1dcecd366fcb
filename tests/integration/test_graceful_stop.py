"""Graceful stops of a real `telemetryhub run` on the simulator: POST /stop and SIGTERM flush.

`POST /stop` answers only after what the board sent is stored; SIGTERM exits 0 after storing
everything, and the summary it prints matches the store.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from telemetryhub.uplink.mosquitto import free_port
from tests.integration.conftest import SpawnGateway
from tests.integration.support import GatewayProcess, seqs_by_boot, stored_keys, wait_until

TOKEN = "integration-operator-token"
STOP_WITHIN_S = 5.0
STOP_CYCLES = 3
SAMPLES_PER_CYCLE = 300


def request(base: str, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"{base}{path}", method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.status, json.loads(response.read())


def wait_stored(base: str, gateway: GatewayProcess, more_than: int) -> None:
    """Until GET /status answers with more than `more_than` samples stored."""
    found: dict[str, Any] = {}

    def stored_something() -> bool:
        gateway.assert_running()
        try:
            _, found["status"] = request(base, "GET", "/status")
        except OSError:  # not listening yet
            return False
        return int(found["status"]["metrics"]["samples_stored"]) > more_than

    wait_until(stored_something, 15, f"/status shows more than {more_than} samples stored")


def test_post_stop_flushes_before_answering_and_sigterm_before_exiting(
    tmp_path: Path, spawn_gateway: SpawnGateway
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    gateway = spawn_gateway(
        ["--device", "sim", "--data-dir", str(data_dir), "--http", f"127.0.0.1:{port}"],
        {
            "TELEMETRYHUB_HTTP_OPERATOR_TOKEN": TOKEN,
            "TELEMETRYHUB_HTTP_RATE_LIMIT_PER_S": "0",
            "TELEMETRYHUB_DEVICE_PERIOD_MS": "2",
        },
    )
    gateway.start()
    latest = -1
    for _ in range(STOP_CYCLES):
        if latest >= 0:
            assert request(base, "POST", "/start", TOKEN)[0] == 200
        wait_stored(base, gateway, latest + SAMPLES_PER_CYCLE)
        assert request(base, "POST", "/stop", TOKEN)[0] == 200
        keys = stored_keys(data_dir)  # read the moment /stop answered
        _, status = request(base, "GET", "/status")
        assert status["state"] == "Idle"
        latest = int(status["latest_sample"]["seq"])
        ((_, seqs),) = seqs_by_boot(keys).items()
        assert seqs == list(range(latest + 1)), "/stop answered before storing what it received"

    exit_code, took_s = gateway.terminate(STOP_WITHIN_S)
    assert exit_code == 0, gateway.stderr_path.read_text()[-2000:]
    summary = re.search(r"stored\s+(\d+) \(\+(\d+) duplicates ignored\)", gateway.output())
    assert summary is not None, gateway.output()
    assert int(summary.group(1)) == len(stored_keys(data_dir)) == latest + 1
    print(f"stored {latest + 1} samples; exited {took_s:.2f} s after SIGTERM")
