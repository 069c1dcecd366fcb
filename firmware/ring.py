"""Preallocated sample ring: keeps every sample until acked, with a send cursor for resends."""

from array import array

from micropython import const

_MASK30 = const(0x3FFFFFFF)
_HALF30 = const(0x20000000)


class Ring:
    # Columns are preallocated; push() allocates nothing. Positions below are offsets from the
    # oldest unacked sample: `cursor` is the next one to send, `sent_mark` the first never sent.
    # Overflow evicts the oldest sample: counted in `dropped_overflow` if it was never sent
    # (lost on the board for certain), in `evicted_sent` if it was sent but not yet acked.

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seq = array("I", bytes(4 * capacity))
        self.t_ms = array("I", bytes(4 * capacity))
        self.value = array("i", bytes(4 * capacity))
        self.channel = bytearray(capacity)
        self.head = 0  # index of the oldest sample
        self.count = 0
        self.cursor = 0
        self.sent_mark = 0
        self.next_seq = 0
        self.dropped_overflow = 0
        self.evicted_sent = 0

    def push(self, t_ms: int, value_milli: int, channel: int) -> int:
        cap = self.capacity
        if self.count == cap:
            if self.sent_mark:
                self.evicted_sent = (self.evicted_sent + 1) & _MASK30
            else:
                self.dropped_overflow = (self.dropped_overflow + 1) & _MASK30
            self._drop(1)
        i = self.head + self.count
        if i >= cap:
            i -= cap
        seq = self.next_seq
        self.seq[i] = seq
        self.t_ms[i] = t_ms & _MASK30
        self.value[i] = value_milli
        self.channel[i] = channel
        self.count += 1
        self.next_seq = (seq + 1) & _MASK30
        return seq

    def _drop(self, n: int) -> None:
        head = self.head + n
        self.head = head - self.capacity if head >= self.capacity else head
        self.count -= n
        self.cursor = self.cursor - n if self.cursor > n else 0
        self.sent_mark = self.sent_mark - n if self.sent_mark > n else 0

    def index(self, offset: int) -> int:
        i = self.head + offset
        return i - self.capacity if i >= self.capacity else i

    def oldest_seq(self) -> int:
        # the seq of the oldest sample held; next_seq when the ring is empty
        return self.seq[self.head] if self.count else self.next_seq

    def ack(self, seq: int) -> int:
        # frees every sample up to and including seq (30-bit, wrap-aware); returns how many.
        # -1 (nothing freed) when seq is ahead of the newest sample taken: within the 2^29
        # seqs after it; a seq within the 2^29 before next_seq is at or behind the newest.
        if ((self.next_seq - 1 - seq) & _MASK30) >= _HALF30:
            return -1
        if not self.count:
            return 0
        ahead = (seq - self.seq[self.head]) & _MASK30
        if ahead >= self.count:
            return 0  # older than the oldest sample held (everything newer is still held)
        self._drop(ahead + 1)
        return ahead + 1

    def pending(self) -> int:
        return self.count - self.cursor

    def is_resend(self) -> bool:
        return self.cursor < self.sent_mark

    def advance(self, n: int) -> None:
        self.cursor += n
        if self.cursor > self.sent_mark:
            self.sent_mark = self.cursor

    def rewind(self) -> None:
        self.cursor = 0
