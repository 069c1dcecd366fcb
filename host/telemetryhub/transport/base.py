"""The Transport interface: a non-blocking byte pipe to one board, whatever carries it."""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """A byte link to one board, driven by the link loop's thread alone.

    A transport with a file descriptor (`fileno()`) is read when the selector says so; one
    without (the in-process simulator) says when it may have data (`ready_at`). Neither call
    blocks: `read_available` returns what is there, `write_some` takes what fits.
    """

    @property
    def name(self) -> str:
        """A human-readable name of the port (a device path, `sim://...`)."""
        ...

    def open(self) -> None:
        """Open the link; raises TransportError (PortBusyError when another program holds it)."""

    def fileno(self) -> int | None:
        """The selectable file descriptor, or None (then the loop polls at `ready_at`)."""
        ...

    def ready_at(self) -> float:
        """For a transport without a descriptor: the monotonic time data may be ready."""
        ...

    def read_available(self) -> bytes:
        """What has arrived, without waiting (b"" if nothing); TransportError if it is gone."""
        ...

    def write_some(self, data: bytes) -> int:
        """Write what fits without waiting; how many bytes were taken. TransportError if gone."""
        ...

    def close(self) -> None:
        """Close the link; idempotent."""
