"""/metrics as an operator alerts on it: every /status count, states, timestamps, the process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from telemetryhub import __version__
from telemetryhub.api.core_metrics import SECTIONS, UNTYPED, field_metric
from telemetryhub.api.device_metrics import PREFIX
from tests.api.fakecore import FakeCore

Scrape = dict[str, list[Sample]]


def scrape(client: FlaskClient) -> Scrape:
    """/metrics parsed: family name -> its samples."""
    text = client.get("/metrics").get_data(as_text=True)
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: Scrape, name: str, **labels: str) -> float:
    """The value of the one sample of `name` with exactly `labels` (counters: the _total)."""
    found = [
        s.value
        for s in families[name]
        if s.labels == labels and not s.name.endswith(("_created", "_bucket"))
    ]
    assert len(found) == 1, (name, labels, families[name])
    return found[0]


def numeric_fields(status: Mapping[str, object]) -> list[tuple[str, str, float]]:
    """(section, key, value) of every number in the `metrics` and `link` sections."""
    out = []
    for section in SECTIONS:
        fields = status.get(section)
        if fields is None and section == "board":
            continue  # no STATUS read from a board yet
        assert isinstance(fields, Mapping)
        for key, raw in fields.items():
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                out.append((section, key, float(raw)))
    return out


def assert_every_count_is_exported(status: Mapping[str, object], families: Scrape) -> None:
    """Each numeric field has its sample (a total: its family exists); none is undescribed."""
    for section, key, number in numeric_fields(status):
        field = field_metric(section, key)
        where = f"{section}.{key}"
        if field is None:  # a total: the family's sum
            assert f"{PREFIX}_{key}" in families, where
            continue
        assert field.kind != UNTYPED, f"{where} is exported but not described in core_metrics"
        labels = {} if field.reason is None else {"reason": field.reason}
        assert value(families, f"{PREFIX}_{field.name}", **labels) == number, where


def test_every_numeric_status_field_has_its_metric_with_its_value(
    client: FlaskClient, core: FakeCore
) -> None:
    core.extra_metrics = {
        "pool_jobs_failed": 3,
        "store_retries": 4,
        "rejected_bad_unit": 5,
        "lost_downtime": 6,
        "dropped_queue_full": 7,
        "samples_lost": 6,
        "last_stored_ts": 1_700_000_000.5,
    }
    core.board.extra_link = {"seq_gaps": 8, "frame_gaps": 9, "reboots": 10, "last_error": "gone"}
    families = scrape(client)
    assert_every_count_is_exported(core.status(), families)
    assert value(families, "telemetryhub_pool_jobs_failed") == 3
    assert value(families, "telemetryhub_store_retries") == 4
    assert value(families, "telemetryhub_link_seq_gaps") == 8
    assert value(families, "telemetryhub_link_frame_gaps") == 9
    assert value(families, "telemetryhub_link_reboots") == 10
    assert value(families, "telemetryhub_samples_lost", reason="downtime") == 6
    assert value(families, "telemetryhub_samples_dropped", reason="queue_full") == 7
    assert value(families, "telemetryhub_samples_rejected", reason="bad_unit") == 5
    assert value(families, "telemetryhub_last_stored_sample_timestamp_seconds") == 1.7e9 + 0.5


def test_a_count_not_described_yet_is_still_exported_untyped(
    client: FlaskClient, core: FakeCore
) -> None:
    core.extra_metrics = {"widgets_frobbed": 7}
    core.board.extra_link = {"widgets_lost": 2}
    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE telemetryhub_widgets_frobbed untyped" in text
    assert "telemetryhub_widgets_frobbed 7.0" in text
    assert "telemetryhub_link_widgets_lost 2.0" in text


def test_the_real_cores_status_is_exported_whole(real_app: Flask) -> None:
    client = real_app.test_client()
    status = client.get("/status").get_json()
    families = scrape(client)
    # The board is Idle, so the figures hold still between the two reads, except the link's
    # byte and frame counts (the board still answers polls).
    moving = {"bytes_received", "frames_received", "console_lines"}
    for section, key, _ in numeric_fields(status):
        field = field_metric(section, key)
        assert field is None or field.kind != UNTYPED, f"{section}.{key} is not described"
    status["link"] = {k: v for k, v in status["link"].items() if k not in moving}
    status["board"] = {k: v for k, v in (status["board"] or {}).items() if k != "age_s"}
    assert_every_count_is_exported(status, families)
    for name in ("pool_jobs_failed", "store_retries", "link_seq_gaps", "link_frame_gaps"):
        assert f"telemetryhub_{name}" in families, name
    assert "telemetryhub_link_reboots" in families


@pytest.mark.parametrize("state", ["Idle", "Measuring", "SafeState"])
def test_fleet_and_device_state_are_one_gauge_per_state(
    client: FlaskClient, core: FakeCore, state: str
) -> None:
    core.board.state_label = state
    families = scrape(client)
    expected = {name: float(name == state) for name in ("Idle", "Measuring", "SafeState")}
    fleet = {s.labels["state"]: s.value for s in families["telemetryhub_fleet_state"]}
    assert fleet == expected
    device = {
        s.labels["state"]: s.value
        for s in families["telemetryhub_device_state"]
        if s.labels["device"] == "fake-1"
    }
    assert device == expected


def test_device_identity_and_newest_sample_time(
    client: FlaskClient, core: FakeCore, op_headers: dict[str, str]
) -> None:
    core.board.boot_id = 0xD82C07CD
    client.post("/start", headers=op_headers)
    latest = _wait_for_latest(core)
    families = scrape(client)
    (info,) = families["telemetryhub_device_info"]
    assert info.labels == {
        "device": "fake-1",
        "firmware": "0.0-fake",
        "protocol": "1.0",
        "boot_id": "d82c07cd",
    }
    assert value(families, "telemetryhub_latest_sample_timestamp_seconds") >= latest


def _wait_for_latest(core: FakeCore) -> float:
    deadline = time.monotonic() + 5
    while (sample := core.status()["latest_sample"]) is None:
        assert time.monotonic() < deadline, "no sample from the fake"
        time.sleep(0.01)
    assert isinstance(sample, Mapping)
    return float(sample["ts"])


def test_uplink_state_says_which_one_is_connected_and_whose_breaker_is_open(
    client: FlaskClient, core: FakeCore
) -> None:
    core.uplinks = {
        "mqtt": {"kind": "mqtt", "state": "connected", "delivered": 5, "connects": 2},
        "http": {"kind": "http", "state": "circuit open", "batches": 3, "throttled": 1},
        "retention": {"kind": "retention", "runs": 4, "used_bytes": 10, "max_bytes": 20},
    }
    families = scrape(client)
    states = {
        (s.labels["uplink"], s.labels["state"]): s.value
        for s in families["telemetryhub_uplink_state"]
    }
    assert states[("mqtt", "connected")] == 1.0
    assert states[("http", "circuit_open")] == 1.0
    assert states[("http", "connected")] == 0.0
    assert sum(v for (uplink, _), v in states.items() if uplink == "mqtt") == 1.0
    assert "retention" not in {uplink for uplink, _ in states}
    assert value(families, "telemetryhub_uplink_connects", uplink="mqtt") == 2
    assert value(families, "telemetryhub_uplink_batches", uplink="http") == 3
    assert value(families, "telemetryhub_uplink_throttled", uplink="http") == 1
    assert value(families, "telemetryhub_store_retention_runs") == 4
    assert value(families, "telemetryhub_store_used_bytes") == 10
    assert value(families, "telemetryhub_store_budget_bytes") == 20


def test_process_python_and_build_info_are_exported(client: FlaskClient) -> None:
    families = scrape(client)
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds",
        "process_open_fds",
        "python_info",
        "python_gc_collections",
    ):
        assert name in families, name
    (build,) = families["telemetryhub_build_info"]
    assert build.labels["version"] == __version__
    assert build.value == 1.0


def test_promtool_accepts_the_exposition_without_lint_findings(real_app: Flask) -> None:
    client = real_app.test_client()
    client.get("/status")
    client.post("/start")  # a 401 adds a labelled request counter
    text = client.get("/metrics").get_data()
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""
