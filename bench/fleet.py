"""Fleet benchmark: one gateway, 8 emulated boards at 10 ms and 100 simulated boards at 100 ms.

The emulators (the real firmware on the MicroPython unix port) run as `telemetryhub emulate`
processes of their own, so the threads and RSS measured are the gateway's alone; the simulated
boards live in the gateway (they are driven by its link-io thread, like real ports). Prints the
samples/s stored, arrival -> commit p50/p99 per class of board (bucket upper bounds), threads,
peak RSS, and the samples lost (taken by a board, not in the store: must be 0), then the command
that reproduces it, then one JSON line.

Run: .venv/bin/python bench/fleet.py [--seconds 60] [--emulators 8] [--simulated 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from telemetryhub.core.commands import BoardPolicy
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.core.metrics import HistogramSnapshot
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.store.sqlite import SqliteStore
from telemetryhub.transport.serial_port import SerialTransport

EMULATED_PERIOD_MS = 10
SIMULATED_PERIOD_MS = 100


@contextlib.contextmanager
def emulators(count: int) -> Iterator[list[tuple[str, str]]]:
    """`count` `telemetryhub emulate` processes: (device id, port) each."""
    procs: list[subprocess.Popen[str]] = []
    boards = []
    try:
        for i in range(count):
            device_id = f"emu-{i:02d}"
            cmd = [sys.executable, "-m", "telemetryhub", "emulate", "--device-id", device_id]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            boards.append((device_id, proc.stdout.readline().strip()))
        yield boards
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def merged(snapshots: list[HistogramSnapshot | None]) -> HistogramSnapshot | None:
    found = [s for s in snapshots if s is not None and s.count]
    if not found:
        return None
    counts = [sum(c) for c in zip(*(s.counts for s in found), strict=True)]
    return HistogramSnapshot(
        found[0].bounds_s, tuple(counts), sum(s.sum_s for s in found), sum(counts)
    )


def since(
    now: HistogramSnapshot | None, before: HistogramSnapshot | None
) -> HistogramSnapshot | None:
    """What `now` observed after `before` was taken."""
    if now is None or before is None:
        return now
    counts = tuple(a - b for a, b in zip(now.counts, before.counts, strict=True))
    return HistogramSnapshot(now.bounds_s, counts, now.sum_s - before.sum_s, sum(counts))


def ms(snapshot: HistogramSnapshot | None, q: float) -> float | None:
    bound = None if snapshot is None else snapshot.quantile_bound_s(q)
    return None if bound is None else round(bound * 1000, 1)


def run(args: argparse.Namespace) -> dict[str, object]:
    with emulators(args.emulators) as emulated, tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)
        policies = {d: BoardPolicy(EMULATED_PERIOD_MS) for d, _ in emulated}
        core = GatewayCore(
            store,
            CoreSettings(period_ms=SIMULATED_PERIOD_MS, boards=policies),
            index=store,
        )
        for _, port in emulated:
            core.add_source(port, lambda port=port: SerialTransport(port))
        simulated = [
            SimulatedBoard(device_id=f"sim-{i:04d}", period_ms=SIMULATED_PERIOD_MS)
            for i in range(args.simulated)
        ]
        for board in simulated:
            core.add_source(board.name, lambda board=board: board)
        result = measure(core, store, args, [d for d, _ in emulated], simulated)
        store.close()
    return result


def measure(
    core: GatewayCore,
    store: SqliteStore,
    args: argparse.Namespace,
    emulated: list[str],
    simulated: list[SimulatedBoard],
) -> dict[str, object]:
    devices = args.emulators + args.simulated
    core.open()
    deadline = time.monotonic() + 30
    while sum(d.connected for d in core.devices()) < devices and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # every board set up and measuring before the window opens
    names = emulated + [b.name[6:] for b in simulated]
    before = {d: core.views.latency(d) for d in names}  # the window's latencies only
    first, started = store.count(), time.perf_counter()
    threads, peak_rss = 0, 0.0
    while time.perf_counter() - started < args.seconds:
        time.sleep(1.0)  # a sampling tick of the measuring window, not a synchronisation
        threads, peak_rss = max(threads, threading.active_count()), max(peak_rss, rss_mib())
    stored = store.count() - first
    elapsed = time.perf_counter() - started
    core.stop()
    taken = {d.device_id: (d.board.samples_taken if d.board else 0) for d in core.devices()}
    summary = core.close()
    lost = sum(max(0, n - store.count(device_id)) for device_id, n in taken.items())
    window = {d: since(core.views.latency(d), before[d]) for d in names}
    emulated_latency = merged([window[d] for d in emulated])
    simulated_latency = merged([window[b.name[6:]] for b in simulated])
    return {
        "devices": devices,
        "connected": len([d for d in taken if taken[d]]),
        "samples_per_s": round(stored / elapsed),
        "emulated_p50_ms": ms(emulated_latency, 0.5),
        "emulated_p99_ms": ms(emulated_latency, 0.99),
        "simulated_p50_ms": ms(simulated_latency, 0.5),
        "simulated_p99_ms": ms(simulated_latency, 0.99),
        "threads": threads,
        "rss_mb": round(peak_rss, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "lost": lost + summary.lost_total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--emulators", type=int, default=8)
    parser.add_argument("--simulated", type=int, default=100)
    args = parser.parse_args()
    result = run(args)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")  # fmt: skip
    for key, value in result.items():
        print(f"  {key:<18} {value}")
    print("reproduce:", shlex.join([sys.executable, *sys.argv]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
