"""Preallocated queue of encoded frames that the link drains without ever blocking the loop."""

from hal import Link
from micropython import const

SLOT = const(257)  # the longest wire frame: 0x00, COBS(254-byte body), 0x00


class TxQueue:
    # One slot per frame, oldest first. put() copies a frame in (a C memcpy, no allocation);
    # drain() writes what the link takes now and keeps the rest, the head frame possibly
    # half-written, for the next loop.

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.buf = bytearray(slots * SLOT)
        self.lens = [0] * slots
        self.head = 0
        self.used = 0
        self.done = 0  # bytes of the head frame already written

    def free(self) -> int:
        return self.slots - self.used

    def put(self, frame: memoryview) -> bool:
        # False (nothing copied) when every slot is taken
        if self.used == self.slots:
            return False
        i = self.head + self.used
        if i >= self.slots:
            i -= self.slots
        base = i * SLOT
        n = len(frame)
        self.buf[base : base + n] = frame
        self.lens[i] = n
        self.used += 1
        return True

    def drain(self, link: Link) -> None:
        while self.used:
            head = self.head
            done = self.done
            left = self.lens[head] - done
            n = link.write(self.buf, head * SLOT + done, left)
            if n <= 0:
                return
            if n < left:
                self.done = done + n
                continue
            self.done = 0
            head += 1
            self.head = 0 if head == self.slots else head
            self.used -= 1
