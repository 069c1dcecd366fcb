"""FakeCore: a small in-test GatewayView with a fleet of lazily simulated boards.

It plays only the boundary the API owns (telemetryhub.api.contracts.GatewayView) and mirrors
the real core's rules for commands: one board by id (UnknownDeviceError, DeviceNotConnectedError,
InvalidStateError raised), or every connected board at once (each board's outcome, raised only
when every board refused).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.errors import (
    DeviceNotConnectedError,
    InvalidStateError,
    TelemetryHubError,
    UnknownDeviceError,
)
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample

FIRST = "fake-1"
DONE = {"ok": True, "devices": {FIRST: "ok"}}  # a command's answer from a fleet of one
_HISTORY = 5000  # samples kept per board
_LOST = ("board_overflow", "downtime")


class FakeBoard:
    """One board simulated lazily: each read adds the samples its period says are due."""

    def __init__(self, device_id: str, period_ms: int) -> None:
        self.device_id = device_id
        self.period_ms = period_ms
        self.boot_id = 0x1234ABCD
        self.connected = True
        self.state_label: str | None = None  # reported instead of the simulated state
        self.extra_link: dict[str, object] = {}  # merged into its link section
        self.extra_device: dict[str, object] = {}  # merged into its device section
        self.lost: dict[str, int] = dict.fromkeys(_LOST, 0)
        self.reconnects = 0
        self.state = DeviceState.IDLE
        self.fault = Fault(FaultMode.NONE)
        self.samples: list[Sample] = []
        self.seq = 0
        self.last_s = time.time()
        self.seen_s: float | None = None

    @property
    def label(self) -> str:
        return self.state_label or self.state.label

    def command(self, name: str, need: DeviceState | None, to: DeviceState | None) -> None:
        """Run one command (the caller holds the core's lock)."""
        if not self.connected:
            raise DeviceNotConnectedError(f"board {self.device_id!r} is not connected")
        self.advance()
        if need is not None and self.state is not need:
            raise InvalidStateError(3, f"{name} refused in state {self.state.label}")
        if to is not None:
            self.state = to
        if name == "start":
            self.last_s = time.time()

    def advance(self) -> None:
        now = time.time()
        due = int((now - self.last_s) * 1000 // self.period_ms)
        if self.state is not DeviceState.MEASURING or due <= 0:
            if self.state is not DeviceState.MEASURING:
                self.last_s = now
            return
        for _ in range(min(due, 2000)):
            self.seq += 1
            value = 20.0 + (self.seq % 17) / 4
            self.samples.append(Sample(self.device_id, 1, self.seq, self.seq, now, value, 0, "C"))
            if self._count_down_fault():
                break
        self.samples = self.samples[-_HISTORY:]
        self.last_s = self.seen_s = now

    def _count_down_fault(self) -> bool:
        """A deterministic fault's countdown; True when it just reached SafeState."""
        mode, count = self.fault.mode, self.fault.count
        if mode is not FaultMode.DETERMINISTIC or count <= 0:
            return False
        self.fault = replace(self.fault, count=count - 1)
        if count == 1:
            self.state = DeviceState.SAFE_STATE
            return True
        return False

    def latest(self) -> dict[str, object] | None:
        last = self.samples[-1] if self.samples else None
        if last is None:
            return None
        return {"seq": last.seq, "value": last.value, "unit": last.unit, "ts": last.ts}

    def fault_json(self) -> dict[str, object]:
        mode = self.fault.mode
        return {
            "mode": mode.name.lower(),
            "probability": self.fault.probability if mode is FaultMode.RANDOM else None,
            "count": None if mode in (FaultMode.NONE, FaultMode.RANDOM) else self.fault.count,
        }

    def link(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "port": f"/dev/fake/{self.device_id}",
            "crc_errors": 0,
            "reconnects": self.reconnects,
            "last_error": None,
            **self.extra_link,
        }

    def device(self) -> dict[str, object]:
        return {
            "id": self.device_id,
            "firmware": "0.0-fake",
            "boot_id": self.boot_id,
            "protocol": "1.0",
            "period_ms": self.period_ms,
            "fault": self.fault_json(),
            **self.extra_device,
        }

    def summary(self) -> dict[str, object]:
        """Its line of the fleet, with the keys of core.device_status.device_summary."""
        link = self.link()
        return {
            "device_id": self.device_id,
            "state": self.label,
            "connected": self.connected,
            "port": link["port"],
            "last_error": link["last_error"],
            "last_seen": self.seen_s,
            "latest_sample": self.latest(),
            "period_ms": self.period_ms,
            "unit": "C",
            "firmware": "0.0-fake",
            "protocol": "1.0",
            "boot_id_hex": f"{self.boot_id:08x}",
            "fault": self.fault_json(),
            "samples_received": self.seq,
            "samples_stored": self.seq,
            "samples_lost": sum(self.lost.values()),
            "lost": dict(self.lost),
            "reconnects": self.reconnects,
        }

    def document(self) -> dict[str, object]:
        """Its full document (`GET /devices/<id>`)."""
        return {
            "ts": time.time(),
            "state": self.label,
            "latest_sample": self.latest(),
            "metrics": {
                "samples_received": self.seq,
                "samples_stored": self.seq,
                "samples_lost": sum(self.lost.values()),
                **{f"lost_{reason}": n for reason, n in self.lost.items()},
            },
            "link": self.link(),
            "device": self.device(),
            "board": None,
            "aggregates": [],
        }


class FakeStore:
    """Query over the fake boards' samples."""

    def __init__(self, core: FakeCore) -> None:
        self._core = core

    def query(
        self,
        device_id: str | Sequence[str] | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 1000,
    ) -> list[Sample]:
        ids = {device_id} if isinstance(device_id, str) else device_id
        found = [
            s
            for s in self._core.all_samples()
            if (ids is None or s.device_id in ids)
            and (since_ts is None or s.ts >= since_ts)
            and (until_ts is None or s.ts < until_ts)
        ]
        return found[:limit]


_VERBS: dict[str, tuple[DeviceState | None, DeviceState | None]] = {
    "start": (DeviceState.IDLE, DeviceState.MEASURING),
    "stop": (DeviceState.MEASURING, DeviceState.IDLE),
    "reset": (None, DeviceState.IDLE),
    "fault": (None, None),
    "period": (None, None),
}


class FakeCore:
    """A fleet of `devices` fake boards (ids fake-1, fake-2, ...), all sampling every
    `period_ms`. `board` is the first; `calls` lists every command asked, by verb."""

    def __init__(self, period_ms: int = 50, devices: int = 1) -> None:
        self.uplinks: dict[str, object] = {}
        self.extra_metrics: dict[str, object] = {}  # merged into status()["metrics"]
        self.health_problems: list[str] = []
        self.queue_depth = 0
        self.calls: list[str] = []
        self.boards: dict[str, FakeBoard] = {}
        for n in range(1, devices + 1):
            self.add_board(f"fake-{n}", period_ms)
        self._lock = threading.Lock()
        self.store = FakeStore(self)
        self.latency = LatencyHistogram()

    def add_board(self, device_id: str, period_ms: int = 50) -> FakeBoard:
        board = self.boards[device_id] = FakeBoard(device_id, period_ms)
        return board

    @property
    def board(self) -> FakeBoard:
        return self.boards[FIRST]

    # -- commands -------------------------------------------------------------------------

    def start(self, device_id: str | None = None) -> Mapping[str, str]:
        return self._run("start", device_id)

    def stop(self, device_id: str | None = None) -> Mapping[str, str]:
        return self._run("stop", device_id)

    def reset_device(self, device_id: str | None = None) -> Mapping[str, str]:
        return self._run("reset", device_id)

    def inject_fault(self, fault: Fault, device_id: str | None = None) -> Mapping[str, str]:
        return self._run("fault", device_id, lambda b: setattr(b, "fault", fault))

    def set_period(self, period_ms: int, device_id: str | None = None) -> Mapping[str, str]:
        return self._run("period", device_id, lambda b: setattr(b, "period_ms", period_ms))

    def _run(
        self, verb: str, device_id: str | None, apply: Callable[[FakeBoard], None] | None = None
    ) -> dict[str, str]:
        need, to = _VERBS[verb]
        with self._lock:
            self.calls.append(verb)
            if device_id is not None:
                board = self._known(device_id)
                board.command(verb, need, to)
                if apply is not None:
                    apply(board)
                return {device_id: "ok"}
            targets = [b for b in self.boards.values() if b.connected]
            if not targets:
                raise DeviceNotConnectedError("no board connected")
            outcomes: dict[str, str] = {}
            errors: list[TelemetryHubError] = []
            for board in targets:
                try:
                    board.command(verb, need, to)
                except TelemetryHubError as exc:
                    errors.append(exc)
                    outcomes[board.device_id] = str(exc)
                    continue
                if apply is not None:
                    apply(board)
                outcomes[board.device_id] = "ok"
            if len(errors) == len(targets):
                raise errors[0]
            return outcomes

    def _known(self, device_id: str) -> FakeBoard:
        board = self.boards.get(device_id)
        if board is None:
            raise UnknownDeviceError(f"no board {device_id!r} is known to this gateway")
        return board

    # -- reads ------------------------------------------------------------------------------

    def health(self) -> list[str]:
        return list(self.health_problems)

    def device_state(self) -> DeviceState:
        with self._lock:
            self._advance()
            label = self._fleet_state_label()
        return next(s for s in DeviceState if s.label == label)

    def all_samples(self) -> list[Sample]:
        with self._lock:
            self._advance()
            found = [s for b in self.boards.values() for s in b.samples]
        return sorted(found, key=lambda s: s.ts)

    def recent_samples(self, seconds: float, device_id: str | None = None) -> list[Sample]:
        cutoff = time.time() - seconds
        return [
            s
            for s in self.all_samples()
            if s.ts >= cutoff and (device_id is None or s.device_id == device_id)
        ]

    def device_status(self, device_id: str) -> Mapping[str, object]:
        with self._lock:
            board = self._known(device_id)
            board.advance()
            return board.document()

    def status(self) -> Mapping[str, object]:
        with self._lock:
            self._advance()
            boards = list(self.boards.values())
            first = next((b for b in boards if b.connected), None)
            seq = sum(b.seq for b in boards)
            newest = max(
                (b for b in boards if b.samples), key=lambda b: b.samples[-1].ts, default=None
            )
            return {
                "ts": time.time(),
                "state": self._fleet_state_label(),
                "latest_sample": None if newest is None else newest.latest(),
                "metrics": {
                    "samples_processed": seq,
                    "samples_stored": seq,
                    "samples_dropped": 0,
                    "dropped_shutdown": 0,
                    "samples_lost": sum(sum(b.lost.values()) for b in boards),
                    **{f"lost_{r}": sum(b.lost[r] for b in boards) for r in _LOST},
                    "rejected_out_of_range": 0,
                    "pool_jobs_processed": seq,
                    "pool_jobs_queued": 0,
                    "pool_num_threads": 4,
                    "queue_depth": self.queue_depth,
                    "queue_capacity": 1000,
                    **self.extra_metrics,
                },
                "link": self.board.link() if first is None else first.link(),
                "device": None if first is None else first.device(),
                "devices": [b.summary() for b in boards],
                "uplinks": self.uplinks,
            }

    def _advance(self) -> None:
        for board in self.boards.values():
            board.advance()

    def _fleet_state_label(self) -> str:
        labels = {b.label for b in self.boards.values() if b.connected}
        for label in ("SafeState", "Measuring"):
            if label in labels:
                return label
        return "Idle"
