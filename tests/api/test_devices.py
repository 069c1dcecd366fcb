"""The fleet through the test client: /devices, one board's document and commands, fleet
commands with each board's outcome, several devices' history."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import make_app
from tests.api.fakecore import FakeCore

Headers = dict[str, str]


@pytest.fixture
def core() -> FakeCore:
    return FakeCore(period_ms=20, devices=3)


@pytest.fixture
def app(core: FakeCore) -> Flask:
    return make_app(core)


def _states(client: FlaskClient) -> dict[str, str]:
    return {d["device_id"]: d["state"] for d in client.get("/devices").json["devices"]}


def test_devices_lists_every_board_by_id_offline_ones_too(
    client: FlaskClient, core: FakeCore
) -> None:
    core.add_board("a-first").connected = False
    r = client.get("/devices")
    assert r.status_code == 200
    ids = [d["device_id"] for d in r.json["devices"]]
    assert ids == ["a-first", "fake-1", "fake-2", "fake-3"]
    assert (r.json["count"], r.json["total"]) == (4, 4)
    offline = r.json["devices"][0]
    assert offline["connected"] is False
    for key in ("state", "port", "last_seen", "latest_sample", "samples_received", "lost"):
        assert key in offline, key


def test_devices_filter_by_state_and_page(client: FlaskClient, core: FakeCore) -> None:
    core.boards["fake-2"].connected = False
    core.boards["fake-3"].state_label = "SafeState"
    trouble = client.get("/devices?state=SafeState&state=offline").json
    assert [d["device_id"] for d in trouble["devices"]] == ["fake-2", "fake-3"]
    assert [d["device_id"] for d in client.get("/devices?state=Idle").json["devices"]] == [
        "fake-1"
    ]
    page = client.get("/devices?limit=2&offset=1").json
    assert [d["device_id"] for d in page["devices"]] == ["fake-2", "fake-3"]
    assert (page["count"], page["total"]) == (2, 3)


def test_one_boards_document_and_an_unknown_one_is_404_json(
    client: FlaskClient, core: FakeCore
) -> None:
    core.boards["fake-2"].boot_id = 0xD82C07CD
    r = client.get("/devices/fake-2")
    assert r.status_code == 200
    assert r.json["device"]["id"] == "fake-2"
    assert r.json["device"]["boot_id"] == 0xD82C07CD
    assert {"state", "latest_sample", "metrics", "link"} <= set(r.json)
    missing = client.get("/devices/nobody")
    assert missing.status_code == 404
    assert missing.json["error"] == "no board 'nobody' is known to this gateway"
    assert missing.json["status"] == 404


def test_a_command_to_one_board_moves_only_that_board(
    client: FlaskClient, core: FakeCore, op_headers: Headers
) -> None:
    r = client.post("/devices/fake-2/start", headers=op_headers)
    assert r.json == {"ok": True, "devices": {"fake-2": "ok"}}
    assert _states(client) == {"fake-1": "Idle", "fake-2": "Measuring", "fake-3": "Idle"}
    body = {"mode": "deterministic", "count": 2}
    assert client.post("/devices/fake-2/fault", headers=op_headers, json=body).json["ok"]
    deadline = time.monotonic() + 5
    while _states(client)["fake-2"] != "SafeState":
        assert time.monotonic() < deadline, "fake-2 never reached SafeState"
        time.sleep(0.01)
    assert _states(client) == {"fake-1": "Idle", "fake-2": "SafeState", "fake-3": "Idle"}
    period = client.post("/devices/fake-3/period", headers=op_headers, json={"period_ms": 250})
    assert period.status_code == 200
    assert [b.period_ms for b in core.boards.values()] == [20, 20, 250]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/devices/nobody/start", 404, "no board 'nobody'"),
        ("/devices/fake-1/stop", 409, "stop refused in state Idle"),
        ("/devices/fake-3/start", 503, "not connected"),
    ],
)
def test_a_command_one_board_cannot_take_says_why(
    client: FlaskClient,
    core: FakeCore,
    op_headers: Headers,
    path: str,
    status: int,
    words: str,
) -> None:
    core.boards["fake-3"].connected = False
    r = client.post(path, headers=op_headers)
    assert r.status_code == status
    assert words in r.json["error"]


def test_a_bad_body_to_one_board_is_400_before_the_board_is_asked(
    client: FlaskClient, core: FakeCore, op_headers: Headers
) -> None:
    r = client.post("/devices/fake-1/fault", headers=op_headers, json={"mode": "random"})
    assert r.status_code == 400
    assert "probability" in r.json["error"]
    assert core.calls == []


def test_a_fleet_command_says_each_boards_outcome(
    client: FlaskClient, core: FakeCore, op_headers: Headers
) -> None:
    core.boards["fake-3"].connected = False  # offline boards are not asked
    client.post("/devices/fake-2/start", headers=op_headers)
    r = client.post("/start", headers=op_headers)
    assert r.status_code == 200
    assert r.json["ok"] is False
    assert r.json["devices"] == {
        "fake-1": "ok",
        "fake-2": "board rejected the command (code 3): start refused in state Measuring",
    }
    everyone = client.post("/stop", headers=op_headers)
    assert everyone.json == {"ok": True, "devices": {"fake-1": "ok", "fake-2": "ok"}}
    refused = client.post("/stop", headers=op_headers)  # every board refuses: the error
    assert refused.status_code == 409


def test_a_viewer_reads_the_fleet_but_cannot_command_a_board(
    client: FlaskClient, core: FakeCore, viewer_headers: Headers
) -> None:
    assert client.get("/devices", headers=viewer_headers).status_code == 200
    assert client.get("/devices/fake-1", headers=viewer_headers).status_code == 200
    assert client.post("/devices/fake-1/start", headers=viewer_headers).status_code == 403
    assert client.post("/devices/fake-1/start").status_code == 401
    assert core.calls == []


def _measure(client: FlaskClient, core: FakeCore, op_headers: Headers, n: int) -> None:
    """Every board takes at least `n` samples, then no more."""
    client.post("/start", headers=op_headers)
    deadline = time.monotonic() + 10
    while min(len(b.samples) for b in core.boards.values()) < n:
        assert time.monotonic() < deadline, "the fakes took too few samples"
        time.sleep(0.02)
        core.all_samples()
    for board in core.boards.values():
        board.period_ms = 10_000_000  # no further sample is due


def test_samples_of_several_devices(
    client: FlaskClient, core: FakeCore, op_headers: Headers
) -> None:
    _measure(client, core, op_headers, 5)
    r = client.get("/samples?device=fake-1&device=fake-3&limit=10000")
    got = r.json["samples"]
    assert {s["device_id"] for s in got} == {"fake-1", "fake-3"}
    assert r.json["count"] == len(core.boards["fake-1"].samples) + len(
        core.boards["fake-3"].samples
    )
    assert [s["ts"] for s in got] == sorted(s["ts"] for s in got)
    one = client.get("/samples?device=fake-2").json["samples"]
    assert {s["device_id"] for s in one} == {"fake-2"}
    too_many = "&".join(f"device=d{i}" for i in range(101))
    r = client.get(f"/samples?{too_many}")
    assert r.status_code == 400
    assert "'device' may be given at most 100 times" in r.json["error"]


def test_recent_samples_are_thinned_per_device(
    client: FlaskClient, core: FakeCore, op_headers: Headers
) -> None:
    _measure(client, core, op_headers, 30)
    every = client.get("/samples/recent?seconds=60&points=10").json["samples"]
    per_device = {d: [s["seq"] for s in every if s["device_id"] == d] for d in core.boards}
    for device_id, seqs in per_device.items():
        held = [s.seq for s in core.boards[device_id].samples]
        assert len(seqs) == 10, device_id
        assert (seqs[0], seqs[-1]) == (held[0], held[-1])  # oldest and newest kept
    one = client.get("/samples/recent?seconds=60&points=10&device=fake-2").json
    assert [s["seq"] for s in one["samples"]] == per_device["fake-2"]
    assert one["count"] == 10
