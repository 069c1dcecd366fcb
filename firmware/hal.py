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
_MAX_READ = const(64)

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
    closed = False

    def read(self, buf: bytearray) -> int:
        # bytes already received, at most len(buf), without blocking; -1 once input has ended
        raise NotImplementedError

    def write(self, data: memoryview) -> int:
        # how many bytes were written (may be short)
        raise NotImplementedError

    def wait(self, timeout_ms: int) -> None:
        # returns when input may be ready or after timeout_ms
        raise NotImplementedError


class NullLink(Link):
    # swallows every frame and never receives: for tests and benchmarks

    def read(self, buf: bytearray) -> int:
        return 0

    def write(self, data: memoryview) -> int:
        return len(data)

    def wait(self, timeout_ms: int) -> None:
        pass


class UsbLink(Link):
    # stdin/stdout (USB CDC on a board, pipes or a pty on unix), never blocking on input.

    def __init__(self) -> None:
        import select

        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, _POLLIN)
        self._one = memoryview(bytearray(1))

    def read(self, buf: bytearray) -> int:
        n = 0
        limit = len(buf)
        one = self._one
        while n < limit and self._ready(0):
            # readinto(n) on a stream waits for all n bytes: read one that poll said is there
            if not self._in.readinto(one):
                self.closed = True
                return n if n else -1
            buf[n] = one[0]
            n += 1
        return n

    def _ready(self, timeout_ms: int) -> bool:
        for _ in self._poll.ipoll(timeout_ms):
            return True
        return False

    def write(self, data: memoryview) -> int:
        return self._out.write(data) or 0

    def wait(self, timeout_ms: int) -> None:
        if not self.closed:
            self._ready(timeout_ms)


class UartLink(Link):
    def __init__(self, uart_id: int, baud: int, tx: int, rx: int) -> None:
        import machine

        self._uart = machine.UART(uart_id, baud, tx=machine.Pin(tx), rx=machine.Pin(rx))

    def read(self, buf: bytearray) -> int:
        n = self._uart.any()
        if not n:
            return 0
        # only what is waiting: a longer readinto would wait for the UART timeout
        return self._uart.readinto(buf, n if n < len(buf) else len(buf)) or 0

    def write(self, data: memoryview) -> int:
        return self._uart.write(data) or 0

    def wait(self, timeout_ms: int) -> None:
        if not self._uart.any():
            time.sleep_ms(timeout_ms if timeout_ms < 2 else 2)


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


def reset_cause() -> int:
    if UNIX:
        # stand-in: a process start is a power-on unless the emulator says otherwise
        cause = os.getenv("TELEMETRYHUB_RESET_CAUSE")
        return int(cause) if cause else RESET_POWER_ON
    import machine

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

