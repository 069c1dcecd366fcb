"""Helpers of the integration tests: bounded waits, a read-only view of a gateway's store."""

from __future__ import annotations

import sqlite3
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
