"""Commands to boards: to one by its id, or to every connected one at once (answers are awaited
together, so a fleet costs one round trip, not one per board), and setting up a board that
came up: the configured period, then autostart unless a person stopped it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from telemetryhub.device.base import DeviceSnapshot
from telemetryhub.errors import DeviceNotConnectedError, TelemetryHubError, UnknownDeviceError
from telemetryhub.fleet.loop import LinkLoop
from telemetryhub.models import DeviceState, Fault, FaultMode

_log = logging.getLogger(__name__)

OK = "ok"

_FAULT_ARGS: dict[FaultMode, Callable[[Fault], tuple[str, ...]]] = {
    FaultMode.NONE: lambda f: ("none",),
    FaultMode.RANDOM: lambda f: ("random", probability_arg(f.probability)),
    FaultMode.INTERMITTENT: lambda f: ("intermittent", str(f.count)),
    FaultMode.DETERMINISTIC: lambda f: ("deterministic", str(f.count)),
}


def probability_arg(probability: float) -> str:
    """A probability in the wire's form: at most 6 decimals (parts per million), e.g. 0.25."""
    text = f"{probability:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def fault_args(fault: Fault) -> tuple[str, ...]:
    """The arguments of `fault` for a board."""
    return _FAULT_ARGS[fault.mode](fault)


@dataclass(frozen=True, slots=True)
class BoardPolicy:
    """How a board is set up when it comes up (per device, over shared defaults)."""

    period_ms: int | None = None  # None keeps the board's own
    autostart: bool = True


class BoardCommands:
    """Runs commands through the link loop; thread-safe."""

    def __init__(
        self,
        loop: LinkLoop,
        devices: Callable[[], list[DeviceSnapshot]],
        policy: Callable[[str], BoardPolicy],
        timeout_s: float,
    ) -> None:
        self._loop = loop
        self._devices = devices
        self._policy = policy
        self._timeout_s = timeout_s
        self._stopped_by_user: set[str] = set()  # autostart must not undo a person's stop
        self._lock = threading.Lock()

    def run(self, device_id: str | None, verb: str, *args: str) -> dict[str, str]:
        """`verb` to one board (errors raised), or to every connected board (None): each
        board's outcome, "ok" or why not; raised only if every board refused."""
        if device_id is not None:
            self._require_known(device_id)
            self._loop.command(device_id, verb, *args, timeout_s=self._timeout_s)
            self._note(device_id, verb)
            return {device_id: OK}
        targets = [d.device_id for d in self._devices() if d.connected]
        if not targets:
            raise DeviceNotConnectedError("no board connected")
        answers = self._loop.command_many(targets, verb, *args, timeout_s=self._timeout_s)
        errors = [a for a in answers.values() if isinstance(a, TelemetryHubError)]
        if len(errors) == len(answers):
            raise errors[0]
        for target, answer in answers.items():
            if not isinstance(answer, TelemetryHubError):
                self._note(target, verb)
        return {
            d: OK if not isinstance(a, TelemetryHubError) else str(a) for d, a in answers.items()
        }

    def set_up(self, device_id: str) -> None:
        """A board connected, reconnected or rebooted: its period, then autostart (core-worker)."""
        policy = self._policy(device_id)
        device = next((d for d in self._devices() if d.device_id == device_id), None)
        if device is None or device.info is None:
            return
        try:
            if policy.period_ms is not None and device.info.period_ms != policy.period_ms:
                self._loop.command(
                    device_id, "set", "period_ms", str(policy.period_ms), timeout_s=self._timeout_s
                )
            with self._lock:
                stopped = device_id in self._stopped_by_user
            if policy.autostart and device.state == DeviceState.IDLE and not stopped:
                self._loop.command(device_id, "start", timeout_s=self._timeout_s)
        except TelemetryHubError as exc:
            _log.warning("setting up %s failed: %s", device_id, exc)

    def _note(self, device_id: str, verb: str) -> None:
        with self._lock:
            if verb == "stop":
                self._stopped_by_user.add(device_id)
            elif verb == "start":
                self._stopped_by_user.discard(device_id)

    def _require_known(self, device_id: str) -> None:
        if not any(d.device_id == device_id for d in self._devices()):
            raise UnknownDeviceError(f"no board {device_id!r} is known to this gateway")
