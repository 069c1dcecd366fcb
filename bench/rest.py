"""REST benchmark: GET /status vs a bare Flask endpoint, on waitress and on cheroot, same run.

By default the real gateway is served: GatewayCore over a SimulatedBoard sampling
every 1 ms (about 1,000 samples/s) into SQLite in a temporary directory; the rate actually
stored during the measuring windows is printed next to the figures. `--static` serves fixed
data instead (measures the API, not the pipeline).

For each server (waitress behind ApiServer, cheroot with the same app and thread count) 32
client threads (http.client, keep-alive) hammer /bare/ then /status for N seconds each; prints
requests/s, p50/p99 latency, the /status : /bare ratio per server and the command to reproduce.

    .venv/bin/python bench/rest.py --seconds 5 --clients 32
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot.wsgi import Server as CherootServer
from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from telemetryhub.api import ApiSettings, GatewayView, create_app
from telemetryhub.api.server import ApiServer
from telemetryhub.core.gateway import GatewayCore
from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.models import DeviceState, Fault, Sample
from telemetryhub.store.sqlite import SqliteStore

PATHS = ("/bare/", "/status")
SAMPLE_PERIOD_MS = 1
INGEST_START_TIMEOUT_S = 10.0


class StaticCore:
    """A core that answers reads from fixed data (measures the API, not the pipeline)."""

    def __init__(self) -> None:
        self.latency = LatencyHistogram()
        self.store = self
        self._status: dict[str, object] = {
            "state": "Measuring",
            "latest_sample": {"seq": 42, "value": 42.71, "unit": "C", "ts": time.time()},
            "metrics": {
                "samples_processed": 1337,
                "samples_dropped": 0,
                "pool_jobs_processed": 1337,
                "pool_jobs_queued": 4,
                "pool_num_threads": 4,
                "queue_depth": 3,
                "queue_capacity": 1000,
            },
            "link": {"connected": True, "crc_errors": 0, "reconnects": 0},
            "device": {"id": "bench", "period_ms": 1},
        }

    def query(
        self,
        device_id: str | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 1000,
    ) -> list[Sample]:
        return []

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reset_device(self) -> None: ...

    def inject_fault(self, fault: Fault) -> None: ...

    def set_period(self, period_ms: int) -> None: ...

    def device_state(self) -> DeviceState:
        return DeviceState.MEASURING

    def status(self) -> Mapping[str, object]:
        return self._status

    def recent_samples(self, seconds: float) -> list[Sample]:
        return []


@dataclass(frozen=True, slots=True)
class Result:
    server: str
    path: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    stored: int | None  # samples the gateway stored during the window (None: static core)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _client(
    port: int, path: str, stop: threading.Event, out: list[float], errs: list[int]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errs.append(response.status)
        except (OSError, http.client.HTTPException):
            errs.append(0)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        out.append(time.perf_counter() - t0)
    conn.close()


def measure(
    server: str,
    port: int,
    path: str,
    clients: int,
    seconds: float,
    stored: Callable[[], int] | None = None,
) -> Result:
    """Load `path` with `clients` keep-alive threads for `seconds`."""
    stop = threading.Event()
    per_thread: list[list[float]] = [[] for _ in range(clients)]
    errors: list[int] = []
    threads = [
        threading.Thread(
            target=_client, args=(port, path, stop, per_thread[i], errors), name=f"bench-{i}"
        )
        for i in range(clients)
    ]
    stored_before = stored() if stored else 0
    started = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    stored_in_window = stored() - stored_before if stored else None
    latencies = sorted(x for chunk in per_thread for x in chunk)
    if not latencies:
        return Result(server, path, 0, len(errors), elapsed, 0.0, 0.0, stored_in_window)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    p50 = statistics.median(latencies)
    return Result(
        server, path, len(latencies), len(errors), elapsed, p50 * 1e3, p99 * 1e3, stored_in_window
    )


def build_app(core: GatewayView) -> DispatcherMiddleware:
    """The real API (rate limit off) with a plain Flask app (no guards) mounted at /bare."""
    api = create_app(core, ApiSettings(operator_tokens=("bench",), rate_per_s=0.0))
    bare = Flask("bare")

    @bare.get("/")
    def bare_json() -> object:
        return jsonify(state="Measuring", value=42.71)

    return DispatcherMiddleware(api, {"/bare": bare})


@contextlib.contextmanager
def serve_waitress(app: Any, threads: int) -> Iterator[int]:
    """The gateway's own ApiServer (waitress for plain HTTP); yields the port."""
    server = ApiServer(app, "127.0.0.1", 0, threads=threads)
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


@contextlib.contextmanager
def serve_cheroot(app: Any, threads: int) -> Iterator[int]:
    """cheroot's WSGI server with the same app and thread count, made comparable to waitress.

    cheroot's defaults (listen backlog 5, keep-alive for 10 connections) close the other
    clients' connections and drop their reconnects' SYNs: ~1 s p99 from TCP retransmits. The
    backlog is set to waitress's (1024) and keep-alive to every connection instead.
    """
    server: Any = CherootServer(
        ("127.0.0.1", 0), app, numthreads=threads, server_name="bench", request_queue_size=1024
    )
    server.keep_alive_conn_limit = 1024
    server.prepare()
    thread = threading.Thread(target=server.serve, name="cheroot-server")
    thread.start()
    try:
        yield int(server.bind_addr[1])
    finally:
        server.stop()
        thread.join()


SERVERS: dict[str, Callable[[Any, int], contextlib.AbstractContextManager[int]]] = {
    "waitress": serve_waitress,
    "cheroot": serve_cheroot,
}


def run(
    core: GatewayView,
    clients: int = 32,
    seconds: float = 5.0,
    threads: int = 8,
    stored: Callable[[], int] | None = None,
) -> int:
    """Serve `core` on every server in turn, measure /bare then /status, print the figures.

    `stored` returns the gateway's count of stored samples; given, the ingest rate during the
    measuring windows is printed too.
    """
    app = build_app(core)
    results: list[Result] = []
    for name, serve in SERVERS.items():
        with serve(app, threads) as port:
            measure(name, port, "/status", clients, min(1.0, seconds))  # warm-up
            results += [measure(name, port, p, clients, seconds, stored) for p in PATHS]
    _report(results, clients, threads)
    return 0 if all(r.errors == 0 and r.requests for r in results) else 1


def _report(results: list[Result], clients: int, threads: int) -> None:
    print(f"{clients} keep-alive clients, {threads} server threads")
    print(
        f"{'server':<9} {'path':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'ingest/s':>8}"
    )
    for r in results:
        ingest = "-" if r.stored is None else f"{r.stored / r.seconds:.0f}"
        print(
            f"{r.server:<9} {r.path:<8} {r.rps:7.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.errors:6}"
            f" {ingest:>8}"
        )
    for name in SERVERS:
        bare, status = (r for r in results if r.server == name)
        if bare.rps:
            print(f"{name}: /status : /bare = {status.rps / bare.rps:.2f}")
    counts = [r.stored for r in results if r.stored is not None]
    if counts:
        window_s = sum(r.seconds for r in results)
        print(
            f"ingest while measuring: {sum(counts) / window_s:.0f} samples/s stored "
            f"({sum(counts)} samples in {window_s:.1f} s)"
        )
    print("reproduce:", shlex.join([sys.executable, *sys.argv]))


@contextlib.contextmanager
def real_gateway(data_dir: Path) -> Iterator[GatewayCore]:
    """GatewayCore over a SimulatedBoard at 1 ms (autostart) into SQLite, ingesting."""
    board = SimulatedBoard(period_ms=SAMPLE_PERIOD_MS)
    store = SqliteStore.in_data_dir(data_dir)
    core = GatewayCore(store, index=store)
    core.add_source("sim", lambda: board)
    try:
        core.open()
        _wait_for_ingest(core)
        yield core
    finally:
        core.close()
        store.close()


def _wait_for_ingest(core: GatewayCore) -> None:
    deadline = time.monotonic() + INGEST_START_TIMEOUT_S
    while core.get_metrics()["samples_stored"] == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"no sample stored within {INGEST_START_TIMEOUT_S} s")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint and server")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=8, help="server worker threads")
    parser.add_argument(
        "--static", action="store_true", help="fixed data instead of the ingesting gateway"
    )
    args = parser.parse_args()
    if args.static:
        return run(StaticCore(), args.clients, args.seconds, args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp, real_gateway(Path(tmp)) as core:
        code = run(
            core,
            args.clients,
            args.seconds,
            args.threads,
            stored=lambda: core.get_metrics()["samples_stored"],
        )
        metrics = core.get_metrics()
        print(
            f"gateway: {metrics['samples_stored']} samples stored in all, "
            f"{metrics['samples_dropped']} dropped, queue high water {metrics['queue_high_water']}"
        )
        return code


if __name__ == "__main__":
    sys.exit(main())
