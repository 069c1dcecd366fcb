"""Every endpoint through the test client: shapes, commands, validation and each error code."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import openapi_path
from tests.api.fakecore import DONE, FakeCore

HEADERS = {"Content-Type": "application/json"}


def _wait_for_sample(client: FlaskClient, timeout_s: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sample = client.get("/status").json["latest_sample"]
        if sample is not None:
            return dict(sample)
    raise AssertionError("no sample within the timeout")


def test_status_has_the_seed_shape(client: FlaskClient) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert r.json["state"] == "Idle"
    assert r.json["latest_sample"] is None
    for key in ("samples_processed", "samples_dropped", "pool_jobs_processed", "queue_depth"):
        assert key in r.json["metrics"]
    assert r.json["link"]["connected"] is True
    assert r.json["device"]["period_ms"] == 50


def test_start_produces_samples_and_stop_and_reset(
    client: FlaskClient, op_headers: dict[str, str]
) -> None:
    assert client.post("/start", headers=op_headers).json == DONE
    sample = _wait_for_sample(client)
    assert {"seq", "value", "unit", "ts"} <= set(sample)
    assert client.get("/status").json["state"] == "Measuring"
    assert client.post("/stop", headers=op_headers).json == DONE
    assert client.post("/reset", headers=op_headers).json == DONE


def test_invalid_transition_is_409(client: FlaskClient, op_headers: dict[str, str]) -> None:
    r = client.post("/stop", headers=op_headers)
    assert r.status_code == 409
    assert "Idle" in r.json["error"]


def test_no_device_is_503(client: FlaskClient, core: FakeCore, op_headers: dict[str, str]) -> None:
    core.board.connected = False
    r = client.post("/start", headers=op_headers)
    assert r.status_code == 503
    assert r.json["status"] == 503


def test_fault_is_validated_and_applied(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    client.post("/start", headers=op_headers)
    r = client.post("/fault", headers=op_headers, json={"mode": "deterministic", "count": 2})
    assert r.json == DONE
    deadline = time.monotonic() + 5
    while client.get("/status").json["state"] != "SafeState":
        assert time.monotonic() < deadline, "fault never reached SafeState"
    assert core.calls[-1] == "fault"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"mode": "random", "probability": 1.5}, "probability"),
        ({"mode": "random", "probability": "high"}, "probability"),
        ({"mode": "deterministic", "count": -1}, "count"),
        ({"mode": "deterministic", "count": True}, "count"),
        ({"mode": "deterministic"}, "count"),
        ({"mode": "intermittent"}, "count"),
        ({"mode": "intermittent", "count": 0, "probability": 0}, "count"),
        ({"mode": "random"}, "probability"),
        ({"mode": "none", "colour": 1}, "colour"),
        ({}, "mode"),
        ([], "body"),
    ],
)
def test_bad_fault_body_is_400_naming_the_field(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str], body: object, field: str
) -> None:
    r = client.post("/fault", headers=op_headers, json=body)
    assert r.status_code == 400
    assert field in r.json["error"]
    assert "fault" not in core.calls  # refused before the board is asked


def test_intermittent_without_a_count_says_what_the_mode_needs(
    client: FlaskClient, op_headers: dict[str, str]
) -> None:
    r = client.post("/fault", headers=op_headers, json={"mode": "intermittent", "count": 0})
    assert r.json["error"] == (
        "field 'count': 0 is less than the minimum of 1; "
        "intermittent needs count >= 1 (count failing reads, then one good one)"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "none"},
        {"mode": "random", "probability": 0},
        {"mode": "random", "probability": 1, "count": 0},
        {"mode": "intermittent", "count": 1, "probability": 0},
        {"mode": "deterministic", "count": 0},
    ],
)
def test_each_mode_with_what_it_needs_is_accepted(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str], body: dict[str, object]
) -> None:
    assert client.post("/fault", headers=op_headers, json=body).json == DONE
    assert core.calls == ["fault"]


@pytest.mark.parametrize("period_ms", [0, 60_001, 1.5, "100"])
def test_bad_period_is_400(
    client: FlaskClient, op_headers: dict[str, str], period_ms: object
) -> None:
    r = client.post("/period", headers=op_headers, json={"period_ms": period_ms})
    assert r.status_code == 400
    assert "period_ms" in r.json["error"]


def test_period_is_applied(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    assert client.post("/period", headers=op_headers, json={"period_ms": 250}).status_code == 200
    assert core.board.period_ms == 250


@pytest.mark.parametrize("raw", [b"{", b'{"mode": NaN}', b"\xff\xfe", b'{"period_ms": Infinity}'])
def test_malformed_json_is_400(
    client: FlaskClient, op_headers: dict[str, str], raw: bytes
) -> None:
    r = client.post("/period", headers={**op_headers, **HEADERS}, data=raw)
    assert r.status_code == 400
    assert r.json["error"].startswith("invalid JSON")


def test_not_json_is_415(client: FlaskClient, op_headers: dict[str, str]) -> None:
    r = client.post("/fault", headers=op_headers, data="mode=none")
    assert r.status_code == 415
    assert r.is_json


def test_oversized_body_is_413(client: FlaskClient, op_headers: dict[str, str]) -> None:
    body = json.dumps({"mode": "none", "pad": "x" * 10_000})
    r = client.post("/fault", headers={**op_headers, **HEADERS}, data=body)
    assert r.status_code == 413
    assert r.is_json


def test_unknown_path_is_404_json(client: FlaskClient) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.is_json
    assert r.json["status"] == 404


def test_wrong_method_is_405_json_with_allow(client: FlaskClient) -> None:
    r = client.delete("/status")
    assert r.status_code == 405
    assert r.is_json
    assert "GET" in r.headers["Allow"]


def test_a_bug_is_500_json(client: FlaskClient, core: FakeCore) -> None:
    def broken() -> dict[str, object]:
        raise KeyError("oops")

    core.status = broken  # type: ignore[method-assign]
    r = client.get("/status")
    assert r.status_code == 500
    assert r.is_json
    assert "oops" not in r.json["error"]


def _frozen_history(client: FlaskClient, core: FakeCore, op_headers: dict[str, str]) -> list[int]:
    """Start the fake, let it take at least 30 samples, stop it taking more: their seqs."""
    client.post("/start", headers=op_headers)
    deadline = time.monotonic() + 10
    while len(core.all_samples()) < 30:
        assert time.monotonic() < deadline, "the fake took fewer than 30 samples"
        time.sleep(0.02)
    core.board.period_ms = 10_000_000  # no further sample is due
    return [s.seq for s in core.all_samples()]


def test_samples_query_returns_the_oldest_matches_up_to_the_limit(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    seqs = _frozen_history(client, core, op_headers)
    r = client.get("/samples?device=fake-1&since=0&limit=5")
    assert r.status_code == 200
    assert r.json["count"] == 5
    assert [s["seq"] for s in r.json["samples"]] == seqs[:5]
    assert {s["device_id"] for s in r.json["samples"]} == {"fake-1"}
    assert client.get("/samples?device=other").json == {"samples": [], "count": 0}


def test_samples_query_keeps_only_the_time_window(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    _frozen_history(client, core, op_headers)
    history = core.all_samples()
    since, until = history[5].ts, history[-5].ts
    expected = [s.seq for s in history if since <= s.ts < until]
    assert 0 < len(expected) < len(history)
    r = client.get(f"/samples?since={since!r}&until={until!r}")
    assert [s["seq"] for s in r.json["samples"]] == expected
    assert r.json["count"] == len(expected)


def test_recent_samples_are_thinned_to_the_points_asked_keeping_the_newest(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    seqs = _frozen_history(client, core, op_headers)
    r = client.get("/samples/recent?seconds=60&points=10")
    got = [s["seq"] for s in r.json["samples"]]
    assert r.json["count"] == len(got) == 10
    assert got == sorted(set(got))  # oldest first, no repeats
    assert set(got) <= set(seqs)
    assert got[0] == seqs[0]
    assert got[-1] == seqs[-1]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/samples?limit=0", "'limit'"),
        ("/samples?limit=abc", "'limit'"),
        ("/samples?limit=5&limit=6", "'limit' may be given once"),
        ("/samples?since=nan", "'since'"),
        ("/samples?since=10&until=5", "'until'"),
        ("/samples?device=a%20b", "'device'"),
        ("/samples?colour=red", "'colour'"),
        ("/samples/recent?points=1", "'points'"),
        ("/devices?state=Broken", "'state' must be one of Idle, Measuring, SafeState, offline"),
        ("/devices?limit=0", "'limit'"),
        ("/devices?offset=-1", "'offset'"),
    ],
)
def test_bad_query_is_400_naming_the_param(client: FlaskClient, url: str, words: str) -> None:
    r = client.get(url)
    assert r.status_code == 400
    assert words in r.json["error"]


def test_health(client: FlaskClient, core: FakeCore) -> None:
    assert client.get("/health").json == {"status": "ok", "problems": []}
    core.health_problems = ["thread core-consumer is not running"]
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json == {"status": "failing", "problems": ["thread core-consumer is not running"]}


def test_ready_reports_reasons(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    assert client.get("/ready").status_code == 200
    core.queue_depth = 900
    core.board.connected = False
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json == {
        "ready": False,
        "reasons": [
            "device not connected",
            "queue 900/1000 is at or above 80% of capacity",
        ],
    }


def test_ready_notices_stale_data(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    client.post("/start", headers=op_headers)
    core.board.period_ms = 10_000_000  # no further sample will be due
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json["reasons"] == ["measuring but no sample received yet"]


def test_metrics_parse_as_prometheus(client: FlaskClient) -> None:
    client.get("/status")
    r = client.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.get_data(as_text=True))}
    for name in (
        "telemetryhub_samples_stored",
        "telemetryhub_queue_depth",
        "telemetryhub_link_crc_errors",
        "telemetryhub_link_reconnects",
        "telemetryhub_sample_store_latency_seconds",
        "telemetryhub_http_request_duration_seconds",
    ):
        assert name in families, name
    lost = {s.labels["reason"] for s in families["telemetryhub_samples_lost"].samples}
    assert lost == {"board_overflow", "downtime"}  # never received: not dropped
    rejected = {s.labels["reason"] for s in families["telemetryhub_samples_rejected"].samples}
    assert rejected == {"out_of_range"}  # its own family, not among the dropped
    endpoints = {s.labels.get("endpoint") for s in families["telemetryhub_http_requests"].samples}
    assert "/status" in endpoints


def test_metrics_show_uplink_delivery_and_retention_evictions(
    client: FlaskClient, core: FakeCore
) -> None:
    core.uplinks = {
        "mqtt": {"delivered": 90, "failures": 2, "backlog": 10, "state": "connected"},
        "http": {"delivered": 80, "failures": 7, "backlog": 20, "breaker_opens": 1},
        "retention": {
            "evicted_age": 5,
            "evicted_bytes": 3,
            "evicted_undelivered_age": 1,
            "evicted_undelivered_bytes": 2,
            "used_bytes": 4096,
        },
    }
    text = client.get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    delivered = {
        s.labels["uplink"]: s.value for s in families["telemetryhub_uplink_delivered"].samples
    }
    assert delivered == {"mqtt": 90.0, "http": 80.0}
    backlog = {
        s.labels["uplink"]: s.value for s in families["telemetryhub_uplink_backlog"].samples
    }
    assert backlog == {"mqtt": 10.0, "http": 20.0}
    evicted = families["telemetryhub_store_evicted_undelivered"].samples
    assert {(s.labels["reason"], s.value) for s in evicted} == {("age", 1.0), ("bytes", 2.0)}
    assert families["telemetryhub_store_used_bytes"].samples[0].value == 4096.0


def test_security_headers_and_request_id(client: FlaskClient) -> None:
    r = client.get("/status", headers={"X-Request-ID": "abc-123 <script>/.."})
    assert r.headers["X-Request-ID"] == "abc-123script.."
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    generated = client.get("/status").headers["X-Request-ID"]
    assert len(generated) == 32


def test_request_id_is_on_log_records(
    client: FlaskClient, core: FakeCore, caplog: pytest.LogCaptureFixture
) -> None:
    from telemetryhub.api.requestid import RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level("DEBUG", logger="telemetryhub.api")
    core.board.connected = False
    client.post(
        "/start", headers={"X-Request-ID": "req-42", "Authorization": "Bearer op-token-123"}
    )
    ids = {getattr(rec, "request_id", None) for rec in caplog.records}
    assert ids == {"req-42"}


def test_dashboard_and_assets_are_local(client: FlaskClient) -> None:
    r = client.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "TelemetryHub" in html
    assert "http://" not in html
    assert "https://" not in html
    for asset in (
        "/static/dashboard.js",
        "/static/fleet.js",
        "/static/dashboard.css",
        "/static/vendor/uplot/uPlot.iife.min.js",
    ):
        with client.get(asset) as a:
            assert a.status_code == 200, asset


def test_openapi_document_describes_every_route(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    rules = {
        openapi_path(r.rule)
        for r in client.application.url_map.iter_rules()
        if r.rule not in ("/", "/static/<path:filename>")
    }
    assert rules == set(doc["paths"])
    fault = doc["components"]["schemas"]["Fault"]
    assert fault["properties"]["mode"]["enum"] == [
        "none",
        "random",
        "intermittent",
        "deterministic",
    ]
