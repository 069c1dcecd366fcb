"""ApiServer on a real socket (waitress), the urllib client and the remote CLI commands."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from telemetryhub.api.client import GatewayClient
from telemetryhub.api.server import ApiServer
from telemetryhub.cli.main import main
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


def test_remote_commands(
    server: ApiServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the CLI's entry point, which turns each answer into its exit code (cli/main.py).
    monkeypatch.delenv("TELEMETRYHUB_TOKEN", raising=False)
    url, op = ["--url", server.url], ["--url", server.url, "--token", OPERATOR]
    assert main(["status", *url]) == 0
    assert "state:   Idle" in capsys.readouterr().out
    assert main(["start", *url]) == 4  # 401
    err = capsys.readouterr().err
    assert "401" in err
    assert "TELEMETRYHUB_TOKEN" in err
    assert main(["start", *op]) == 0
    assert main(["fault", "deterministic", "3", *op]) == 0
    with pytest.raises(SystemExit) as usage:
        main(["fault", "random", "x", *op])
    assert usage.value.code == 2
    capsys.readouterr()
    assert main(["status", "--json", *url]) == 0
    assert json.loads(capsys.readouterr().out)["state"] in {"Measuring", "SafeState"}
