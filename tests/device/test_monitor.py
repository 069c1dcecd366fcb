"""The monitor prints each decoded frame and stops after the requested number of samples."""

from __future__ import annotations

import io
import json

from telemetryhub.device.monitor import monitor
from telemetryhub.device.simulator import SimulatedBoard


def test_text_lines_until_count() -> None:
    board = SimulatedBoard(fast=True, samples_per_read=32, seed=2)
    out = io.StringIO()
    assert monitor(lambda: board, out, count=40) == 48  # whole frames: 3 x 16
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("hello    #2 proto_major=1")
    assert any(line.startswith("samples  #") and "0@" in line for line in lines)
    assert not board.is_open


def test_json_lines_and_console_text() -> None:
    board = SimulatedBoard(fast=True, samples_per_read=16, seed=2)
    out = io.StringIO()
    board.open()
    board.close()
    original_open = board.open

    def open_and_chatter() -> None:
        original_open()
        board.emit_raw(b"soft reboot\r\n")

    board.open = open_and_chatter  # type: ignore[method-assign]
    monitor(lambda: board, out, json_lines=True, count=16)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0] == {"type": "console", "text": "soft reboot\r\n"}
    kinds = [r["type"] for r in records]
    assert kinds[1:3] == ["hello", "result"]  # the handshake
    assert "state" in kinds  # start's STATE
    samples = next(r for r in records if r["type"] == "samples")
    assert samples["samples"][0]["seq"] == 0
    assert samples["resend"] is False
