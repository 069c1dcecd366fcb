"""A fixed set of named worker threads running submitted jobs, with per-key serial lanes."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from telemetryhub.errors import PoolClosedError

_log = logging.getLogger(__name__)

Job = Callable[[], object]

DEFAULT_WORKERS = 4


@dataclass(frozen=True, slots=True)
class PoolMetrics:
    """A snapshot of the pool: `queued` waits to run, `busy` workers are running a job."""

    threads: int
    busy: int
    queued: int
    processed: int
    failed: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What `shutdown` did with the jobs that were queued when it was called.

    `finished`: jobs that were queued (not yet running) when shutdown was called and that ran
    to completion or failure before it returned (0 with `wait=False`); `cancelled_jobs`:
    the jobs dropped by `cancel_pending=True` (or because the pool never started), in
    submission order, so the caller can account for or re-run them.
    """

    finished: int
    cancelled_jobs: tuple[Job, ...]

    @property
    def cancelled(self) -> int:
        """How many jobs were dropped."""
        return len(self.cancelled_jobs)


@dataclass(frozen=True, slots=True)
class _Task:
    fn: Job
    key: Hashable | None


class ThreadPool:
    """N named, non-daemon workers ("<name>-worker-0", ...) running jobs in submission order.

    Ordering: jobs without a key run in parallel, in FIFO start order. Jobs submitted with the
    same `key` run one at a time, in submission order (a serial lane), so e.g. store writes for
    one device never overtake each other; different keys still run in parallel.

    A job that raises is logged with its traceback and counted in `failed`; the worker goes on.
    `submit` may be called from any thread (also from a job). The constructor wires; `start()`
    starts the threads; `shutdown()` is idempotent and joins them.
    """

    def __init__(self, workers: int = DEFAULT_WORKERS, name: str = "pool") -> None:
        if workers < 1:
            raise ValueError(f"a ThreadPool needs >= 1 worker, got {workers}")
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._ready: deque[_Task] = deque()
        # A key is in _lanes while one of its jobs is ready or running; later jobs wait here.
        self._lanes: dict[Hashable, deque[Job]] = {}
        self._queued = 0
        self._busy = 0
        self._processed = 0
        self._failed = 0
        self._cancelled = 0
        self._closed = False
        self._started = False
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-worker-{i}", daemon=False)
            for i in range(workers)
        ]

    def start(self) -> None:
        """Start the worker threads; idempotent. Jobs submitted before start wait for it."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Job, key: Hashable | None = None) -> None:
        """Queue `fn()`; jobs with the same non-None `key` run serially in submission order.

        Never blocks. Raises PoolClosedError after `shutdown()`.
        """
        with self._lock:
            if self._closed:
                raise PoolClosedError("submit on a ThreadPool that was shut down")
            self._queued += 1
            if key is not None:
                lane = self._lanes.get(key)
                if lane is not None:
                    lane.append(fn)
                    return
                self._lanes[key] = deque()
            self._ready.append(_Task(fn, key))
            self._work.notify()

    @property
    def closed(self) -> bool:
        """True once `shutdown()` was called: `submit` raises from then on."""
        return self._closed

    def metrics(self) -> PoolMetrics:
        """Counters read together under the lock."""
        with self._lock:
            return PoolMetrics(
                threads=sum(t.is_alive() for t in self._threads),
                busy=self._busy,
                queued=self._queued,
                processed=self._processed,
                failed=self._failed,
                cancelled=self._cancelled,
            )

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until no job is queued or running; False if `timeout_s` passed first."""
        with self._lock:
            return self._idle.wait_for(lambda: self._queued == 0 and self._busy == 0, timeout_s)

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> ShutdownReport:
        """Refuse new jobs, then finish (default) or drop the queued ones and stop the workers.

        With `cancel_pending=True` queued jobs are removed and returned in the report; running
        jobs always complete. With `wait=True` the workers are joined (without a time limit: a
        job that never returns blocks shutdown, which is the honest outcome). With `wait=False`
        the call returns at once and `finished` is 0; call again with `wait=True` to join.
        A pool that was never started runs nothing: its queued jobs come back as cancelled.
        Idempotent: a later call reports only what was still queued when it was made.
        """
        with self._lock:
            self._closed = True
            cancelled = self._drop_pending() if cancel_pending or not self._started else []
            pending = self._queued
            self._work.notify_all()
        if not wait:
            return ShutdownReport(finished=0, cancelled_jobs=tuple(cancelled))
        if self._started:
            for thread in self._threads:
                thread.join()
        return ShutdownReport(finished=pending, cancelled_jobs=tuple(cancelled))

    def _drop_pending(self) -> list[Job]:
        """Remove every queued job (lock held), keeping submission order within each lane."""
        dropped: list[Job] = []
        for task in self._ready:
            dropped.append(task.fn)
            if task.key is not None:
                dropped.extend(self._lanes.pop(task.key))
        # Lanes whose head job is running: their waiting jobs are dropped too.
        for lane in self._lanes.values():
            dropped.extend(lane)
            lane.clear()
        self._ready.clear()
        self._queued -= len(dropped)
        self._cancelled += len(dropped)
        self._idle.notify_all()
        return dropped

    def _run(self) -> None:
        """Worker loop: take a ready task, run it, release its lane; exit when closed and empty."""
        while True:
            with self._lock:
                self._work.wait_for(lambda: bool(self._ready) or self._exhausted())
                if not self._ready:
                    return
                task = self._ready.popleft()
                self._queued -= 1
                self._busy += 1
            failed = self._call(task.fn)
            with self._lock:
                self._busy -= 1
                self._processed += 1
                self._failed += failed
                if task.key is not None:
                    self._release_lane(task.key)
                if self._exhausted():
                    self._work.notify_all()
                if self._queued == 0 and self._busy == 0:
                    self._idle.notify_all()

    def _exhausted(self) -> bool:
        """Closed with nothing left that could become ready (lock held)."""
        return self._closed and self._queued == 0

    def _release_lane(self, key: Hashable) -> None:
        """Move the lane's next job to the ready queue, or retire the lane (lock held)."""
        lane = self._lanes[key]  # a cancelling shutdown empties a running lane, never removes it
        if lane:
            self._ready.append(_Task(lane.popleft(), key))
            self._work.notify()
        else:
            del self._lanes[key]

    @staticmethod
    def _call(fn: Job) -> int:
        """Run one job; 1 if it raised (logged with traceback), else 0."""
        try:
            fn()
        except Exception:
            _log.exception("pool job %r failed", fn)
            return 1
        return 0
