"""SeqLedger: what the host knows of one boot's seqs, so that every sample is settled or lost.

For one `(device_id, boot_id)` the ledger tracks the seqs received, the seqs settled (stored,
duplicate or rejected: nothing more will be done with them) and the board's *floor*, the oldest
seq the board still holds. From these it derives:

- `ack_point`: the highest seq below which everything is settled or lost: what the host acks.
  A hole (a frame lost on the way) stops it, so the board keeps the hole and can resend it.
- `lost` by reason: seqs below the floor that never arrived. The floor only rises, so each
  lost seq is counted once, when the board can no longer send it.

Seqs are host-extended (unwrapped) integers. Not thread-safe: one owner (the link loop).
"""

from __future__ import annotations

import bisect
import enum
from collections import Counter
from collections.abc import Iterable, Iterator


class LossReason(enum.StrEnum):
    """Why samples the board took never reached the host (the `lost` family of counters)."""

    BOARD_OVERFLOW = "board_overflow"  # the board's ring overflowed while the host was reading
    DOWNTIME = "downtime"  # the ring overflowed while the link (or the gateway) was down
    REBOOT = "reboot"  # the board rebooted with samples the host had not received


class Ranges:
    """A set of ints kept as sorted, disjoint, non-adjacent half-open ranges [start, end)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        lo = bisect.bisect_left(self._ends, start)  # first range that ends at or after start
        hi = bisect.bisect_right(self._starts, end)  # ranges starting at or before end
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def add_all(self, values: Iterable[int]) -> None:
        for start, end in runs(values):
            self.add(start, end)

    def end_of_run(self, value: int) -> int | None:
        """The end of the range holding `value`, or None if `value` is not in the set."""
        i = bisect.bisect_right(self._starts, value) - 1
        return self._ends[i] if i >= 0 and value < self._ends[i] else None

    def next_start(self, value: int) -> int | None:
        """The smallest member >= `value`, or None."""
        if self.end_of_run(value) is not None:
            return value
        i = bisect.bisect_right(self._starts, value)
        return self._starts[i] if i < len(self._starts) else None

    def count_in(self, start: int, end: int) -> int:
        """How many members lie in [start, end)."""
        total = 0
        for s, e in zip(self._starts, self._ends, strict=True):
            total += max(0, min(e, end) - max(s, start))
        return total

    def discard_below(self, value: int) -> None:
        while self._starts and self._ends[0] <= value:
            del self._starts[0], self._ends[0]
        if self._starts and self._starts[0] < value:
            self._starts[0] = value

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def __bool__(self) -> bool:
        return bool(self._starts)

    @property
    def lowest(self) -> int | None:
        return self._starts[0] if self._starts else None

    @property
    def highest(self) -> int | None:
        return self._ends[-1] - 1 if self._ends else None


def runs(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs of `values` (in the order given) as half-open ranges."""
    start = end = None
    for value in values:
        if end is not None and value == end:
            end += 1
            continue
        if start is not None and end is not None:
            yield start, end
        start, end = value, value + 1
    if start is not None and end is not None:
        yield start, end


class SeqLedger:
    """The seq accounting of one boot; see the module docstring.

    `settled_through` is the highest seq known settled when the ledger starts (-1 for none):
    after a gateway restart it is the newest seq in the store.
    """

    def __init__(self, settled_through: int = -1) -> None:
        self.ack_point = settled_through
        self.floor = settled_through + 1
        self.highest_seen = settled_through
        self.lost: Counter[str] = Counter()
        self._received = Ranges()  # above ack_point
        self._settled = Ranges()  # above ack_point

    def receive(self, seqs: Iterable[int]) -> int:
        """Seqs that arrived from the board (new or resent); how many had arrived before."""
        again = 0
        for start, end in runs(seqs):
            if end - 1 > self.highest_seen:
                self.highest_seen = end - 1
            fresh = max(start, self.ack_point + 1)
            again += max(0, min(end, fresh) - start) + self._received.count_in(fresh, end)
            self._received.add(fresh, end)
        return again

    def settle(self, seqs: Iterable[int]) -> bool:
        """Seqs the pipeline finished with; True if `ack_point` moved."""
        for start, end in runs(seqs):
            self._settled.add(max(start, self.ack_point + 1), end)
        return self._advance()

    def raise_floor(self, floor: int, reason: LossReason) -> int:
        """The board holds nothing below `floor` any more: count what never arrived as lost."""
        if floor <= self.floor:
            return 0
        start = max(self.floor, self.ack_point + 1)
        lost = max(0, floor - start) - self._received.count_in(start, floor)
        self.floor = floor
        if lost:
            self.lost[reason] += lost
        self._advance()
        return lost

    def end_of_boot(self, next_seq: int | None = None) -> int:
        """The board rebooted: it will never send what it had not sent (up to `next_seq` or the
        highest seq seen). Returns how many were lost."""
        known_end = max(self.highest_seen + 1, next_seq or 0)
        return self.raise_floor(known_end, LossReason.REBOOT)

    @property
    def has_hole(self) -> bool:
        """A seq after the ack point never arrived while later ones did (lost on the way)."""
        return bool(self._received) and self._received.end_of_run(self.ack_point + 1) is None

    @property
    def unsettled(self) -> int:
        """Seqs received and not yet settled (in the pipeline, or given up at shutdown)."""
        return len(self._received) - len(self._settled)

    def unsettled_below_floor(self) -> int:
        """Received, never settled, and no longer held by the board: lost if given up now."""
        top = self.floor
        return self._received.count_in(self.ack_point + 1, top) - self._settled.count_in(
            self.ack_point + 1, top
        )

    def _advance(self) -> bool:
        before = self.ack_point
        while True:
            nxt = self.ack_point + 1
            end = self._settled.end_of_run(nxt)
            if end is not None:
                self.ack_point = end - 1
                continue
            if nxt < self.floor and self._received.end_of_run(nxt) is None:
                # lost (counted when the floor rose): skip to the next received seq or the floor
                upto = self._received.next_start(nxt)
                self.ack_point = min(self.floor, upto if upto is not None else self.floor) - 1
                continue
            break
        if self.ack_point != before:
            self._received.discard_below(self.ack_point + 1)
            self._settled.discard_below(self.ack_point + 1)
            return True
        return False
