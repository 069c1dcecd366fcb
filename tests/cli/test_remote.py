"""The remote commands against a real gateway (core on the simulator, the API served as `run`
serves it): each kind of answer ends in its own documented exit code and one line."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.api.bootstrap import start_api
from telemetryhub.cli.main import main
from telemetryhub.config import HttpSettings
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import TransportError
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.store.sqlite import SqliteStore
from telemetryhub.transport.base import Transport
from tests.integration.support import wait_until


@dataclasses.dataclass(frozen=True)
class Served:
    url: str
    token: str
    core: GatewayCore


@contextlib.contextmanager
def _serve(source: TransportFactory, data_dir: Path) -> Iterator[Served]:
    store = SqliteStore.in_data_dir(data_dir)
    core = GatewayCore(store, CoreSettings(autostart=False), index=store)
    core.add_source("board", source)
    core.open()
    http = dataclasses.replace(HttpSettings(), port=0, rate_limit_per_s=0.0)
    server = start_api(core, http, data_dir, io.StringIO())
    try:
        yield Served(server.url, (data_dir / "operator.token").read_text().strip(), core)
    finally:
        server.stop()
        core.close()
        store.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Served]:
    """A gateway whose simulated board is connected and Idle."""
    board = SimulatedBoard(period_ms=20)
    with _serve(lambda: board, tmp_path) as served:
        wait_until(
            lambda: (device := served.core.device()) is not None and device.connected,
            10.0,
            "the simulated board connects",
        )
        yield served


@pytest.fixture
def boardless(tmp_path: Path) -> Iterator[Served]:
    """A gateway whose board never answers: every open of its port fails."""

    def no_board() -> Transport:
        raise TransportError("cannot open serial port /dev/ttyNONE: no such device")

    with _serve(no_board, tmp_path) as served:
        yield served


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_successful_command_exits_0(gateway: Served, capsys: pytest.CaptureFixture[str]) -> None:
    auth = ["--url", gateway.url, "--token", gateway.token]
    assert _cli(["start", *auth], capsys) == (0, "started\n", "")
    assert _cli(["period", "50", *auth], capsys) == (0, "period set to 50 ms\n", "")
    code, out, _ = _cli(["status", "--json", "--url", gateway.url], capsys)
    assert code == 0
    status = json.loads(out)
    assert status["state"] == "Measuring"
    assert status["device"]["period_ms"] == 50


def test_a_refused_transition_exits_5(gateway: Served, capsys: pytest.CaptureFixture[str]) -> None:
    auth = ["--url", gateway.url, "--token", gateway.token]
    assert _cli(["start", *auth], capsys)[0] == 0
    code, _, err = _cli(["start", *auth], capsys)  # already Measuring
    assert code == 5
    assert err.startswith("telemetryhub start: HTTP 409: ")
    assert err.count("\n") == 1


def test_a_missing_or_wrong_token_exits_4(
    gateway: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEMETRYHUB_TOKEN", raising=False)
    code, _, err = _cli(["start", "--url", gateway.url], capsys)
    assert code == 4
    assert "HTTP 401" in err
    assert "pass --token or set TELEMETRYHUB_TOKEN" in err
    assert err.count("\n") == 1
    code, _, err = _cli(["start", "--url", gateway.url, "--token", "not-the-token"], capsys)
    assert code == 4
    assert "HTTP 403" in err


def test_an_unreachable_gateway_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = _cli(["status", "--url", f"http://127.0.0.1:{port}"], capsys)
    assert code == 3
    assert err.startswith(
        f"telemetryhub status: cannot reach the gateway at http://127.0.0.1:{port}"
    )


def test_no_device_connected_exits_6(
    boardless: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(["start", "--url", boardless.url, "--token", boardless.token], capsys)
    assert code == 6
    assert "HTTP 503" in err
