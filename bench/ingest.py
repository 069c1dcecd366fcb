"""Ingest benchmark: samples/s through the whole pipeline (decode -> queue -> pool -> SQLite).

Each mode runs in its own process so its peak RSS is its own:
  sim          the simulated board in fast mode (the pipeline's ceiling)
  sim-unbatched  the same, one sample per read and the consumer's merging off (one frame,
               one queue item, one pool job and one SQLite transaction per sample): the
               baseline for the ratio
  emulator     the real firmware on the MicroPython unix port behind a pty, period 1 ms

Run: .venv/bin/python bench/ingest.py [--samples N] [--emulator-seconds S]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.store.sqlite import SqliteStore


def measure(
    source: TransportFactory, target: int, timeout_s: float, settings: CoreSettings
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)
        core = GatewayCore(store, settings)
        core.add_source("bench", source)
        core.open()
        stored = lambda: core.get_metrics()["samples_stored"]  # noqa: E731
        _wait(lambda: stored() > 0, timeout_s)
        start, first = time.perf_counter(), stored()
        _wait(lambda: stored() - first >= target, timeout_s)
        elapsed, count = time.perf_counter() - start, stored() - first
        summary = core.close()
        store.close()
    return {
        "samples_per_s": count / elapsed,
        "samples": count,
        "seconds": elapsed,
        "dropped": summary.dropped_total,
        "lost": summary.lost_total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _wait(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def run_mode(mode: str, samples: int, emulator_seconds: float) -> dict[str, float]:
    if mode == "emulator":
        from telemetryhub.emulator.board import BoardEmulator
        from telemetryhub.transport.serial_port import SerialTransport

        with BoardEmulator() as emulator:
            result = _emulator_rate(lambda: SerialTransport(emulator.port), emulator_seconds)
        return result
    if mode == "sim-unbatched":
        one = SimulatedBoard(fast=True, samples_per_read=1)
        return measure(lambda: one, samples, 120, CoreSettings(max_samples_per_job=1))
    board = SimulatedBoard(fast=True, samples_per_read=256)
    return measure(lambda: board, samples, 120, CoreSettings())


def _emulator_rate(source: TransportFactory, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)
        core = GatewayCore(store, CoreSettings())
        core.add_source("emulator", source)
        core.open()
        _wait(lambda: (device := core.device()) is not None and device.connected, 10)
        core.set_period(1)
        _wait(lambda: core.get_metrics()["samples_stored"] > 0, 10)
        first, start = core.get_metrics()["samples_stored"], time.perf_counter()
        time.sleep(seconds)  # a fixed measuring window, not synchronisation
        count, elapsed = core.get_metrics()["samples_stored"] - first, time.perf_counter() - start
        summary = core.close()
        store.close()
        seqs = [s.seq for s in SqliteStore.in_data_dir(data_dir).query(limit=10**7)]
    return {
        "samples_per_s": count / elapsed,
        "samples": count,
        "seconds": elapsed,
        "dropped": summary.dropped_total,
        "lost": summary.lost_total,
        "contiguous": float(seqs == list(range(seqs[0], seqs[0] + len(seqs)))) if seqs else 0.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--unbatched-samples", type=int, default=30_000)
    parser.add_argument("--emulator-seconds", type=float, default=5.0)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        n = args.unbatched_samples if args.mode == "sim-unbatched" else args.samples
        print(json.dumps(run_mode(args.mode, n, args.emulator_seconds)))
        return 0
    results = {}
    for mode in ("sim", "sim-unbatched", "emulator"):
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, *_passthrough(args)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    _report(results, args)
    return 0


def _passthrough(args: argparse.Namespace) -> list[str]:
    return [
        f"--samples={args.samples}",
        f"--unbatched-samples={args.unbatched_samples}",
        f"--emulator-seconds={args.emulator_seconds}",
    ]


def _report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(f"{'mode':<15}{'samples/s':>12}{'samples':>10}{'dropped':>9}{'peak RSS MiB':>14}")
    for mode, r in results.items():
        print(
            f"{mode:<15}{r['samples_per_s']:>12,.0f}{r['samples']:>10,.0f}"
            f"{r['dropped']:>9,.0f}{r['peak_rss_mib']:>14.1f}"
        )
    ratio = results["sim"]["samples_per_s"] / results["sim-unbatched"]["samples_per_s"]
    print(f"batched / unbatched: {ratio:.1f}x")
    print(f"emulator seq contiguous: {bool(results['emulator'].get('contiguous'))}")
    print(
        "reproduce: .venv/bin/python bench/ingest.py "
        f"--samples {args.samples} --unbatched-samples {args.unbatched_samples} "
        f"--emulator-seconds {args.emulator_seconds}"
    )


if __name__ == "__main__":
    sys.exit(main())
