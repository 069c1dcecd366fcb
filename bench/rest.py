"""REST benchmark: GET /status vs a bare Flask endpoint on the same waitress server, same run.

32 client threads (http.client, keep-alive) hammer one path for N seconds each; prints
requests/s, p50/p99 latency, the /status : /bare ratio and the command line to reproduce.

    .venv/bin/python bench/rest.py --seconds 5 --clients 32

The core is injectable: `run(core)` takes any GatewayView (e.g. a real GatewayCore fed by the
simulator at 1,000 samples/s); the command line uses a static in-memory core.
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import statistics
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from telemetryhub.api import ApiSettings, GatewayView, create_app
from telemetryhub.api.server import ApiServer
from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.models import DeviceState, Fault, Sample


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
    path: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

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


def measure(port: int, path: str, clients: int, seconds: float) -> Result:
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
    started = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for chunk in per_thread for x in chunk)
    if not latencies:
        return Result(path, 0, len(errors), elapsed, 0.0, 0.0)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Result(
        path, len(latencies), len(errors), elapsed, statistics.median(latencies) * 1e3, p99 * 1e3
    )


def build_app(core: GatewayView) -> DispatcherMiddleware:
    """The real API (rate limit off) with a plain Flask app (no guards) mounted at /bare."""
    api = create_app(core, ApiSettings(operator_tokens=("bench",), rate_per_s=0.0))
    bare = Flask("bare")

    @bare.get("/")
    def bare_json() -> object:
        return jsonify(state="Measuring", value=42.71)

    return DispatcherMiddleware(api, {"/bare": bare})


def run(core: GatewayView, clients: int = 32, seconds: float = 5.0, threads: int = 8) -> int:
    """Serve `core`, measure /bare then /status, print the figures."""
    server = ApiServer(build_app(core), "127.0.0.1", 0, threads=threads)
    server.start()
    try:
        measure(server.port, "/status", clients, min(1.0, seconds))  # warm-up
        results = [measure(server.port, p, clients, seconds) for p in ("/bare/", "/status")]
    finally:
        server.stop()
    for r in results:
        print(
            f"{r.path:<8} {r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms"
            f"  ({r.requests} requests, {r.errors} errors, {r.seconds:.1f} s)"
        )
    bare, status = results
    if bare.rps:
        print(f"/status : /bare = {status.rps / bare.rps:.2f}")
    print("reproduce:", shlex.join([sys.executable, *sys.argv]))
    return 0 if bare.errors == 0 and status.errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    args = parser.parse_args()
    return run(StaticCore(), args.clients, args.seconds, args.threads)


if __name__ == "__main__":
    sys.exit(main())
