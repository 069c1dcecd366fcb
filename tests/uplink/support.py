"""Helpers shared by uplink and integration tests: sample factories, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable

from telemetryhub.models import Sample


def make_samples(n: int, devices: tuple[str, ...] = ("dev-a",), start: int = 0) -> list[Sample]:
    """n samples round-robin over `devices`, seq rising per device, ts = now-ish."""
    out = []
    for i in range(start, start + n):
        device = devices[i % len(devices)]
        seq = i // len(devices)
        out.append(Sample(device, 7, seq, seq * 100, 1_700_000_000.0 + i, float(i), 0, "C"))
    return out


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll `predicate` until true or `timeout_s` passes (for state owned by another thread)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)  # bounded poll of another thread's state; there is no event to wait on
    return predicate()
