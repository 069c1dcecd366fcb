"""Helpers of the integration tests: bounded waits, a read-only view of a gateway's store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from telemetryhub.store.sqlite import DB_FILENAME

POLL_S = 0.02


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str = "condition") -> float:
    """Poll `condition` until true; returns the seconds it took, fails after `timeout_s`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not met within {timeout_s} s")
        time.sleep(POLL_S)
    return time.monotonic() - start


def stored_keys(data_dir: Path) -> list[tuple[str, int, int]]:
    """Every stored (device_id, boot_id, seq) in insertion order, read without writing."""
    database = data_dir / DB_FILENAME
    if not database.exists():
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT device_id, boot_id, seq FROM samples ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # the gateway has not created the table yet
        return []
    finally:
        conn.close()
    return [(str(d), int(b), int(s)) for d, b, s in rows]


def seqs_by_boot(keys: list[tuple[str, int, int]]) -> dict[int, list[int]]:
    """The stored seqs of each boot, sorted."""
    found: dict[int, list[int]] = {}
    for _, boot_id, seq in keys:
        found.setdefault(boot_id, []).append(seq)
    return {boot_id: sorted(seqs) for boot_id, seqs in found.items()}


class GatewayProcess:
    """`python -m telemetryhub run ...` as a child process, output kept in files under `logs`.

    `env` is added to a copy of this process's environment with every TELEMETRYHUB_ variable
    removed, so only what a test sets configures the gateway.
    """

    def __init__(self, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.args, self.logs = args, logs
        base = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRYHUB_")}
        self.env = {**base, **env}
        self.started = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        """Start a fresh process (the previous one must have ended)."""
        assert self.proc is None or self.proc.poll() is not None, "previous gateway still running"
        self.started += 1
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "telemetryhub", "run", *self.args],
                env=self.env,
                stdout=out,
                stderr=err,
            )
        return self.proc

    @property
    def stdout_path(self) -> Path:
        return self.logs / f"gateway-{self.started}.out"

    @property
    def stderr_path(self) -> Path:
        return self.logs / f"gateway-{self.started}.err"

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def assert_running(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        assert code is None, f"gateway exited with {code}: {self.stderr_path.read_text()[-2000:]}"

    def kill(self) -> None:
        """SIGKILL and reap (idempotent): the crash, or a failing test's cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds to exit); killed and failed after `timeout_s`."""
        assert self.proc is not None
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gateway still running {timeout_s} s after SIGTERM") from None
        return code, time.monotonic() - start
