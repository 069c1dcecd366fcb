"""ApiServer on a real socket (waitress), the urllib client and the remote CLI commands."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from telemetryhub.api.client import GatewayClient
from telemetryhub.api.server import ApiServer
from telemetryhub.cli import remote
from telemetryhub.errors import ApiError
from tests.api.conftest import OPERATOR


@pytest.fixture
def server(app: Flask) -> Iterator[ApiServer]:
    srv = ApiServer(app, "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.stop()


def test_serves_status_on_a_real_socket_and_stop_joins(app: Flask) -> None:
    srv = ApiServer(app, "127.0.0.1", 0)
    srv.start()
    assert srv.port > 0
    assert GatewayClient(srv.url).status()["state"] == "Idle"
    srv.stop()
    srv.stop()  # idempotent
    assert "http-server" not in {t.name for t in threading.enumerate()}
    with pytest.raises(ApiError) as info:
        GatewayClient(srv.url, timeout_s=2).status()
    assert info.value.status == 0


def test_client_raises_api_error_with_status(server: ApiServer) -> None:
    with pytest.raises(ApiError) as info:
        GatewayClient(server.url).start()
    assert info.value.status == 401
    client = GatewayClient(server.url, OPERATOR)
    assert client.start() == {"ok": True}
    with pytest.raises(ApiError) as info:
        client.start()
    assert info.value.status == 409
    assert "Measuring" in info.value.message
    assert client.fault("random", probability=0.5) == {"ok": True}
    assert client.period(200) == {"ok": True}
    assert client.stop() == {"ok": True}
    assert client.reset() == {"ok": True}


def _args(url: str, token: str | None = None, **extra: object) -> argparse.Namespace:
    return argparse.Namespace(url=url, token=token, json=False, **extra)


def test_remote_commands(server: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert remote.do_status(_args(server.url)) == 0
    assert "state:   Idle" in capsys.readouterr().out
    assert remote.do_start(_args(server.url)) == 1
    err = capsys.readouterr().err
    assert "401" in err
    assert "TELEMETRYHUB_TOKEN" in err
    assert remote.do_start(_args(server.url, OPERATOR)) == 0
    assert remote.do_fault(_args(server.url, OPERATOR, mode="deterministic", amount="3")) == 0
    assert remote.do_fault(_args(server.url, OPERATOR, mode="random", amount="x")) == 2
    capsys.readouterr()
    raw = _args(server.url)
    raw.json = True
    assert remote.do_status(raw) == 0
    assert json.loads(capsys.readouterr().out)["state"] in {"Measuring", "SafeState"}
