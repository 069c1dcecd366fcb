"""Port: one place a board is reached (a serial path, the simulator, an emulator's pty).

A port opens a fresh transport from its factory, runs a BoardSession over it, buffers what is
to be written (writes never block the loop), holds the sample batches the pipeline could not
take yet, and when the transport fails retries with backoff. It is driven by the link loop's
thread alone; it knows nothing of other ports.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.device.base import SampleBatch
from telemetryhub.device.session import BoardSession, Phase
from telemetryhub.errors import IncompatibleProtocolError, SupersededError, TelemetryHubError
from telemetryhub.fleet.device import Device
from telemetryhub.protocol import DecodedItem
from telemetryhub.transport.base import Transport

_log = logging.getLogger(__name__)

TransportFactory = Callable[[], Transport]


@dataclass(frozen=True, slots=True)
class PortSettings:
    """Timing of a port's handshake and reconnects."""

    handshake_timeout_s: float = 2.0
    backoff_min_s: float = 0.05
    backoff_max_s: float = 1.0
    incompatible_retry_s: float = 5.0
    warn_every_s: float = 5.0  # how often "still waiting for a board" is logged


class Port:
    """A transport slot with its session; see the module docstring."""

    def __init__(
        self,
        name: str,
        factory: TransportFactory,
        settings: PortSettings,
        tap: Callable[[DecodedItem], None] | None = None,
    ) -> None:
        self.name = name
        self.tap = tap
        self.settings = settings
        self.transport: Transport | None = None
        self.session: BoardSession | None = None
        self.device: Device | None = None
        self.backlog: deque[SampleBatch] = deque()
        self.last_error: TelemetryHubError | None = None
        self.next_attempt_at = 0.0
        self.connects = 0
        self.totals = {"bytes": 0, "crc": 0, "framing": 0, "console": 0, "frames": 0, "early": 0}
        self._factory = factory
        self._out = bytearray()
        self._backoff_s = settings.backoff_min_s
        self._warned_at = -math.inf
        self._next_cmd_id = 0

    # --- state ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The transport's own name when open (a resolved path), else the configured one."""
        return self.transport.name if self.transport is not None else self.name

    @property
    def up(self) -> bool:
        return self.session is not None and self.session.phase is Phase.UP

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    # --- connecting ----------------------------------------------------------------------

    def connect(self, now: float) -> TelemetryHubError | None:
        """Open a fresh transport and start the handshake; the error if it could not open."""
        try:
            transport = self._factory()
            transport.open()
        except TelemetryHubError as exc:
            self._schedule_retry(now, exc)
            return exc
        self.transport = transport
        self.session = BoardSession(
            transport.name,
            handshake_timeout_s=self.settings.handshake_timeout_s,
            first_cmd_id=self._next_cmd_id,
            tap=self.tap,
        )
        self.session.start(now)
        return None

    def fail(self, error: TelemetryHubError, now: float) -> None:
        """Close the transport (the session reports Failed); retry after a backoff."""
        session, transport = self.session, self.transport
        self.transport = None
        if session is not None:
            session.close(error)
            self._fold(session)
        if transport is not None:
            transport.close()
        self._out.clear()
        self._schedule_retry(now, error)

    def handshake_done(self) -> None:
        self.connects += 1
        self._backoff_s = self.settings.backoff_min_s
        self.last_error = None

    def _schedule_retry(self, now: float, error: TelemetryHubError) -> None:
        self.last_error = error
        if isinstance(error, IncompatibleProtocolError | SupersededError):
            delay = self.settings.incompatible_retry_s
        else:
            delay = self._backoff_s
            self._backoff_s = min(self.settings.backoff_max_s, delay * 2)
        self.next_attempt_at = now + delay

    def warn_if_due(self, now: float) -> None:
        """While no board answers: one WARNING every `warn_every_s`, with the reason."""
        if now - self._warned_at < self.settings.warn_every_s or self.last_error is None:
            return
        self._warned_at = now
        _log.warning(
            "waiting for a board on %s: %s (retrying every %.1f s at most)",
            self.name,
            self.last_error,
            self.settings.backoff_max_s,
        )

    def drop_session(self) -> BoardSession | None:
        """Forget a failed session (its events were taken); counters are folded."""
        session, self.session = self.session, None
        if session is not None:
            self._next_cmd_id = session.next_cmd_id
        return session

    def _fold(self, session: BoardSession) -> None:
        decoder = session.decoder
        totals = self.totals
        totals["bytes"] += decoder.bytes_received
        totals["crc"] += decoder.crc_errors
        totals["framing"] += decoder.framing_errors
        totals["console"] += decoder.console_chunks
        totals["frames"] += decoder.frames_decoded
        totals["early"] += session.frames_before_handshake

    def counter(self, key: str) -> int:
        """A folded total plus the live session's share."""
        live = 0
        session = self.session
        if session is not None and self.transport is not None:
            decoder = session.decoder
            live = {
                "bytes": decoder.bytes_received,
                "crc": decoder.crc_errors,
                "framing": decoder.framing_errors,
                "console": decoder.console_chunks,
                "frames": decoder.frames_decoded,
                "early": session.frames_before_handshake,
            }[key]
        return self.totals[key] + live

    # --- bytes ---------------------------------------------------------------------------

    def read(self, now: float) -> None:
        """Move what arrived into the session; TransportError if the link is gone."""
        transport, session = self.transport, self.session
        if transport is None or session is None:
            return
        data = transport.read_available()
        if data:
            session.receive(data, now)

    def queue_output(self) -> None:
        session = self.session
        if session is not None:
            self._out += session.data_to_send()

    def discard_output(self) -> None:
        self._out.clear()

    def write(self) -> None:
        """Write what the transport takes now; TransportError if the link is gone."""
        transport = self.transport
        if transport is None or not self._out:
            return
        written = transport.write_some(bytes(self._out))
        del self._out[:written]
