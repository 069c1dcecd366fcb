"""A LinkLoop with an in-memory Intake that 'stores' and settles like the core, for fleet tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from telemetryhub.device.base import DeviceSnapshot, LinkChange, SampleBatch, StateChange
from telemetryhub.fleet.loop import LinkLoop, LoopSettings
from telemetryhub.fleet.port import PortSettings, TransportFactory
from telemetryhub.models import Sample


class MemoryIntake:
    """Keeps every batch and event; settles (so the loop acks) unless told not to.

    `refuse` makes `offer` say no (a full pipeline). Waiting is on a condition notified by
    every call, with a timeout guard.
    """

    def __init__(self, *, settle: bool = True) -> None:
        self.settle_batches = settle
        self.refuse = False
        self.shedding = False
        self.loop: LinkLoop | None = None
        self.batches: list[SampleBatch] = []
        self.events: list[StateChange | LinkChange] = []
        self.stored: dict[tuple[str, int, int], Sample] = {}
        self.offers_refused = 0
        self._cond = threading.Condition()

    def offer(self, batch: SampleBatch) -> bool:
        with self._cond:
            if self.refuse:
                self.offers_refused += 1
                return False
            self.batches.append(batch)
            for sample in batch.samples:
                self.stored.setdefault((sample.device_id, sample.boot_id, sample.seq), sample)
            self._cond.notify_all()
        if self.settle_batches and self.loop is not None:
            info = batch.device
            self.loop.settle(info.device_id, info.boot_id, [s.seq for s in batch.samples])
        return True

    def note(self, event: StateChange | LinkChange) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def overloaded(self) -> bool:
        return self.shedding

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until `predicate()` holds (re-checked on every intake call, and every 20 ms)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():  # outside the lock: a predicate may wait for the loop
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("condition not met in time")
            with self._cond:
                self._cond.wait(min(left, 0.02))

    def link_changes(self) -> list[LinkChange]:
        with self._cond:
            return [e for e in self.events if isinstance(e, LinkChange)]

    def state_changes(self) -> list[StateChange]:
        with self._cond:
            return [e for e in self.events if isinstance(e, StateChange)]

    def count(self, boot_id: int | None = None) -> int:
        with self._cond:
            return sum(1 for key in self.stored if boot_id is None or key[1] == boot_id)

    def seqs(self, boot_id: int) -> list[int]:
        with self._cond:
            return sorted(seq for (_, boot, seq) in self.stored if boot == boot_id)

    def received(self) -> int:
        with self._cond:
            return sum(len(b.samples) for b in self.batches)

    def ups(self) -> int:
        return sum(1 for c in self.link_changes() if c.connected)


class Harness:
    """A running LinkLoop over the given ports, with its MemoryIntake."""

    def __init__(self, intake: MemoryIntake, loop: LinkLoop) -> None:
        self.intake = intake
        self.loop = loop

    def device(self, device_id: str | None = None) -> DeviceSnapshot:
        devices = self.loop.snapshots()
        found = [d for d in devices if device_id is None or d.device_id == device_id]
        assert found, f"no device {device_id or ''} in {devices}"
        return found[0]

    def wait_connected(self, ups: int = 1, timeout_s: float = 5.0) -> None:
        self.intake.wait_for(lambda: self.intake.ups() >= ups, timeout_s)

    def wait(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        self.intake.wait_for(predicate, timeout_s)


MakeHarness = Callable[..., Harness]


@pytest.fixture
def make_harness() -> Iterator[MakeHarness]:
    loops: list[LinkLoop] = []

    def make(
        *factories: TransportFactory,
        settle: bool = True,
        port: PortSettings | None = None,
        status_every_s: float = 5.0,
        hole_repair_s: float = 0.2,
        resume: Callable[[str, int], int | None] | None = None,
        known: Callable[[str], bool] | None = None,
        shedding: bool = False,
    ) -> Harness:
        intake = MemoryIntake(settle=settle)
        intake.shedding = shedding  # before the loop starts: the first handshake sees it
        settings = LoopSettings(
            status_every_s=status_every_s,
            hole_repair_s=hole_repair_s,
            port=port or PortSettings(backoff_max_s=0.2),
        )
        loop = LinkLoop(intake, settings, resume=resume, known=known)
        intake.loop = loop
        for i, factory in enumerate(factories):
            loop.add_port(f"port{i}", factory)
        loop.start()
        loops.append(loop)
        return Harness(intake, loop)

    yield make
    for loop in loops:
        loop.close()
