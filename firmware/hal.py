"""Hardware abstraction: clock, sensor, link, identity, reset cause and watchdog per platform."""

import os
import sys
import time

from micropython import const
from rng import XorShift16

PLATFORM = sys.platform  # "rp2", "esp32", "linux" (the unix port), ...
UNIX = PLATFORM in ("linux", "darwin")

_MASK30 = const(0x3FFFFFFF)
_SIM_BASE_MILLI = const(42000)
_SIM_SPAN = const(1001)  # noise in -500..+500 milli
_SIM_HALF = const(500)
_POLLIN = const(1)
_POLLOUT = const(4)
_WRITE_CHUNK = const(64)  # rp2's USB CDC endpoint size

# protocol reset causes
RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_SOFT = const(2)
RESET_WATCHDOG = const(3)
RESET_HARD = const(4)
RESET_DEEP_SLEEP = const(5)


class Clock:
    # The stubs make ticks an opaque type; on every port they are small ints, used as such here.

    def ticks_ms(self) -> int:
        return time.ticks_ms()  # type: ignore[return-value]  # a small int (see above)

    def ticks_diff(self, a: int, b: int) -> int:
        return time.ticks_diff(a, b)

    def ticks_add(self, t: int, delta_ms: int) -> int:
        return time.ticks_add(t, delta_ms)  # type: ignore[type-var]  # a small int (see above)


class Sensor:
    unit = b"degC"

    def read(self) -> int:
        # the reading in milli-units; raises OSError when the read fails
        raise NotImplementedError


class SimSensor(Sensor):
    # 42.0 + noise, in milli-units, by integer arithmetic only.

    def __init__(self, rng: XorShift16) -> None:
        self._next = rng.next

    def read(self) -> int:
        return _SIM_BASE_MILLI + self._next() % _SIM_SPAN - _SIM_HALF


class Rp2TempSensor(Sensor):
    # RP2040 internal sensor on ADC 4: T = 27 - (V - 0.706) / 0.001721, in milli-degC.
    unit = b"degC"

    def __init__(self) -> None:
        import machine

        self._adc = machine.ADC(4)

    def read(self) -> int:
        uv = (self._adc.read_u16() >> 4) * 806  # 12-bit reading, 3.3 V / 4095 = 806 uV per LSB
        return 27000 - (uv - 706000) * 581 // 1000  # 1000 / 1.721 = 581 milli-degC per mV


class Esp32TempSensor(Sensor):
    def __init__(self) -> None:
        import esp32  # type: ignore[import-not-found]  # only on ESP32; not in the rp2 stubs

        self._esp32 = esp32

    def read(self) -> int:
        esp32 = self._esp32
        if hasattr(esp32, "mcu_temperature"):  # S2/S3/C3: whole degC
            return esp32.mcu_temperature() * 1000
        return (esp32.raw_temperature() - 32) * 5000 // 9  # classic ESP32: degF


def make_sensor(kind: str, rng: XorShift16) -> Sensor:
    if kind == "auto":
        kind = "rp2" if PLATFORM == "rp2" else "esp32" if PLATFORM == "esp32" else "sim"
    if kind == "rp2":
        return Rp2TempSensor()
    if kind == "esp32":
        return Esp32TempSensor()
    return SimSensor(rng)


class Link:
    # Never blocks the loop: read() and write() take what is there now, wait() is the only pause.
    closed = False

    def read(self, buf: bytearray) -> int:
        # bytes already received, at most len(buf), without blocking; -1 once input has ended
        raise NotImplementedError

    def write(self, buf: bytearray, off: int, n: int) -> int:
        # writes at most n bytes of buf from off without blocking; how many (0: none fit now)
        raise NotImplementedError

    def wait(self, timeout_ms: int, writing: bool) -> None:
        # returns when input may be ready, when output may be written (if writing), or after
        # timeout_ms
        raise NotImplementedError


class NullLink(Link):
    # swallows every frame and never receives: for tests and benchmarks

    def read(self, buf: bytearray) -> int:
        return 0

    def write(self, buf: bytearray, off: int, n: int) -> int:
        return n

    def wait(self, timeout_ms: int, writing: bool) -> None:
        pass


class StreamLink(Link):
    # Output to a stream polled for POLLOUT, at most _WRITE_CHUNK bytes per write: a stream
    # write waits until all it was given is taken, so only a small write after POLLOUT is safe.
    # rp2 USB CDC reports POLLOUT while its TX FIFO has a free byte (or no host is attached:
    # the FIFO keeps the latest bytes) and waits up to 500 ms only if fewer bytes than the
    # chunk are free, a bounded wait at the edge of a stall (docs/protocol.md, "Sending").

    def __init__(self, out: object, out_pollable: object, in_pollable: object) -> None:
        import select

        self._out = out
        self._poll_out = select.poll()
        self._poll_out.register(out_pollable, _POLLOUT)
        self._poll_in = select.poll()
        self._poll_in.register(in_pollable, _POLLIN)
        self._poll_any = select.poll()
        self._poll_any.register(in_pollable, _POLLIN)
        self._poll_any.register(out_pollable, _POLLOUT)

    def write(self, buf: bytearray, off: int, n: int) -> int:
        if not _ready(self._poll_out, 0):
            return 0
        return self._out.write(buf, off, n if n < _WRITE_CHUNK else _WRITE_CHUNK) or 0  # type: ignore[attr-defined]  # a stream

    def wait(self, timeout_ms: int, writing: bool) -> None:
        if not self.closed:
            _ready(self._poll_any if writing else self._poll_in, timeout_ms)


def _ready(poll: object, timeout_ms: int) -> bool:
    for _ in poll.ipoll(timeout_ms):  # type: ignore[attr-defined]  # select.poll
        return True
    return False


class UsbLink(StreamLink):
    # stdin/stdout (USB CDC on a board, pipes or a pty on unix).

    def __init__(self) -> None:
        super().__init__(sys.stdout.buffer, sys.stdout, sys.stdin)
        self._in = sys.stdin.buffer
        self._one = memoryview(bytearray(1))

    def read(self, buf: bytearray) -> int:
        n = 0
        limit = len(buf)
        one = self._one
        while n < limit and _ready(self._poll_in, 0):
            # readinto(n) on a stream waits for all n bytes: read one that poll said is there
            if not self._in.readinto(one):
                self.closed = True
                return n if n else -1
            buf[n] = one[0]
            n += 1
        return n


class UartLink(StreamLink):
    def __init__(self, uart_id: int, baud: int, tx: int, rx: int) -> None:
        import machine

        uart = machine.UART(uart_id, baud, tx=machine.Pin(tx), rx=machine.Pin(rx))
        super().__init__(uart, uart, uart)
        self._uart = uart

    def read(self, buf: bytearray) -> int:
        n = self._uart.any()
        if not n:
            return 0
        # only what is waiting: a longer readinto would wait for the UART timeout
        return self._uart.readinto(buf, n if n < len(buf) else len(buf)) or 0


def make_link(kind: str, uart_id: int, baud: int, tx: int, rx: int) -> Link:
    if kind == "uart":
        return UartLink(uart_id, baud, tx, rx)
    return UsbLink()


def unique_id() -> str:
    if UNIX:
        # stand-in: the emulator names its board; a plain run is one fixed board
        return os.getenv("TELEMETRYHUB_DEVICE_ID") or "unix-0001"
    import binascii

    import machine

    return binascii.hexlify(machine.unique_id()).decode()


# rp2 soft-reset marker: core 0's interpolator 0 BASE0 register (SIO, 0xd0000088). MicroPython
# never uses the interpolators; a soft reset leaves SIO alone, while power-on, the RUN pin and
# every watchdog reboot (machine.reset() is one on rp2) reset SIO and so clear the marker. The
# watchdog scratch registers would not do: they survive a watchdog reboot.
_RP2_MARKER_ADDR = const(0xD0000088)
_MARKER = const(0x1EAF5EED)


def reset_cause() -> int:
    if UNIX:
        # stand-in: a process start is a power-on unless the emulator says otherwise (it passes
        # 2 after a soft reboot, 4 after machine.reset())
        cause = os.getenv("TELEMETRYHUB_RESET_CAUSE")
        return int(cause) if cause else RESET_POWER_ON
    import machine

    if PLATFORM == "rp2":
        # machine.reset_cause() does not change on a soft reset: the marker tells one
        mem = machine.mem32
        soft = mem[_RP2_MARKER_ADDR] == _MARKER
        mem[_RP2_MARKER_ADDR] = _MARKER
        if soft:
            return RESET_SOFT
    causes = {
        getattr(machine, "PWRON_RESET", -1): RESET_POWER_ON,
        getattr(machine, "SOFT_RESET", -2): RESET_SOFT,
        getattr(machine, "WDT_RESET", -3): RESET_WATCHDOG,
        getattr(machine, "HARD_RESET", -4): RESET_HARD,
        getattr(machine, "DEEPSLEEP_RESET", -5): RESET_DEEP_SLEEP,
    }
    return causes.get(machine.reset_cause(), RESET_UNKNOWN)


def boot_id() -> int:
    b = os.urandom(4)
    return b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24


class Watchdog:
    # the stand-in when no watchdog runs (the default, and always on unix)
    def feed(self) -> None:
        pass


class MachineWatchdog(Watchdog):
    def __init__(self, timeout_ms: int) -> None:
        import machine

        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self) -> None:
        self._wdt.feed()


def watchdog(timeout_ms: int) -> Watchdog:
    # opt-in: a started watchdog cannot be stopped and survives a soft reset
    if timeout_ms <= 0 or UNIX:
        return Watchdog()
    return MachineWatchdog(timeout_ms)

