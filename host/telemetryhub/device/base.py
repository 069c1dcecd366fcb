"""What the link side hands the pipeline, and what it reports about each board: plain values."""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetryhub.models import DeviceInfo, DeviceState, Fault, Sample


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples of one boot decoded from one read of a link, in board order.

    `received_at` is the monotonic time the bytes were read: arrival -> commit latency starts
    there.
    """

    device: DeviceInfo
    samples: tuple[Sample, ...]
    resend: bool
    received_at: float = 0.0


@dataclass(frozen=True, slots=True)
class StateChange:
    """A board entered `state`; `cause` is "boot", "command" or "fault"."""

    device_id: str
    state: DeviceState
    cause: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A board's link came up (handshake done) or went down; `detail` says why."""

    device_id: str | None  # None: the port never reached a board
    port: str
    connected: bool
    detail: str


LinkEvent = SampleBatch | StateChange | LinkChange


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A board's OK answer to a command; `board_ms` is its clock when it answered."""

    cmd_id: int
    text: str
    board_ms: int


@dataclass(frozen=True, slots=True)
class DeviceCounters:
    """The board's own STATUS counters (docs/protocol.md); the last four came with 1.1 (0 from
    a 1.0 board)."""

    state: DeviceState
    fault_mode: int
    samples_taken: int
    samples_sent: int
    samples_resent: int
    dropped_overflow: int
    commands_rejected: int
    read_failures: int
    ring_used: int
    period_ms: int
    missed_slots: int = 0
    evicted_sent: int = 0
    oldest_seq: int = 0
    fault_param: int = 0


@dataclass(frozen=True, slots=True)
class LinkStats:
    """Health of one board's link as the host sees it; every lost byte or frame is counted."""

    connected: bool
    port: str
    last_error: str | None
    reconnects: int
    reboots: int
    frames_received: int
    bytes_received: int
    crc_errors: int
    framing_errors: int
    console_lines: int
    frame_gaps: int
    seq_gaps: int
    rewinds: int
    frames_before_handshake: int
    duplicates_received: int


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """Everything the gateway knows about one board, taken at one moment."""

    device_id: str
    info: DeviceInfo | None
    state: DeviceState
    fault: Fault
    link: LinkStats
    samples_received: int
    lost: dict[str, int] = field(default_factory=dict)
    board: DeviceCounters | None = None
    board_age_s: float | None = None
    ack_point: int | None = None
    unsettled_gone: int = 0  # received, never settled, and no longer held by the board
    last_seen: float | None = None  # UTC seconds: for a board only the store remembers

    @property
    def connected(self) -> bool:
        return self.link.connected


@dataclass(frozen=True, slots=True)
class PortView:
    """One configured port: whether a board is up on it, which, and why not if not."""

    name: str
    label: str
    connected: bool
    device_id: str | None
    last_error: str | None
