"""Helpers for device tests: a manual clock, a scripted host for the simulator, a link poller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from telemetryhub.device.base import LinkChange, LinkEvent, SampleBatch
from telemetryhub.device.link import BoardLink
from telemetryhub.models import Sample
from telemetryhub.protocol import Command, Frame, FrameDecoder, Payload, Result, encode_command


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class BoardHost:
    """Drives a SimulatedBoard (or any transport) the way the firmware's host would, by hand."""

    def __init__(self, transport: object) -> None:
        self.transport = transport
        self.decoder = FrameDecoder()
        self.next_id = 0
        self.transport.open()  # type: ignore[attr-defined]

    def send(self, verb: str, *args: str) -> int:
        cmd_id = self.next_id
        self.next_id += 1
        self.transport.write(encode_command(Command(cmd_id, verb, args)))  # type: ignore[attr-defined]
        return cmd_id

    def frames(self) -> list[Frame]:
        data = self.transport.read(0)  # type: ignore[attr-defined]
        return [item for item in self.decoder.feed(data) if isinstance(item, Frame)]

    def payloads(self) -> list[Payload]:
        return [frame.payload for frame in self.frames()]

    def run(self, verb: str, *args: str) -> tuple[Result, list[Payload]]:
        """Send a command; its RESULT and every payload read up to it (inclusive)."""
        cmd_id = self.send(verb, *args)
        payloads = self.payloads()
        results = [p for p in payloads if isinstance(p, Result) and p.cmd_id == cmd_id]
        assert results, f"no RESULT for {verb} in {payloads}"
        return results[0], payloads


def wait_until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.002)


class Poller:
    """The core's producer thread in miniature: polls a link, keeps events, acks stored samples."""

    def __init__(self, link: BoardLink, *, ack: bool = True) -> None:
        self.link = link
        self.ack = ack
        self.events: list[LinkEvent] = []
        self.stored: dict[tuple[int, int], Sample] = {}
        self.received: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-poller")

    def start(self) -> Poller:
        self.link.open()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.link.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self.link.poll(0.02):
                with self._lock:
                    self.events.append(event)
                    if isinstance(event, SampleBatch):
                        self.received.extend(event.samples)
                        for sample in event.samples:
                            self.stored.setdefault((sample.boot_id, sample.seq), sample)
                if isinstance(event, SampleBatch) and self.ack:
                    last = event.samples[-1]
                    self.link.ack(last.boot_id, self.highest_contiguous(last.boot_id))

    def highest_contiguous(self, boot_id: int) -> int:
        with self._lock:
            seq = -1
            while (boot_id, seq + 1) in self.stored:
                seq += 1
            return seq

    def snapshot(self) -> list[LinkEvent]:
        with self._lock:
            return list(self.events)

    def link_changes(self) -> list[LinkChange]:
        return [e for e in self.snapshot() if isinstance(e, LinkChange)]

    def count_stored(self, boot_id: int | None = None) -> int:
        with self._lock:
            return sum(1 for key in self.stored if boot_id is None or key[0] == boot_id)

    def wait_connected(self, count: int = 1, timeout_s: float = 3.0) -> None:
        wait_until(lambda: sum(1 for c in self.link_changes() if c.connected) >= count, timeout_s)


@pytest.fixture
def start_poller() -> Iterator[Callable[..., Poller]]:
    pollers: list[Poller] = []

    def start(link: BoardLink, **kwargs: bool) -> Poller:
        poller = Poller(link, **kwargs).start()
        pollers.append(poller)
        return poller

    yield start
    for poller in pollers:
        poller.stop()
