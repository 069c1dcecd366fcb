"""Deterministic 16-bit xorshift: allocation-free noise and fault decisions on every port."""

from micropython import const

_MASK16 = const(0xFFFF)


class XorShift16:
    # Marsaglia's (7, 9, 8) triple: period 65535, every value a small int even on 32-bit ports.

    def __init__(self, seed: int) -> None:
        self.x = (seed & _MASK16) or 0xACE1

    def next(self) -> int:
        x = self.x
        x ^= (x << 7) & _MASK16
        x ^= x >> 9
        x ^= (x << 8) & _MASK16
        self.x = x
        return x  # 1..65535
