# Test support under MicroPython: fakes for the HAL, an app builder, command lines, a frame reader.
import binascii
import struct

from app import App
from faults import Faults
from hal import Clock, Link, Sensor, SimSensor, Watchdog
from ring import Ring
from rng import XorShift16

HELLO = 1
SAMPLES = 2
STATE = 3
RESULT = 4
STATUS = 5
ERROR = 6


class FakeClock(Clock):
    def __init__(self) -> None:
        self.now = 1000

    def ticks_ms(self) -> int:
        return self.now

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def ticks_add(self, t: int, delta_ms: int) -> int:
        return t + delta_ms


class RecordingLink(Link):
    # keeps everything written; feeds queued input
    def __init__(self) -> None:
        self.out = bytearray()
        self.inbox = bytearray()

    def read(self, buf: bytearray) -> int:
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n

    def write(self, buf: bytearray, off: int, n: int) -> int:
        self.out.extend(buf[off : off + n])
        return n

    def wait(self, timeout_ms: int, writing: bool) -> None:
        pass

    def frames(self) -> list:
        found = [unframe(chunk) for chunk in bytes(self.out).split(b"\x00") if chunk]
        self.out = bytearray()
        return found


class ShortLink(RecordingLink):
    # writes at most 7 bytes per call, like a busy USB endpoint
    def write(self, buf: bytearray, off: int, n: int) -> int:
        return RecordingLink.write(self, buf, off, min(7, n))


class StalledLink(RecordingLink):
    # the host stopped reading: nothing can be written until `open` is set again; a firmware
    # that keeps retrying a write the link refused is blocked on the link: that fails the test
    def __init__(self) -> None:
        RecordingLink.__init__(self)
        self.open = False
        self.refused = 0

    def write(self, buf: bytearray, off: int, n: int) -> int:
        if self.open:
            return RecordingLink.write(self, buf, off, n)
        self.refused += 1
        assert self.refused < 100000, "the firmware keeps writing to a link that takes nothing"
        return 0


class FlakySensor(Sensor):
    def __init__(self) -> None:
        self.failing = False
        self.value = 21500

    def read(self) -> int:
        if self.failing:
            raise OSError(5)
        return self.value


def make_app(capacity: int = 64, link=None, sensor=None, seed: int = 1234) -> App:
    rng = XorShift16(seed)
    return App(
        link=link or RecordingLink(),
        clock=FakeClock(),
        sensor=sensor or SimSensor(rng),
        ring=Ring(capacity),
        faults=Faults(rng),
        watchdog=Watchdog(),
        device_id=b"test-board",
        boot_id=0xDEADBEEF,
        reset_cause=1,
        period_ms=10,
    )


def line(text: str) -> bytes:
    return (f"{text}*{binascii.crc32(text.encode()):08X}\n").encode()


def command(app: App, text: str) -> list:
    # sends one command line through the link and returns the frames answered
    app.link.inbox.extend(line(text))
    app.poll_input()
    app.tx.drain(app.link)
    return app.link.frames()


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        out.extend(data[i + 1 : i + code])
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def unframe(chunk: bytes) -> tuple:
    # (type, flags, frame_seq, payload) after checking the CRC
    body = cobs_decode(chunk)
    assert len(body) >= 8, body
    (crc,) = struct.unpack("<I", body[-4:])
    assert crc == binascii.crc32(body[:-4]), "bad crc"
    return body[0], body[1], struct.unpack("<H", body[2:4])[0], body[4:-4]


def result(frame: tuple) -> tuple:
    assert frame[0] == RESULT, frame
    return struct.unpack("<HB", frame[3][:3])


def state(frame: tuple) -> tuple:
    assert frame[0] == STATE, frame
    return frame[3][0], frame[3][1]


def samples(frame: tuple) -> list:
    assert frame[0] == SAMPLES, frame
    payload = frame[3]
    return [struct.unpack("<IIiB", payload[1 + 13 * k : 14 + 13 * k]) for k in range(payload[0])]


def status(frame: tuple) -> tuple:
    assert frame[0] == STATUS, frame
    return struct.unpack("<BBIIIIIIHIIIII", frame[3])


def send_pending(app: App) -> list:
    # builds SAMPLES frames for what the ring holds unsent, writes the TX queue, returns frames
    app.flush()
    app.tx.drain(app.link)
    return app.link.frames()


def tick(app: App, steps: int, ms: int = 10) -> list:
    # advances the fake clock by ms per step, one loop iteration each; returns the frames sent
    for _ in range(steps):
        app.clock.now += ms
        app.step()
    return app.link.frames()


def seqs(frames: list) -> list:
    return [s[0] for f in frames if f[0] == SAMPLES for s in samples(f)]
