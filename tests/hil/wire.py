"""A tiny wire-level client for HIL tests: pyserial, command lines out, decoded frames in."""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import serial

from telemetryhub.protocol import (
    Command,
    ConsoleText,
    Frame,
    FrameDecoder,
    Hello,
    Result,
    Samples,
    Status,
)

DEFAULT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 0.05
_REOPEN_POLL_S = 0.05
_RETRY_S = 0.5
_CTRL_B = b"\r\x02"  # leave the raw REPL for the friendly one
_CTRL_D = b"\x04"  # at the friendly REPL: soft reset, main.py runs again


@dataclass(frozen=True, slots=True)
class Received:
    """One sample as it arrived: its seq and t_ms, and whether the board flagged it RESEND."""

    seq: int
    t_ms: int
    resend: bool


class WireClient:
    """Talks protocol v1 to the board on `port`; every decoded item is kept for assertions.

    Single-threaded: the test calls `read_until`, which reads and decodes until a condition
    holds or a deadline passes. `decoder` keeps the byte-level counters (CRC, framing, console).
    """

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        self.port_name = port
        self._baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._ids = itertools.count(1)
        self.decoder = FrameDecoder()
        self.frames: list[Frame] = []
        self.console: list[str] = []
        self.received: list[Received] = []
        self.raw = bytearray()  # every byte read, for REPL prompts the decoder holds back

    # -- link

    def open(self, timeout_s: float = 0.0) -> WireClient:
        """Open the port; retries up to timeout_s while it is missing (a board re-enumerating)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._serial = serial.Serial(
                    self.port_name, self._baudrate, timeout=_READ_TIMEOUT_S, exclusive=True
                )
                return self
            except serial.SerialException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(_REOPEN_POLL_S)

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            port.close()

    def __enter__(self) -> WireClient:
        return self if self._serial is not None else self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _port(self) -> serial.Serial:
        assert self._serial is not None, "the client is closed"
        return self._serial

    def write_raw(self, data: bytes) -> None:
        port = self._port()
        port.write(data)
        port.flush()

    # -- commands

    def send(self, verb: str, *args: str) -> int:
        """Send one command line; returns its cmd_id.

        The line is built here, not by the host's encoder, which refuses the malformed
        arguments these tests send to see the board refuse them.
        """
        cmd_id = next(self._ids) & 0xFFFF
        text = Command(cmd_id, verb, args).text
        self.write_raw(f"{text}*{zlib.crc32(text.encode()):08X}\n".encode())
        return cmd_id

    def command(self, verb: str, *args: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Result:
        """Send a command and wait for its RESULT."""
        result = self.try_command(verb, *args, timeout_s=timeout_s)
        assert result is not None, f"no RESULT for {verb} {args} within {timeout_s} s"
        return result

    def try_command(self, verb: str, *args: str, timeout_s: float) -> Result | None:
        """Send a command; its RESULT, or None if none came within timeout_s."""
        mark = len(self.frames)
        cmd_id = self.send(verb, *args)
        deadline = time.monotonic() + timeout_s
        while (result := self.result(cmd_id, mark)) is None:
            if time.monotonic() > deadline:
                return None
            self.pump()
        return result

    def wait_ready(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Ping until the board answers: lines sent while it (re)boots are lost, as on a board."""
        deadline = time.monotonic() + timeout_s
        while self.try_command("ping", timeout_s=_RETRY_S) is None:
            assert time.monotonic() < deadline, f"{self.port_name} never answered a ping"

    def result(self, cmd_id: int, since: int = 0) -> Result | None:
        for frame in self.frames[since:]:
            if isinstance(frame.payload, Result) and frame.payload.cmd_id == cmd_id:
                return frame.payload
        return None

    def hello(self) -> Hello:
        """`hello`; the HELLO it answered with (resent samples follow it)."""
        mark = len(self.frames)
        assert self.command("hello").code == 0
        return next(f.payload for f in self.frames[mark:] if isinstance(f.payload, Hello))

    def status(self) -> Status:
        mark = len(self.frames)
        assert self.command("status").code == 0
        return next(f.payload for f in self.frames[mark:] if isinstance(f.payload, Status))

    def ack(self, seq: int) -> None:
        assert self.command("ack", str(seq)).code == 0

    def settle(self) -> Status:
        """Bring the board to a known start: Idle, no faults, period 100 ms, nothing unacked."""
        self.wait_ready()  # a board that was just reset (flash, mpremote reset) may be booting
        self.command("stop")  # INVALID_STATE when already Idle: fine
        self.command("reset")
        self.command("fault", "none")
        self.command("set", "period_ms", "100")
        status = self.status()
        if status.ring_used:
            self.ack(status.samples_taken - 1)
        return self.status()

    # -- reading

    def pump(self) -> int:
        """Read what is waiting (or up to the read timeout for one byte); returns bytes read."""
        port = self._port()
        data = port.read(max(1, port.in_waiting))
        self.raw += data
        for item in self.decoder.feed(data):
            if isinstance(item, ConsoleText):
                self.console.append(item.text)
                continue
            self.frames.append(item)
            if isinstance(item.payload, Samples):
                self.received += [
                    Received(s.seq, s.t_ms, item.resend) for s in item.payload.samples
                ]
        return len(data)

    def read_until(self, done: Callable[[], bool], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Read and decode until done() holds; AssertionError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                tail = [f.payload for f in self.frames[-3:]]
                raise AssertionError(
                    f"timed out after {timeout_s} s on {self.port_name}: "
                    f"{len(self.frames)} frames, {len(self.received)} samples, last {tail}, "
                    f"console {self.console[-2:]}"
                )
            self.pump()

    def collect(self, count: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Received]:
        """Read until `count` more samples arrived; returns them."""
        mark = len(self.received)
        self.read_until(lambda: len(self.received) - mark >= count, timeout_s)
        return self.received[mark:]

    def drain(self, quiet_s: float = 0.2, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Read until nothing arrived for quiet_s (the board is idle and everything is in)."""
        deadline = time.monotonic() + timeout_s
        last_data_s = time.monotonic()
        while time.monotonic() - last_data_s < quiet_s:
            assert time.monotonic() < deadline, f"{self.port_name} never went quiet"
            if self.pump():
                last_data_s = time.monotonic()

    def soft_reset_to_main(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> Hello:
        """After mpremote left the board at a REPL: Ctrl-B, Ctrl-D, wait for the boot HELLO."""
        mark, raw_mark = len(self.frames), len(self.raw)
        self.write_raw(_CTRL_B)
        self.read_until(lambda: b">>> " in self.raw[raw_mark:], timeout_s)
        self.write_raw(_CTRL_D)
        self.read_until(
            lambda: any(isinstance(f.payload, Hello) for f in self.frames[mark:]), timeout_s
        )
        return next(f.payload for f in self.frames[mark:] if isinstance(f.payload, Hello))


def seqs(received: list[Received]) -> list[int]:
    return [r.seq for r in received]
