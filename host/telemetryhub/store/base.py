"""What the rest of the gateway asks of a sample store: the interfaces, not the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telemetryhub.models import Sample


class SampleReader(Protocol):
    """The time-range query the API and exports serve (`SqliteStore.query`)."""

    def query(
        self,
        device_id: str | Sequence[str] | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 1000,
    ) -> list[Sample]:
        """Stored samples matching the filters (one device id, several, or None: every device),
        oldest first."""
        ...


class SampleStore(SampleReader, Protocol):
    """What the core needs: one transaction per batch, duplicates ignored, plus the query."""

    def write_batch(self, samples: Sequence[Sample]) -> int:
        """Insert `samples`; return how many were new."""
        ...


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A board's row in the `devices` table (None where the store never learnt it)."""

    device_id: str
    first_seen: float | None
    last_seen: float | None
    firmware: str | None
    last_boot_id: int | None
    port: str | None
