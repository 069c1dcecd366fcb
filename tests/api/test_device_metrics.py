"""/metrics for a fleet: each board's series labelled `device`, the cardinality cap that folds
the rest, and the documented alert rules (promtool) on the names actually served."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from flask.testing import FlaskClient

from tests.api.conftest import make_app
from tests.api.fakecore import FakeCore
from tests.api.test_core_metrics import Scrape, scrape, value

RULES = Path(__file__).resolve().parents[2] / "docs" / "telemetryhub-alerts.yml"


def _by_device(families: Scrape, name: str) -> dict[str, float]:
    return {s.labels["device"]: s.value for s in families[name] if not s.name.endswith("_created")}


def _measuring_fleet(devices: int, max_devices: int = 200) -> tuple[FakeCore, FlaskClient]:
    """A fleet whose boards each took a few samples and then hold still."""
    core = FakeCore(period_ms=5, devices=devices)
    core.start()
    deadline = time.monotonic() + 5
    while min(len(b.samples) for b in core.boards.values()) < 3:
        assert time.monotonic() < deadline, "the fakes took no samples"
        time.sleep(0.01)
        core.all_samples()
    for board in core.boards.values():
        board.period_ms = 10_000_000
    return core, make_app(core, metrics_max_devices=max_devices).test_client()


def test_each_board_has_its_series_and_they_add_up_to_the_fleet() -> None:
    core, client = _measuring_fleet(3)
    core.boards["fake-2"].connected = False
    core.boards["fake-2"].reconnects = 2
    core.boards["fake-3"].lost["downtime"] = 4
    families = scrape(client)
    received = _by_device(families, "telemetryhub_device_samples_received")
    assert received == {d: float(b.seq) for d, b in core.boards.items()}
    stored = _by_device(families, "telemetryhub_device_samples_stored")
    assert sum(stored.values()) == value(families, "telemetryhub_samples_stored")
    assert _by_device(families, "telemetryhub_device_reconnects")["fake-2"] == 2
    assert _by_device(families, "telemetryhub_device_link_up") == {
        "fake-1": 1.0,
        "fake-2": 0.0,
        "fake-3": 1.0,
    }
    lost = value(families, "telemetryhub_device_samples_lost", device="fake-3", reason="downtime")
    assert lost == 4
    seen = _by_device(families, "telemetryhub_device_last_seen_timestamp_seconds")
    assert seen["fake-1"] == core.boards["fake-1"].seen_s
    statuses = {s.labels["status"]: s.value for s in families["telemetryhub_devices"]}
    assert statuses == {"Idle": 0, "Measuring": 2, "SafeState": 0, "offline": 1}
    assert value(families, "telemetryhub_metrics_devices_folded") == 0


def test_boards_past_the_cap_are_folded_into_other_and_counted(tmp_path: Path) -> None:
    core, client = _measuring_fleet(5, max_devices=2)
    core.boards["fake-4"].lost["reboot"] = 3
    families = scrape(client)
    received = _by_device(families, "telemetryhub_device_samples_received")
    folded = ("fake-3", "fake-4", "fake-5")
    assert received == {
        "fake-1": core.boards["fake-1"].seq,
        "fake-2": core.boards["fake-2"].seq,
        "_other": sum(core.boards[d].seq for d in folded),
    }
    other_lost = value(
        families, "telemetryhub_device_samples_lost", device="_other", reason="reboot"
    )
    assert other_lost == 3
    assert value(families, "telemetryhub_metrics_devices_folded") == 3
    states = {s.labels["device"] for s in families["telemetryhub_device_state"]}
    assert states == {"fake-1", "fake-2"}  # no gauges for folded boards
    statuses = {s.labels["status"]: s.value for s in families["telemetryhub_devices"]}
    assert statuses["Measuring"] == 5  # every board counted
    text = client.get("/metrics").get_data()
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, b"")


def test_the_alert_rules_name_served_metrics_and_hold_under_promtool(tmp_path: Path) -> None:
    _, client = _measuring_fleet(1)
    served = {s.name for samples in scrape(client).values() for s in samples}
    used = set(re.findall(r"\btelemetryhub_[a-z_]+", RULES.read_text()))
    assert used <= served, used - served
    check = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    spec = tmp_path / "alerts_test.yml"
    spec.write_text(json.dumps(_rule_tests()))  # JSON is YAML
    run = subprocess.run(
        ["promtool", "test", "rules", str(spec)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in {**labels, "instance": "gw1"}.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _rule_tests() -> dict[str, object]:
    """Three boards measuring: `busy` reports every 15 s, `silent` stopped at 0, `stopped` is
    Idle with nothing since 0; `gone` has been offline since 0."""
    seen, state = "telemetryhub_device_last_seen_timestamp_seconds", "telemetryhub_device_state"
    silent_alert = {
        "exp_labels": {"severity": "warning", "device": "silent", "instance": "gw1"},
        "exp_annotations": {"summary": "silent on gw1 sent no sample for 60 s"},
    }
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    _series(seen, "0+15x20", device="busy"),
                    _series(seen, "0x20", device="silent"),
                    _series(seen, "0x20", device="stopped"),
                    _series(state, "1x20", device="busy", state="Measuring"),
                    _series(state, "1x20", device="silent", state="Measuring"),
                    _series(state, "0x20", device="stopped", state="Measuring"),
                    _series("telemetryhub_device_link_up", "0x20", device="gone"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "45s",
                        "alertname": "TelemetryHubDeviceSilent",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "2m",
                        "alertname": "TelemetryHubDeviceSilent",
                        "exp_alerts": [silent_alert],
                    },
                    {
                        "eval_time": "30s",
                        "alertname": "TelemetryHubDeviceOffline",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "2m",
                        "alertname": "TelemetryHubDeviceOffline",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "device": "gone",
                                    "instance": "gw1",
                                },
                                "exp_annotations": {
                                    "summary": "gone on gw1 has been offline for 1 min"
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
