"""A fleet in one gateway process: four emulated boards (the real firmware, distinct ids) and a
simulated one, driven over REST one board at a time; unplug one, kill -9 the gateway and start
it again: every board's every boot is stored exactly once, contiguous."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.api.client import GatewayClient
from telemetryhub.emulator import BoardEmulator
from tests.integration.conftest import SpawnGateway
from tests.integration.support import GatewayProcess, stored_keys, wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.slow]

TOKEN = "fleet-operator-token"
UNPLUGGED_S = 1.0  # the outage modelled, not a synchronisation


@pytest.fixture
def boards() -> Iterator[list[BoardEmulator]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(BoardEmulator(device_id=f"emu-{i}")) for i in range(4)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_for(
    spawn: SpawnGateway, boards: list[BoardEmulator], tmp_path: Path
) -> tuple[GatewayProcess, GatewayClient]:
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data"), "--http", f"127.0.0.1:{port}"]
    for board in boards:
        args += ["--device", board.port]
    args += ["--device", "sim"]
    env = {"TELEMETRYHUB_HTTP_OPERATOR_TOKEN": TOKEN, "TELEMETRYHUB_DEVICE_PERIOD_MS": "10"}
    return spawn(args, env), GatewayClient(f"http://127.0.0.1:{port}", TOKEN)


def states(client: GatewayClient) -> dict[str, str]:
    try:
        listed = client.devices()["devices"]
    except Exception:  # not serving yet
        return {}
    assert isinstance(listed, list)
    return {d["device_id"]: d["state"] for d in listed if d["connected"]}


def stored_count(tmp_path: Path, device_id: str) -> int:
    return sum(1 for key in stored_keys(tmp_path / "data") if key[0] == device_id)


def test_each_board_on_its_own_and_every_sample_once_across_a_crash(
    boards: list[BoardEmulator], spawn_gateway: SpawnGateway, tmp_path: Path
) -> None:
    gateway, client = gateway_for(spawn_gateway, boards, tmp_path)
    gateway.start()
    everyone = {"emu-0", "emu-1", "emu-2", "emu-3", "sim-0001"}
    wait_until(lambda: set(states(client).values()) == {"Measuring"} and
               set(states(client)) == everyone, 30, "five boards measuring")  # fmt: skip
    client.stop("emu-0")
    client.fault("deterministic", count=5, device_id="emu-1")
    wait_until(lambda: states(client).get("emu-1") == "SafeState", 10, "emu-1 in SafeState")
    now = states(client)
    assert (now["emu-0"], now["emu-2"], now["emu-3"], now["sim-0001"]) == (
        "Idle", "Measuring", "Measuring", "Measuring",
    )  # fmt: skip
    before = {d: stored_count(tmp_path, d) for d in ("emu-2", "emu-3")}
    boards[2].unplug()
    wait_until(lambda: "emu-2" not in states(client), 10, "emu-2 seen gone")
    wait_until(lambda: stored_count(tmp_path, "emu-3") > before["emu-3"] + 50, 10, "emu-3 on")
    boards[2].replug()
    wait_until(lambda: "emu-2" in states(client), 10, "emu-2 back")
    gateway.kill()  # the crash: whatever was not acked, the boards still hold
    gateway.start()
    wait_until(lambda: {"emu-2", "emu-3"} <= set(states(client)), 30, "boards back after restart")
    grown = {d: stored_count(tmp_path, d) for d in ("emu-2", "emu-3")}
    wait_until(
        lambda: all(stored_count(tmp_path, d) > grown[d] + 50 for d in grown), 10, "storing again"
    )
    code, _ = gateway.terminate(10)
    assert code == 0
    keys = stored_keys(tmp_path / "data")
    assert len(keys) == len(set(keys)), "a sample was stored twice"
    by_device_boot: dict[tuple[str, int], list[int]] = {}
    for device_id, boot_id, seq in keys:
        by_device_boot.setdefault((device_id, boot_id), []).append(seq)
    assert {d for d, _ in by_device_boot} == everyone
    for (device_id, boot_id), seqs in by_device_boot.items():
        seqs.sort()
        assert seqs == list(range(len(seqs))), f"{device_id} boot {boot_id:08x} has a gap"
    emulated_boots = {d: b for d, b in by_device_boot if d.startswith("emu-")}
    assert len(emulated_boots) == 4  # one boot each: the crash was the gateway's, not theirs
