"""ThreadPool: jobs run, failures are counted, lanes keep order, shutdown drains or cancels."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from telemetryhub.core.pool import ShutdownReport, ThreadPool
from telemetryhub.errors import PoolClosedError

WAIT_S = 5.0


@pytest.fixture
def pool() -> ThreadPool:
    pool = ThreadPool(workers=2)
    pool.start()
    return pool


def test_runs_jobs_on_named_workers(pool: ThreadPool) -> None:
    names: set[str] = set()
    lock = threading.Lock()

    def job() -> None:
        with lock:
            names.add(threading.current_thread().name)

    for _ in range(50):
        pool.submit(job)
    assert pool.wait_idle(WAIT_S)
    assert names <= {"pool-worker-0", "pool-worker-1"}
    metrics = pool.metrics()
    assert (metrics.threads, metrics.processed, metrics.queued, metrics.busy) == (2, 50, 0, 0)
    assert pool.shutdown().finished == 0
    assert pool.metrics().threads == 0


def test_default_pool_has_four_named_threads() -> None:
    pool = ThreadPool()
    pool.start()
    pool.start()  # idempotent
    names = {t.name for t in threading.enumerate()}
    assert {f"pool-worker-{i}" for i in range(4)} <= names
    assert pool.metrics().threads == 4
    pool.shutdown()


def test_failing_job_is_logged_counted_and_worker_survives(
    pool: ThreadPool, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    ran = threading.Event()
    with caplog.at_level(logging.ERROR, logger="telemetryhub.core.pool"):
        for _ in range(3):
            pool.submit(boom)
        pool.submit(ran.set)
        assert ran.wait(WAIT_S)
        assert pool.wait_idle(WAIT_S)
    metrics = pool.metrics()
    assert (metrics.failed, metrics.processed, metrics.threads) == (3, 4, 2)
    assert sum("boom" in r.exc_text for r in caplog.records if r.exc_text) == 3
    pool.shutdown()


def test_same_key_runs_serially_in_order(pool: ThreadPool) -> None:
    order: dict[str, list[int]] = {"a": [], "b": []}
    running = {"a": 0, "b": 0}
    overlap: list[str] = []
    lock = threading.Lock()

    def job(key: str, i: int) -> None:
        with lock:
            running[key] += 1
            if running[key] > 1:
                overlap.append(key)
        order[key].append(i)
        with lock:
            running[key] -= 1

    for i in range(300):
        for key in ("a", "b"):
            pool.submit(lambda k=key, n=i: job(k, n), key=key)  # type: ignore[misc]
    assert pool.wait_idle(WAIT_S)
    assert order == {"a": list(range(300)), "b": list(range(300))}
    assert overlap == []
    pool.shutdown()


def test_different_keys_run_in_parallel(pool: ThreadPool) -> None:
    both_running = threading.Barrier(2, timeout=WAIT_S)
    pool.submit(both_running.wait, key="dev-1")
    pool.submit(both_running.wait, key="dev-2")
    assert pool.wait_idle(WAIT_S)
    assert pool.metrics().failed == 0  # a BrokenBarrierError would have been counted
    pool.shutdown()


def _block(pool: ThreadPool, workers: int) -> threading.Event:
    """Occupy every worker until the returned event is set."""
    release = threading.Event()
    started = threading.Barrier(workers + 1, timeout=WAIT_S)

    def hold() -> None:
        started.wait()
        release.wait(WAIT_S)

    for _ in range(workers):
        pool.submit(hold)
    started.wait()
    return release


def test_shutdown_finishes_queued_jobs_and_says_how_many(pool: ThreadPool) -> None:
    release = _block(pool, 2)
    done: list[int] = []
    for i in range(10):
        pool.submit(lambda n=i: done.append(n), key="k")  # type: ignore[misc]
    assert pool.metrics().queued == 10
    reports: list[ShutdownReport] = []
    stopper = threading.Thread(target=lambda: reports.append(pool.shutdown()), name="stopper")
    stopper.start()
    deadline = time.monotonic() + WAIT_S
    while not pool.closed and time.monotonic() < deadline:
        release.wait(0.001)  # bounded poll: shutdown has not taken the lock yet
    release.set()
    stopper.join(WAIT_S)
    assert (reports[0].finished, reports[0].cancelled) == (10, 0)
    assert done == list(range(10))
    assert pool.metrics().processed == 12
    with pytest.raises(PoolClosedError):
        pool.submit(lambda: None)
    assert pool.shutdown().finished == 0  # idempotent


def test_shutdown_cancel_pending_returns_dropped_jobs(pool: ThreadPool) -> None:
    release = _block(pool, 2)
    ran: list[str] = []
    jobs = [lambda n=i: ran.append(f"free-{n}") for i in range(3)]
    lane = [lambda n=i: ran.append(f"lane-{n}") for i in range(3)]
    for job in jobs:
        pool.submit(job)
    for job in lane:
        pool.submit(job, key="dev")
    report = pool.shutdown(wait=False, cancel_pending=True)
    assert report.cancelled_jobs == (*jobs, *lane)
    release.set()
    pool.shutdown()
    assert ran == []
    metrics = pool.metrics()
    assert (metrics.cancelled, metrics.queued, metrics.processed) == (6, 0, 2)


def test_cancel_drops_waiting_jobs_of_a_running_lane(pool: ThreadPool) -> None:
    entered, release = threading.Event(), threading.Event()

    def head() -> None:
        entered.set()
        release.wait(WAIT_S)

    ran: list[int] = []
    pool.submit(head, key="dev")
    assert entered.wait(WAIT_S)
    pool.submit(lambda: ran.append(1), key="dev")
    report = pool.shutdown(wait=False, cancel_pending=True)
    assert report.cancelled == 1
    release.set()
    pool.shutdown()
    assert ran == []
    assert pool.metrics().processed == 1


def test_never_started_pool_reports_jobs_cancelled() -> None:
    pool = ThreadPool(workers=1)
    pool.submit(lambda: None)
    pool.submit(lambda: None, key="x")
    report = pool.shutdown()
    assert (report.finished, report.cancelled) == (0, 2)
    pool.start()  # after shutdown: does nothing
    assert pool.metrics().threads == 0


def test_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="worker"):
        ThreadPool(workers=0)
