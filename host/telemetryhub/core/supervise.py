"""ThreadWatch: no gateway thread ends unnoticed.

A thread that dies on an exception is logged with its traceback and counted (a
`threading.excepthook`, so paho's or any library's threads are seen too). The threads the
pipeline cannot run without are named here; while one of them is not alive the report says so,
and `/health` turns red: a gateway never looks alive while it does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ThreadDeath:
    thread: str
    error: str
    at: float


class ThreadWatch:
    """Counts thread deaths and checks the required threads; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deaths: list[ThreadDeath] = []
        self._count = 0
        self._required: list[str] = []  # name prefixes, e.g. "core-worker-"
        self._previous_hook: object = None
        self._installed = False

    def install(self) -> None:
        """Route uncaught thread exceptions here (the previous hook comes back on uninstall)."""
        with self._lock:
            if self._installed:
                return
            self._installed = True
            self._previous_hook = threading.excepthook
        threading.excepthook = self._hook

    def uninstall(self) -> None:
        with self._lock:
            if not self._installed:
                return
            self._installed = False
            previous = self._previous_hook
            self._required.clear()
        if threading.excepthook == self._hook and callable(previous):
            threading.excepthook = previous

    def watch(self, name_prefix: str, *, required: bool) -> None:
        """Name a thread (prefix) the gateway needs alive from now on."""
        if required:
            with self._lock:
                self._required.append(name_prefix)

    def record(self, thread_name: str, error: BaseException) -> None:
        """A thread ended on `error` (also for threads that restart themselves)."""
        with self._lock:
            death = ThreadDeath(thread_name, f"{type(error).__name__}: {error}", time.time())
            self._deaths.append(death)
            del self._deaths[:-32]
            self._count += 1

    @property
    def deaths(self) -> int:
        with self._lock:
            return self._count

    def missing(self) -> list[str]:
        """Required threads not alive now."""
        alive = [t.name for t in threading.enumerate() if t.is_alive()]
        with self._lock:
            required = list(self._required)
        return [p for p in required if not any(name.startswith(p) for name in alive)]

    def report(self) -> dict[str, object]:
        missing = self.missing()
        with self._lock:
            recent = [
                {"thread": d.thread, "error": d.error, "at": d.at} for d in self._deaths[-8:]
            ]
            deaths = self._count
        return {"ok": not missing, "missing": missing, "deaths": deaths, "recent_deaths": recent}

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        error = args.exc_value if args.exc_value is not None else args.exc_type()
        _log.error("thread %s died", name, exc_info=error)
        self.record(name, error)
