"""Injected sensor faults and the five-failures rule that sends the board to SafeState."""

from micropython import const
from rng import XorShift16

NONE = const(0)
RANDOM = const(1)
INTERMITTENT = const(2)
DETERMINISTIC = const(3)

SAFE_AFTER_FAILURES = const(5)
_MASK30 = const(0x3FFFFFFF)


class Faults:
    # param (reported in STATUS as fault_param): RANDOM the probability in parts per million,
    # INTERMITTENT the failing run length, DETERMINISTIC the number of samples before SafeState.
    # `reset` clears the run counters but keeps the mode armed.

    def __init__(self, rng: XorShift16) -> None:
        self.rng = rng
        self.mode = NONE
        self.param = 0
        self.threshold = 0  # RANDOM: a read fails when rng.next() (1..65535) is below this
        self.phase = 0
        self.remaining = 0
        self.consecutive = 0
        self.read_failures = 0

    def configure(self, mode: int, param: int) -> None:
        self.mode = mode
        self.param = param
        # ppm * 65536 / 10^6 in small-int steps: 65536 / 10^6 = 1024 / 15625
        self.threshold = param // 15625 * 1024 + param % 15625 * 1024 // 15625
        self.clear()

    def clear(self) -> None:
        # restarts the injection pattern and the consecutive-failure run; totals are kept
        self.phase = 0
        self.remaining = self.param
        self.consecutive = 0

    def injects_failure(self) -> bool:
        mode = self.mode
        if mode == RANDOM:
            return self.rng.next() < self.threshold
        if mode == INTERMITTENT:
            if self.phase < self.param:
                self.phase += 1
                return True
            self.phase = 0
        return False

    def safe_state_due(self) -> bool:
        return self.mode == DETERMINISTIC and self.remaining <= 0

    def record_success(self) -> None:
        self.consecutive = 0
        if self.mode == DETERMINISTIC:
            self.remaining -= 1

    def record_failure(self) -> bool:
        # True when this failure completes the run that must enter SafeState
        self.consecutive += 1
        self.read_failures = (self.read_failures + 1) & _MASK30
        return self.consecutive >= SAFE_AFTER_FAILURES
