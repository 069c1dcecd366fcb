"""Value objects shared by every layer: samples, device identity, states and fault modes."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DeviceState(enum.IntEnum):
    """The board's state machine (docs/protocol.md, field `state`)."""

    IDLE = 0
    MEASURING = 1
    SAFE_STATE = 2

    @property
    def label(self) -> str:
        """The name used in JSON and logs: Idle, Measuring, SafeState."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    DeviceState.IDLE: "Idle",
    DeviceState.MEASURING: "Measuring",
    DeviceState.SAFE_STATE: "SafeState",
}

# How a board of the fleet is shown and filtered (dashboard, `GET /devices?state=`, the
# `devices` command): its state, or "offline" when its link is down now.
OFFLINE = "offline"
DEVICE_STATUSES = (*_STATE_LABELS.values(), OFFLINE)


class FaultMode(enum.IntEnum):
    """Fault injection modes (docs/protocol.md, field `fault_mode`)."""

    NONE = 0
    RANDOM = 1
    INTERMITTENT = 2
    DETERMINISTIC = 3


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault-injection setting: `probability` for random, `count` for the others."""

    mode: FaultMode
    probability: float = 0.0
    count: int = 0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a board says about itself in HELLO."""

    device_id: str
    firmware_version: str
    boot_id: int
    proto_major: int
    proto_minor: int
    ring_capacity: int
    period_ms: int
    unit: str
    reset_cause: int
    state: DeviceState


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored measurement; `(device_id, boot_id, seq)` names it forever.

    `seq` is the host-extended (unwrapped) sequence number; `board_ms` the unwrapped board tick
    time; `ts` the UTC wall-clock time in seconds since the epoch derived from it.
    """

    device_id: str
    boot_id: int
    seq: int
    board_ms: int
    ts: float
    value: float
    channel: int
    unit: str
