"""SimulatedBoard: the firmware's behaviour (docs/protocol.md) in pure Python, as a Transport."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

from telemetryhub.device.sim_firmware import SimFirmware
from telemetryhub.errors import PortBusyError, TransportError
from telemetryhub.models import DeviceState
from telemetryhub.protocol import PROTO_MAJOR

_READY_RECHECK_S = 0.1


class SimulatedBoard:
    """A board behind the Transport interface; its logic is a SimFirmware driven by `clock`.

    Time comes from `clock` (seconds, default time.monotonic): while Measuring a sample is due
    every `period_ms`, taken lazily when the host reads or writes. With `fast=True` every read
    takes up to `samples_per_read` samples at once, whatever the clock says. Frames produced
    while the port is closed or unplugged are lost, as on a real USB link; `hello` resends what
    was not acked. Each boot gets a fresh random boot_id; pass `seed` for a deterministic board
    (boot ids, noise and random faults).

    Threading: `read` from one thread, `write` and the test hooks from any.
    """

    def __init__(
        self,
        *,
        device_id: str = "sim-0001",
        seed: int | None = None,
        period_ms: int = 100,
        ring_capacity: int = 1024,
        unit: str = "arb.units",
        firmware_version: str = "sim-1.1",
        proto_major: int = PROTO_MAJOR,
        clock: Callable[[], float] = time.monotonic,
        fast: bool = False,
        samples_per_read: int = 256,
        tick_origin_ms: int = 0,
        name: str | None = None,
    ) -> None:
        self._clock = clock
        self._fast = fast
        self._samples_per_read = samples_per_read
        self._tick_origin_ms = tick_origin_ms
        self._name = name or f"sim://{device_id}"
        self._cond = threading.Condition()
        self._plugged = True
        self._boot_at_s = clock()
        self.firmware = SimFirmware(
            rng=random.Random(seed),  # None: seeded from the OS, a new board every run
            device_id=device_id,
            period_ms=period_ms,
            ring_capacity=ring_capacity,
            unit=unit,
            firmware_version=firmware_version,
            proto_major=proto_major,
        )

    # --- Transport -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    def open(self) -> None:
        with self._cond:
            if not self._plugged:
                raise TransportError(f"{self._name}: no such port (unplugged)")
            if self.firmware.connected:
                raise PortBusyError(f"{self._name}: already open")
            self.firmware.connected = True

    def read(self, timeout_s: float) -> bytes:
        with self._cond:
            self._require_open()
            data = self.step()
            if not data and timeout_s > 0:
                self._cond.wait(min(timeout_s, self._seconds_to_next_sample()))
                self._require_open()
                data = self.step()
            return data

    def write(self, data: bytes) -> None:
        with self._cond:
            self._require_open()
            firmware = self.firmware
            if not self._fast:  # in fast mode only reads take samples: one batch per read
                firmware.advance(self._ticks_ms())
            firmware.receive(data, self._ticks_ms())
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.firmware.connected = False
            self.firmware.take_output()
            self._cond.notify_all()

    # --- the link loop's side (no descriptor: the loop reads when `ready_at` says) ----------

    def fileno(self) -> int | None:
        return None

    def ready_at(self) -> float:
        """When a read may return something (monotonic), looked at again at least every 0.1 s
        (a test's manual clock moves where the loop cannot see it)."""
        with self._cond:
            now = time.monotonic()
            firmware = self.firmware
            if firmware.has_output or (self._fast and firmware.state == DeviceState.MEASURING):
                return now
            return now + min(_READY_RECHECK_S, self._seconds_to_next_sample())

    def read_available(self) -> bytes:
        return self.read(0)

    def write_some(self, data: bytes) -> int:
        self.write(data)
        return len(data)

    # --- driving the board without a thread ------------------------------------------------

    def step(self, incoming: bytes = b"") -> bytes:
        """One pass of the board's loop at the clock's time: takes the host's bytes, samples
        what is due (fast mode: a batch), returns the bytes the board sent (b"" when closed)."""
        with self._cond:
            firmware = self.firmware
            now_ms = self._ticks_ms()
            if incoming:
                firmware.receive(incoming, now_ms)
            firmware.advance(now_ms, self._samples_per_read if self._fast else None)
            return firmware.take_output()

    # --- test hooks ------------------------------------------------------------------------

    @property
    def boot_id(self) -> int:
        return self.firmware.boot_id

    @property
    def state(self) -> DeviceState:
        return self.firmware.state

    @property
    def next_seq(self) -> int:
        """The seq the next sample will get."""
        return self.firmware.ring.next_seq

    @property
    def is_open(self) -> bool:
        return self.firmware.connected

    def power_cycle(self) -> None:
        """Reboot: new boot_id, seq 0, empty ring; HELLO and STATE(boot) go out if open."""
        with self._cond:
            self._boot_at_s = self._clock()
            self.firmware.boot(self._ticks_ms())
            self._cond.notify_all()

    def unplug(self) -> None:
        """The port vanishes: reads and writes raise TransportError until replug() and open()."""
        with self._cond:
            self._plugged = False
            self.close()

    def replug(self) -> None:
        """The port is back (the board kept running); the host must open() it again."""
        with self._cond:
            self._plugged = True

    def lose_frames(self, count: int) -> None:
        """The next `count` SAMPLES frames are lost on the way (the host sees a gap)."""
        with self._cond:
            self.firmware.lost_frames += count

    def emit_raw(self, data: bytes) -> None:
        """Put raw bytes on the wire, like the REPL printing a traceback."""
        with self._cond:
            self.firmware.emit_raw(data)
            self._cond.notify_all()

    # --- time ------------------------------------------------------------------------------

    def _ticks_ms(self) -> int:
        elapsed_us = round((self._clock() - self._boot_at_s) * 1_000_000)  # no float truncation
        return elapsed_us // 1000 + self._tick_origin_ms

    def _seconds_to_next_sample(self) -> float:
        ms = self.firmware.ms_to_next_sample(self._ticks_ms())
        return math.inf if ms == math.inf else ms / 1000

    def _require_open(self) -> None:
        if not self._plugged:
            raise TransportError(f"{self._name}: the port vanished (unplugged)")
        if not self.firmware.connected:
            raise TransportError(f"{self._name}: not open")
