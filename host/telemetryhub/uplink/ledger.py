"""DeliveryLedger: what a receiver got, deduplicated by (device, boot_id, seq), with counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

Key = tuple[str, int, int]


class DeliveryLedger:
    """Counts unique samples, duplicates, and per-device order breaks among first arrivals.

    Feed it uplink payloads (MQTT: device at the top; HTTP: device per sample). Thread-safe:
    receivers add on their own threads while a test waits with `wait_for`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seen: set[Key] = set()
        self._order: list[Key] = []
        self._last: dict[str, tuple[int, int]] = {}
        self.duplicates = 0
        self.out_of_order = 0
        self.payloads = 0
        self.arrival_times: list[float] = []  # monotonic time of each first arrival

    def add_payload(self, payload: Mapping[str, Any]) -> int:
        """Record every sample of one payload; returns how many were new."""
        device = payload.get("device")
        new = 0
        with self._cond:
            self.payloads += 1
            for record in payload["samples"]:
                key = (
                    str(record.get("device", device)),
                    int(record["boot_id"]),
                    int(record["seq"]),
                )
                new += self._add_locked(key)
            self._cond.notify_all()
        return new

    def _add_locked(self, key: Key) -> int:
        if key in self._seen:
            self.duplicates += 1
            return 0
        self._seen.add(key)
        self._order.append(key)
        self.arrival_times.append(time.monotonic())
        device, boot_id, seq = key
        last = self._last.get(device)
        if last is not None and last[0] == boot_id and seq < last[1]:
            self.out_of_order += 1
        self._last[device] = (boot_id, seq)
        return 1

    @property
    def unique(self) -> int:
        with self._cond:
            return len(self._seen)

    def keys(self) -> list[Key]:
        """Unique keys in first-arrival order."""
        with self._cond:
            return list(self._order)

    def wait_for(self, unique: int, timeout_s: float) -> bool:
        """Block until at least `unique` distinct samples arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._seen) >= unique, timeout_s)

    def snapshot(self) -> dict[str, int]:
        with self._cond:
            return {
                "unique": len(self._seen),
                "duplicates": self.duplicates,
                "out_of_order": self.out_of_order,
                "payloads": self.payloads,
            }
