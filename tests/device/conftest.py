"""Helpers for device tests: a manual clock and a scripted host for the simulator."""

from __future__ import annotations

from telemetryhub.protocol import Command, Frame, FrameDecoder, Payload, Result, encode_command


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class BoardHost:
    """Drives a SimulatedBoard (or any transport) the way the firmware's host would, by hand."""

    def __init__(self, transport: object) -> None:
        self.transport = transport
        self.decoder = FrameDecoder()
        self.next_id = 0
        self.transport.open()  # type: ignore[attr-defined]

    def send(self, verb: str, *args: str) -> int:
        cmd_id = self.next_id
        self.next_id += 1
        self.transport.write(encode_command(Command(cmd_id, verb, args)))  # type: ignore[attr-defined]
        return cmd_id

    def frames(self) -> list[Frame]:
        data = self.transport.read(0)  # type: ignore[attr-defined]
        return [item for item in self.decoder.feed(data) if isinstance(item, Frame)]

    def payloads(self) -> list[Payload]:
        return [frame.payload for frame in self.frames()]

    def run(self, verb: str, *args: str) -> tuple[Result, list[Payload]]:
        """Send a command; its RESULT and every payload read up to it (inclusive)."""
        cmd_id = self.send(verb, *args)
        payloads = self.payloads()
        results = [p for p in payloads if isinstance(p, Result) and p.cmd_id == cmd_id]
        assert results, f"no RESULT for {verb} in {payloads}"
        return results[0], payloads
