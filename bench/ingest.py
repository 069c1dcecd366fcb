"""Ingest benchmark: samples/s through the whole pipeline (decode -> queue -> pool -> SQLite).

Each mode runs in its own process so its peak RSS is its own:
  sim          the simulated board in fast mode (the pipeline's ceiling)
  sim-unbatched  the same, with every read split into one-sample batches and the consumer's
               merging off (one queue item, one pool job and one SQLite transaction per
               sample): the baseline for the ratio
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
from telemetryhub.device.base import DeviceLink, LinkEvent, SampleBatch
from telemetryhub.device.link import BoardLink
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.store.sqlite import SqliteStore


class UnbatchedLink:
    """Wraps a link so every sample travels alone: batching off, everything else equal."""

    def __init__(self, link: BoardLink) -> None:
        self._link = link

    def poll(self, timeout_s: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        for event in self._link.poll(timeout_s):
            if isinstance(event, SampleBatch):
                events += [SampleBatch(event.device, (s,), event.resend) for s in event.samples]
            else:
                events.append(event)
        return events

    def __getattr__(self, name: str) -> object:
        return getattr(self._link, name)


def measure(
    link: DeviceLink, target: int, timeout_s: float, settings: CoreSettings
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)
        core = GatewayCore(link, store, settings)
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
        "dropped": summary.dropped,
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
            link = BoardLink(lambda: SerialTransport(emulator.port))
            result = _emulator_rate(link, emulator_seconds)
        return result
    board = SimulatedBoard(fast=True, samples_per_read=256)
    link = BoardLink(lambda: board)
    if mode == "sim-unbatched":
        return measure(UnbatchedLink(link), samples, 120, CoreSettings(max_samples_per_job=1))  # type: ignore[arg-type]
    return measure(link, samples, 120, CoreSettings())


def _emulator_rate(link: BoardLink, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)
        core = GatewayCore(link, store, CoreSettings())
        core.open()
        _wait(lambda: core.link.stats().connected, 10)
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
        "dropped": summary.dropped,
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
