"""deploy/prometheus and deploy/grafana: promtool checks and unit-tests the alert rules, and every
metric the rules and the dashboard query is one a live gateway exports at /metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "telemetryhub.json"
# Series Prometheus makes itself for every target, not the gateway.
SYNTHETIC = {"up"}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) is missing"
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        if text[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_reads_promql_as_meant() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y", z=~"1e3"}[5m])))'
        " > 1e3 and on (instance) b == 1 or time() - c offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}


def _alert_exprs() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [str(rule["expr"]) for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:  # Grafana's label_values(METRIC, LABEL)
        found = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable.get("definition", ""))
        exprs += [found.group(1)] if found else []
    return exprs


@needs_promtool
@pytest.mark.parametrize(
    "args", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]]
)
def test_promtool_accepts_the_rules_and_their_unit_tests(args: list[str]) -> None:
    result = subprocess.run(
        ["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_compose_scrape_config(tmp_path: Path) -> None:
    # promtool checks that the token file exists: the compose secret's path, here a temp file
    token = tmp_path / "viewer_token"
    token.write_text("t0ken\n")
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/run/secrets/viewer_token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/run/secrets/viewer_token", str(token))
    )
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    result = subprocess.run(
        ["promtool", "check", "config", "prometheus.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_cover_the_designs_alerts() -> None:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    names = {rule["alert"] for group in groups for rule in group["rules"]}
    assert {
        "TelemetryHubQueueNearlyFull", "TelemetryHubCommitLatencyHigh",
        "TelemetryHubSampleErrorRateHigh", "TelemetryHubDeviceSilent",
        "TelemetryHubDeviceSafeState", "TelemetryHubLinkDown", "TelemetryHubUplinkBacklogGrowing",
        "TelemetryHubUplinkBreakerOpen", "TelemetryHubStoreNearBudget", "TelemetryHubSamplesLost",
    } <= names  # fmt: skip


def test_the_dashboard_has_its_four_views_and_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Fleet overview", "One device", "Pipeline health", "Uplinks and store"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


@pytest.fixture(scope="module")
def live_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """/metrics of a real gateway on the simulator with both uplinks (to dead ends) and a store
    budget, once the board's STATUS and a REST answer have been counted."""
    tmp = tmp_path_factory.mktemp("live")
    config = tmp / "gateway.ini"
    config.write_text(
        "[mqtt]\nenabled = true\nport = 1\n"
        "[uplink_http]\nenabled = true\nendpoints = http://127.0.0.1:1/ingest\n"
        "[store]\nmax_bytes = 100000000\nmax_age_s = 86400\n"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRYHUB_")}
    cmd = [sys.executable, "-m", "telemetryhub", "run", "--config", str(config),
           "--data-dir", str(tmp / "data"), "--http", f"127.0.0.1:{port}"]  # fmt: skip
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            yield _scrape_when_complete(f"http://127.0.0.1:{port}", proc)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)


def _scrape_when_complete(base: str, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            text = _get(f"{base}/metrics")
        except OSError:
            text = ""
        if (
            "\ntelemetryhub_board_ring_used " in text
            and "\ntelemetryhub_http_requests_total{" in text
        ):
            return text
        time.sleep(0.2)  # bounded poll of another process; it has no event to wait on
    raise AssertionError(f"/metrics never showed the board and REST figures:\n{text[-2000:]}")


def _exported(metrics: str) -> set[str]:
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_queried_is_exported_by_a_live_gateway(
    live_metrics: str, source: str
) -> None:
    exprs = _alert_exprs() if source == "alerts" else _dashboard_exprs()
    used = set().union(*(metric_names(e) for e in exprs))
    assert len(used) > 10
    missing = used - _exported(live_metrics) - SYNTHETIC
    assert not missing, f"{source} query metrics the gateway does not export: {sorted(missing)}"


@needs_promtool
def test_the_live_exposition_passes_promtool_lint(live_metrics: str) -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=live_metrics, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
