"""Tokens, roles, open reads, token bootstrap and the per-client rate limit."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from telemetryhub.api import ApiSettings, ensure_operator_token
from telemetryhub.api.auth import new_token
from telemetryhub.api.ratelimit import Admission, RateLimiter
from telemetryhub.errors import ConfigError
from tests.api.fakecore import FakeCore

REMOTE = {"REMOTE_ADDR": "192.0.2.7"}  # a documentation address: only a WSGI environ value
AppFactory = Callable[..., Flask]
Headers = dict[str, str]


def test_mutation_without_token_is_401(client: FlaskClient, core: FakeCore) -> None:
    r = client.post("/start")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert core.calls == []


def test_wrong_token_is_403(client: FlaskClient, core: FakeCore) -> None:
    r = client.post("/start", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403
    assert core.calls == []


def test_viewer_cannot_mutate_but_can_read(
    client: FlaskClient, viewer_headers: Headers, core: FakeCore
) -> None:
    assert client.post("/start", headers=viewer_headers).status_code == 403
    assert core.calls == []
    assert client.get("/status", headers=viewer_headers).status_code == 200


def test_reads_are_open_on_loopback_only(client: FlaskClient, viewer_headers: Headers) -> None:
    assert client.get("/status").status_code == 200
    assert client.get("/status", environ_base=REMOTE).status_code == 401
    assert client.get("/status", environ_base=REMOTE, headers=viewer_headers).status_code == 200


def test_closed_reads_need_a_token(
    core: FakeCore, app_factory: AppFactory, viewer_headers, op_headers
) -> None:
    client = app_factory(core, reads_open=False).test_client()
    assert client.get("/status").status_code == 401
    assert client.get("/metrics").status_code == 401
    assert client.get("/status", headers=viewer_headers).status_code == 200
    assert client.get("/samples", headers=op_headers).status_code == 200
    assert client.get("/health").status_code == 200  # probes stay open
    assert client.get("/openapi.json").status_code == 200


def test_rate_limit_answers_429_with_retry_after(core: FakeCore, app_factory: AppFactory) -> None:
    client = app_factory(core, rate_per_s=1.0, rate_burst=3).test_client()
    codes = [client.get("/health").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/health")
    assert r.status_code == 429
    assert r.is_json
    assert r.headers["Retry-After"] == "1"  # one token a second: whole seconds, never 0
    # another client has its own bucket
    assert client.get("/health", environ_base=REMOTE).status_code == 200


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=1, clock=lambda: now[0])
    assert limiter.acquire("a") == Admission(0.0, first_refusal=False)
    refused = limiter.acquire("a")
    assert refused.wait_s == pytest.approx(0.5)
    assert refused.first_refusal
    assert limiter.acquire("a").first_refusal is False  # the same run of refusals
    now[0] = 0.5
    assert limiter.acquire("a") == Admission(0.0, first_refusal=False)
    now[0] = 0.6
    assert limiter.acquire("a").first_refusal  # granted in between: a new run


def test_a_new_token_never_starts_with_a_dash_the_cli_would_take_for_an_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = iter(["-starts-like-an-option", "-again", "fine-token"])
    monkeypatch.setattr("telemetryhub.api.auth.secrets.token_urlsafe", lambda n: next(drawn))
    assert new_token() == "fine-token"


def test_ensure_operator_token_creates_once_with_mode_0600(tmp_path: Path) -> None:
    token = ensure_operator_token(tmp_path / "data")
    path = tmp_path / "data" / "operator.token"
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_operator_token(tmp_path / "data") == token


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match="both"):
        ApiSettings(operator_tokens=("x",), viewer_tokens=("x",))
    with pytest.raises(ConfigError, match="non-empty"):
        ApiSettings(operator_tokens=("",))


def _refusals(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, str]]:
    return [
        (r.levelno, getattr(r, "request_id", "?"), r.getMessage())
        for r in caplog.records
        if r.name == "telemetryhub.api.access"
    ]


def test_401_and_403_are_logged_at_info_with_the_client_and_request_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="telemetryhub.api.access")
    client.post("/start", environ_base=REMOTE, headers={"X-Request-ID": "no-token"})
    bad = {"X-Request-ID": "bad-token", "Authorization": "Bearer nope"}
    client.post("/stop", environ_base=REMOTE, headers=bad)
    assert _refusals(caplog) == [
        (
            logging.INFO,
            "no-token",
            "POST /start from 192.0.2.7 refused with 401: "
            "a bearer token with role operator is required",
        ),
        (
            logging.INFO,
            "bad-token",
            "POST /stop from 192.0.2.7 refused with 403: this token does not grant role operator",
        ),
    ]


def test_a_rate_limited_client_is_logged_once_per_run_of_refusals(
    core: FakeCore, app_factory: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="telemetryhub.api.access")
    client = app_factory(core, rate_per_s=0.001, rate_burst=1).test_client()
    codes = [
        client.get("/health", environ_base=REMOTE, headers={"X-Request-ID": f"r{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 429, 429, 429]
    assert _refusals(caplog) == [
        (
            logging.INFO,
            "r1",
            "GET /health from 192.0.2.7 refused with 429: "
            "rate limit reached; later refusals in a row are not logged",
        )
    ]
