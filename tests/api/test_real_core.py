"""The API on the real GatewayCore and simulated board: what a client sees end to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from telemetryhub.core.gateway import GatewayCore
from tests.api.conftest import OPERATOR, bearer, make_app, real_gateway

DONE = {"ok": True, "devices": {"sim-0001": "ok"}}  # the simulated board's answer


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_start_status_samples_fault_reset_through_rest(
    real_app: Flask, real_core: GatewayCore
) -> None:
    client = real_app.test_client()
    op = bearer(OPERATOR)
    assert client.get("/status").get_json()["state"] == "Idle"
    assert client.post("/stop", headers=op).status_code == 409  # Idle cannot stop
    assert client.post("/start", headers=op).get_json() == DONE
    wait_until(lambda: real_core.get_metrics()["samples_stored"] >= 20)

    status = client.get("/status").get_json()
    assert status["state"] == "Measuring"
    assert status["latest_sample"]["unit"] == "arb.units"
    assert status["metrics"]["queue_capacity"] == 1000
    assert status["link"]["connected"] is True
    assert client.get("/ready").status_code == 200

    rows = client.get("/samples?limit=10").get_json()
    assert len(rows["samples"]) == 10

    fault = {"mode": "deterministic", "count": 3}
    assert client.post("/fault", json=fault, headers=op).status_code == 200
    wait_until(lambda: client.get("/status").get_json()["state"] == "SafeState")
    assert client.post("/start", headers=op).status_code == 409
    assert client.post("/reset", headers=op).get_json() == DONE
    assert client.get("/status").get_json()["state"] == "Idle"

    metrics = client.get("/metrics").get_data(as_text=True)
    stored = real_core.get_metrics()["samples_stored"]
    assert f"telemetryhub_samples_stored_total {float(stored)}" in metrics


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "random", "probability": 0},
        {"mode": "random", "probability": 1},
        {"mode": "intermittent", "count": 1},
        {"mode": "deterministic", "count": 0},
        {"mode": "none"},
    ],
)
def test_the_board_accepts_every_fault_the_schema_accepts_at_its_edges(
    real_app: Flask, body: dict[str, object]
) -> None:
    # The schema's limits are the board's: a body that passes validation is never a 502.
    r = real_app.test_client().post("/fault", json=body, headers=bearer(OPERATOR))
    assert (r.status_code, r.get_json()) == (200, DONE)


def test_intermittent_with_the_dashboard_default_count_is_400_not_the_boards_502(
    real_app: Flask,
) -> None:
    body = {"mode": "intermittent", "probability": 0, "count": 0}
    r = real_app.test_client().post("/fault", json=body, headers=bearer(OPERATOR))
    assert r.status_code == 400
    assert "count" in r.get_json()["error"]


def test_a_fleet_of_two_real_boards_through_rest(tmp_path: Path) -> None:
    with real_gateway(tmp_path, "sim-a", "sim-b") as core:
        client = make_app(core).test_client()
        op = bearer(OPERATOR)
        listed = client.get("/devices").get_json()
        assert [d["device_id"] for d in listed["devices"]] == ["sim-a", "sim-b"]
        answer = client.post("/devices/sim-a/start", headers=op).get_json()
        assert answer == {"ok": True, "devices": {"sim-a": "ok"}}
        wait_until(
            lambda: client.get("/devices/sim-a").get_json()["metrics"]["samples_stored"] > 10
        )

        summaries = {d["device_id"]: d for d in client.get("/devices").get_json()["devices"]}
        assert summaries["sim-a"]["state"] == "Measuring"
        assert summaries["sim-a"]["samples_stored"] > 10
        assert summaries["sim-a"]["protocol"] == "1.1"
        assert summaries["sim-b"]["state"] == "Idle"
        assert summaries["sim-b"]["samples_stored"] == 0
        assert set(summaries["sim-b"]["lost"].values()) == {0}
        stored = client.get("/samples?device=sim-a&device=sim-b&limit=10000").get_json()
        assert {s["device_id"] for s in stored["samples"]} == {"sim-a"}
        assert client.get("/devices/nobody").status_code == 404
        client.post("/devices/sim-a/stop", headers=op)  # counts hold still from here
        metrics = client.get("/metrics").get_data(as_text=True)
        stored = client.get("/devices/sim-a").get_json()["metrics"]["samples_stored"]
        assert (
            f'telemetryhub_device_samples_stored_total{{device="sim-a"}} {float(stored)}'
            in metrics
        )
        assert 'telemetryhub_device_samples_stored_total{device="sim-b"} 0.0' in metrics
        client.post("/devices/sim-a/start", headers=op)

        outcome = client.post("/start", headers=op).get_json()  # sim-a already measures
        assert outcome["ok"] is False
        assert outcome["devices"]["sim-b"] == "ok"
        assert "Measuring" in outcome["devices"]["sim-a"]
