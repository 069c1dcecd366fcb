"""The interface the gateway core uses to talk to one board, whatever carries the bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from telemetryhub.models import DeviceInfo, DeviceState, Sample


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples decoded from one read of the link, in board order."""

    device: DeviceInfo
    samples: tuple[Sample, ...]
    resend: bool


@dataclass(frozen=True, slots=True)
class StateChange:
    """The board entered `state`; `cause` is "boot", "command" or "fault"."""

    state: DeviceState
    cause: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkChange:
    """The link came up (HELLO done) or went down; `detail` says why."""

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
    """The board's own STATUS counters (docs/protocol.md); the last four came with 1.1."""

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
    """Health of the link as the host sees it; every lost byte or frame is counted here."""

    connected: bool
    port: str
    reconnects: int
    reboots: int
    frames_received: int
    bytes_received: int
    crc_errors: int
    framing_errors: int
    console_lines: int
    frame_gaps: int
    seq_gaps: int
    samples_missed: int
    duplicates_received: int


class DeviceLink(Protocol):
    """One board behind some byte transport.

    Threading: `poll` is called by exactly one thread (the core's producer); every other method
    may be called from any thread.
    """

    def open(self) -> None:
        """Start connecting; never raises for a missing board (poll reports LinkChange)."""

    def poll(self, timeout_s: float) -> list[LinkEvent]:
        """Read and decode what arrived within `timeout_s`; reconnects with backoff when down."""

    def command(self, verb: str, *args: str, timeout_s: float = 2.0) -> CommandResult:
        """Send a command line and wait for its RESULT.

        Raises DeviceNotConnectedError, CommandTimeoutError, InvalidStateError or
        CommandRejectedError.
        """

    def read_counters(self, timeout_s: float = 2.0) -> DeviceCounters:
        """Ask the board for STATUS."""

    def ack(self, boot_id: int, seq: int) -> None:
        """Tell the board every sample of `boot_id` up to `seq` is stored (ignored if stale)."""

    def close(self) -> None:
        """Close the transport; idempotent."""

    @property
    def info(self) -> DeviceInfo | None:
        """The last HELLO, or None before the first handshake."""

    @property
    def state(self) -> DeviceState:
        """The mirrored device state."""

    def stats(self) -> LinkStats:
        """A snapshot of the link's counters."""
