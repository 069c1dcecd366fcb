"""Fleet reads benchmark: what the dashboard's polls cost on a real gateway of N boards.

A real GatewayCore reads N SimulatedBoards (autostart, each sampling every P ms) into SQLite in
a temporary directory; after a warm-up, each read the dashboard makes is timed through the
Flask test client (no server, no network: the API and core's own cost, under ingest):
/devices (every second, fleet view), /samples/recent of every board (sparklines, every 5 s),
/devices/<id> (every second, one board's view), /status and /metrics (cap 200).

    .venv/bin/python bench/fleet_reads.py --boards 50 --period-ms 100
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask.testing import FlaskClient

from telemetryhub.api import ApiSettings, create_app
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.store.sqlite import SqliteStore


def _paths(ids: list[str]) -> list[str]:
    sparks = "&".join(f"device={d}" for d in ids[:100])
    return [
        "/devices",
        f"/samples/recent?seconds=120&points=30&{sparks}",
        f"/devices/{ids[len(ids) // 2]}",
        "/status",
        "/metrics",
    ]


def _time(client: FlaskClient, path: str, rounds: int) -> tuple[float, float, int]:
    """Median and max milliseconds of `rounds` GETs, and the answer's size in bytes."""
    client.get(path)
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            sys.exit(f"{path}: HTTP {answer.status_code}")
    return statistics.median(took), max(took), len(answer.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--period-ms", type=int, default=100)
    parser.add_argument("--warmup-s", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    ids = [f"sim-{n:04d}" for n in range(args.boards)]
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(Path(data_dir))
        core = GatewayCore(store, CoreSettings(autostart=True), index=store)
        for device_id in ids:
            board = SimulatedBoard(device_id=device_id, period_ms=args.period_ms)
            core.add_source(device_id, lambda board=board: board)
        core.open()
        try:
            time.sleep(args.warmup_s)
            client = create_app(core, ApiSettings(rate_per_s=0)).test_client()
            connected = sum(d.connected for d in core.devices())
            print(f"{connected}/{args.boards} boards connected, every {args.period_ms} ms")
            print(f"{'GET':44} {'median ms':>9} {'max ms':>7} {'kB':>6}")
            for path in _paths(ids):
                median, worst, size = _time(client, path, args.rounds)
                print(f"{path[:44]:44} {median:9.1f} {worst:7.1f} {size / 1000:6.1f}")
            print(f"stored {core.get_metrics()['samples_stored']} samples meanwhile")
        finally:
            core.close()
            store.close()
    print("reproduce: .venv/bin/python bench/fleet_reads.py " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
