"""Throughput of the engine pieces: TelemetryQueue, ThreadPool, SampleValidator, SqliteStore.

Run: .venv/bin/python bench/bench_engine.py  (prints one line per measurement)
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable

from telemetryhub.core import SampleValidator, TelemetryQueue, ThreadPool
from telemetryhub.errors import QueueClosedError
from telemetryhub.models import Sample
from telemetryhub.store import SqliteStore


def _samples(count: int, device_id: str = "dev-1") -> list[Sample]:
    return [
        Sample(device_id, 1, i, i * 10, 1.7e9 + i / 100, float(i % 100), 0, "C")
        for i in range(count)
    ]


def _rate(count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def bench_queue(items: int, batch: int) -> float:
    """One producer, one consumer; the consumer drains with pop_many(batch) (or pop for 1)."""
    queue: TelemetryQueue[int] = TelemetryQueue()

    def consume() -> None:
        try:
            while True:
                if batch == 1:
                    queue.pop()
                else:
                    queue.pop_many(batch)
        except QueueClosedError:
            return

    def run() -> None:
        consumer = threading.Thread(target=consume, name="bench-consumer")
        consumer.start()
        for i in range(items):
            queue.push(i)
        queue.close()
        consumer.join()

    return _rate(items, run)


def bench_pool(jobs: int, keyed: bool) -> float:
    pool = ThreadPool()
    pool.start()

    def run() -> None:
        for i in range(jobs):
            pool.submit(lambda: None, key=i % 4 if keyed else None)
        pool.shutdown()

    return _rate(jobs, run)


def bench_store(rows: int, batch: int) -> float:
    samples = _samples(rows)
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore.in_data_dir(data_dir)

        def run() -> None:
            for i in range(0, rows, batch):
                store.write_batch(samples[i : i + batch])

        rate = _rate(rows, run)
        store.close()
    return rate


def main() -> None:
    print(f"queue push/pop, 1 item each:     {bench_queue(200_000, 1):>12,.0f} items/s")
    print(f"queue push + pop_many(256):      {bench_queue(200_000, 256):>12,.0f} items/s")
    print(f"pool submit+run, no key:         {bench_pool(100_000, False):>12,.0f} jobs/s")
    print(f"pool submit+run, 4 keyed lanes:  {bench_pool(100_000, True):>12,.0f} jobs/s")
    samples = _samples(200_000)
    validator = SampleValidator()
    batches = [samples[i : i + 256] for i in range(0, len(samples), 256)]
    rate = _rate(len(samples), lambda: [validator.validate(b) for b in batches])
    print(f"validate, batches of 256:        {rate:>12,.0f} samples/s")
    print(f"store write_batch(256):          {bench_store(200_000, 256):>12,.0f} rows/s")
    print(f"store write_batch(1):            {bench_store(10_000, 1):>12,.0f} rows/s")


if __name__ == "__main__":
    main()
