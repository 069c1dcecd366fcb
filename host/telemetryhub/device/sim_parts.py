"""The simulated firmware's parts: its counters, sample ring and fault injection (firmware/)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from telemetryhub.models import FaultMode
from telemetryhub.protocol import MAX_SAMPLES_PER_FRAME, SEQ_MODULUS, WireSample
from telemetryhub.protocol.commands import PPM

_MASK30 = SEQ_MODULUS - 1
_HALF30 = SEQ_MODULUS // 2


@dataclass(slots=True)
class Counters:
    """The board's STATUS counters, each masked to 30 bits as the firmware does."""

    samples_taken: int = 0
    samples_sent: int = 0
    samples_resent: int = 0
    dropped_overflow: int = 0
    commands_rejected: int = 0
    read_failures: int = 0
    missed_slots: int = 0
    evicted_sent: int = 0

    def add(self, name: str, n: int = 1) -> None:
        setattr(self, name, (getattr(self, name) + n) & _MASK30)


class SimRing:
    """Samples kept until acked; `cursor` is the next to send, `sent_mark` the first never sent."""

    def __init__(self, capacity: int, counters: Counters) -> None:
        self.capacity = capacity
        self.items: deque[WireSample] = deque()
        self.cursor = 0
        self.sent_mark = 0
        self.next_seq = 0
        self._counters = counters

    def push(self, t_ms: int, value_milli: int) -> None:
        if len(self.items) == self.capacity:  # evict the oldest: lost only if never sent
            self._counters.add("evicted_sent" if self.sent_mark else "dropped_overflow")
            self._drop(1)
        self.items.append(WireSample(self.next_seq, t_ms & _MASK30, value_milli, 0))
        self.next_seq = (self.next_seq + 1) & _MASK30

    def oldest_seq(self) -> int:
        return self.items[0].seq if self.items else self.next_seq

    def _drop(self, n: int) -> None:
        for _ in range(n):
            self.items.popleft()
        self.cursor = max(0, self.cursor - n)
        self.sent_mark = max(0, self.sent_mark - n)

    def ack(self, seq: int) -> bool:
        """Free every sample up to seq; False (nothing freed) if seq is ahead of the newest."""
        if (self.next_seq - 1 - seq) & _MASK30 >= _HALF30:
            return False
        ahead = (seq - self.oldest_seq()) & _MASK30
        if ahead < len(self.items):
            self._drop(ahead + 1)
        return True

    def next_batch(self) -> tuple[list[WireSample], bool]:
        """Up to 16 samples from the cursor, never mixing resent and new ones."""
        resend = self.cursor < self.sent_mark
        end = self.sent_mark if resend else len(self.items)
        end = min(end, self.cursor + MAX_SAMPLES_PER_FRAME)
        batch = [self.items[i] for i in range(self.cursor, end)]
        self.cursor = end
        self.sent_mark = max(self.sent_mark, self.cursor)
        return batch, resend


class SimFaults:
    """Injected sensor faults, mirroring firmware/faults.py; `param` is STATUS fault_param."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mode = FaultMode.NONE
        self.param = 0
        self.phase = 0
        self.remaining = 0
        self.consecutive = 0

    def configure(self, mode: FaultMode, param: int) -> None:
        self.mode, self.param = mode, param
        self.clear()

    def clear(self) -> None:
        # `reset` calls this too: the run counters restart, the mode stays armed
        self.phase = 0
        self.remaining = self.param
        self.consecutive = 0

    def injects_failure(self) -> bool:
        if self.mode == FaultMode.RANDOM:
            return self.rng.random() * PPM < self.param
        if self.mode == FaultMode.INTERMITTENT:
            if self.phase < self.param:
                self.phase += 1
                return True
            self.phase = 0
        return False

    def safe_state_due(self) -> bool:
        return self.mode == FaultMode.DETERMINISTIC and self.remaining <= 0
