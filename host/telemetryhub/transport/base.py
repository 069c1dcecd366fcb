"""The Transport interface: a byte pipe to one board, whatever carries it."""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """A byte link to one board.

    Threading: `read` is called by one thread (the link's poller); `write` may be called from
    any thread and must be atomic per call (implementations hold a write lock and loop on short
    writes); `close` may be called from any thread and makes a blocked `read` return or raise.
    """

    @property
    def name(self) -> str:
        """A human-readable name of the port (a device path, `sim://...`)."""
        ...

    def open(self) -> None:
        """Open the link; raises TransportError (PortBusyError when another program holds it)."""

    def read(self, timeout_s: float) -> bytes:
        """The bytes that arrived within `timeout_s` (b"" on timeout); TransportError if gone."""
        ...

    def write(self, data: bytes) -> None:
        """Write all of `data`; raises TransportError if the link is gone."""

    def close(self) -> None:
        """Close the link; idempotent."""
