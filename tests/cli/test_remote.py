"""The remote commands against a real gateway (core on simulated boards, the API served as
`run` serves it): each kind of answer ends in its own documented exit code and one line; a
fleet answers a line per board."""

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
def _serve(sources: dict[str, TransportFactory], data_dir: Path) -> Iterator[Served]:
    store = SqliteStore.in_data_dir(data_dir)
    core = GatewayCore(store, CoreSettings(autostart=False), index=store)
    for name, source in sources.items():
        core.add_source(name, source)
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
    with _serve({"board": lambda: board}, tmp_path) as served:
        _wait_connected(served, 1)
        yield served


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Served]:
    """A gateway of two connected, Idle simulated boards: sim-a and sim-b."""
    boards = {d: SimulatedBoard(device_id=d, period_ms=20) for d in ("sim-a", "sim-b")}
    with _serve({d: (lambda b=b: b) for d, b in boards.items()}, tmp_path) as served:
        _wait_connected(served, 2)
        yield served


def _wait_connected(served: Served, boards: int) -> None:
    wait_until(
        lambda: sum(d.connected for d in served.core.devices()) == boards,
        10.0,
        "the simulated boards connect",
    )


@pytest.fixture
def boardless(tmp_path: Path) -> Iterator[Served]:
    """A gateway whose board never answers: every open of its port fails."""

    def no_board() -> Transport:
        raise TransportError("cannot open serial port /dev/ttyNONE: no such device")

    with _serve({"board": no_board}, tmp_path) as served:
        yield served


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_successful_command_exits_0(gateway: Served, capsys: pytest.CaptureFixture[str]) -> None:
    auth = ["--url", gateway.url, "--token", gateway.token]
    assert _cli(["start", *auth], capsys) == (0, "sim-0001: started\n", "")
    assert _cli(["period", "50", *auth], capsys) == (0, "sim-0001: period set to 50 ms\n", "")
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


def test_devices_lists_the_fleet_as_a_table_and_as_json(
    fleet: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(["devices", "--url", fleet.url], capsys)
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["DEVICE", "STATE", "LATEST"]
    assert [row.split()[:2] for row in rows] == [["sim-a", "Idle"], ["sim-b", "Idle"]]
    code, out, _ = _cli(["devices", "--json", "--url", fleet.url], capsys)
    listed = json.loads(out)
    assert [d["device_id"] for d in listed["devices"]] == ["sim-a", "sim-b"]
    assert listed["total"] == 2
    code, out, _ = _cli(["devices", "--state", "offline", "--url", fleet.url], capsys)
    assert out.splitlines()[1:] == ["(no board known)"]


def test_a_command_to_one_board_leaves_the_others(
    fleet: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = ["--url", fleet.url, "--token", fleet.token]
    assert _cli(["start", "--device-id", "sim-a", *auth], capsys) == (0, "sim-a: started\n", "")
    code, out, _ = _cli(["status", "--device-id", "sim-b", "--json", *auth], capsys)
    assert json.loads(out)["state"] == "Idle"
    code, out, _ = _cli(["status", *auth], capsys)
    assert "boards:  2 known, 2 connected" in out
    code, out, err = _cli(["stop", "--device-id", "nobody", *auth], capsys)
    assert code == 6  # no such board
    assert err == "telemetryhub stop: HTTP 404: no board 'nobody' is known to this gateway\n"


def test_a_fleet_command_some_boards_refuse_exits_7_naming_them(
    fleet: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = ["--url", fleet.url, "--token", fleet.token]
    assert _cli(["start", "--device-id", "sim-a", *auth], capsys)[0] == 0
    code, out, err = _cli(["start", *auth], capsys)  # sim-a already measures
    assert code == 7
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["sim-b"] == "started"
    assert "Measuring" in lines["sim-a"]
    assert err == "telemetryhub start: 1 of 2 boards refused: sim-a\n"
    assert _cli(["stop", *auth], capsys)[:2] == (0, "sim-a: stopped\nsim-b: stopped\n")
    code, _, err = _cli(["stop", *auth], capsys)  # every board refuses: the API's error
    assert code == 5
    assert err.startswith("telemetryhub stop: HTTP 409: ")
