"""The board's state machine: Idle, Measuring, SafeState, and which command may move it."""

from micropython import const

IDLE = const(0)
MEASURING = const(1)
SAFE_STATE = const(2)

CAUSE_BOOT = const(0)
CAUSE_COMMAND = const(1)
CAUSE_FAULT = const(2)

_OK = const(0)
_INVALID_STATE = const(4)


class Device:
    # Each transition returns a protocol result code (0 OK, 4 INVALID_STATE); none raises.

    def __init__(self) -> None:
        self.state = IDLE

    def start(self) -> int:
        if self.state != IDLE:
            return _INVALID_STATE
        self.state = MEASURING
        return _OK

    def stop(self) -> int:
        if self.state != MEASURING:
            return _INVALID_STATE
        self.state = IDLE
        return _OK

    def reset(self) -> bool:
        # any state -> Idle; True when the state changed
        changed = self.state != IDLE
        self.state = IDLE
        return changed

    def fail(self) -> bool:
        # Measuring -> SafeState on a sensor fault; True when the state changed
        if self.state != MEASURING:
            return False
        self.state = SAFE_STATE
        return True

    def measuring(self) -> bool:
        return self.state == MEASURING
