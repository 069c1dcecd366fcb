"""`telemetryhub monitor` (cli.bench.monitor) against the board: counts, JSON lines, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest

from telemetryhub.cli.bench import monitor
from telemetryhub.protocol import MAX_SAMPLES_PER_FRAME
from tests.hil.wire import WireClient

pytestmark = [pytest.mark.hil, pytest.mark.micropython]

_SAMPLE = re.compile(r"\b(\d+)@\d+=")
_RUN_MONITOR = (
    "import sys\nfrom telemetryhub.cli.bench import monitor\nsys.exit(monitor(sys.argv[1]))\n"
)


@pytest.fixture
def fast_board(wire: WireClient) -> str:
    """The settled board sampling every 5 ms once started; the port is free for the monitor."""
    assert wire.command("set", "period_ms", "5").code == 0
    wire.close()
    return wire.port_name


def assert_contiguous(seqs: list[int]) -> None:
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_count_prints_that_many_samples_and_exits_zero(
    fast_board: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert monitor(fast_board, count=50) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hello ")
    seqs = [int(s) for line in lines if line.startswith("samples ") for s in _SAMPLE.findall(line)]
    assert 50 <= len(seqs) < 50 + MAX_SAMPLES_PER_FRAME  # whole frames are printed
    assert_contiguous(seqs)


def test_json_lines_parse(fast_board: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor(fast_board, json_lines=True, count=20) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = {r["type"] for r in records}
    assert {"hello", "result", "state", "samples"} <= kinds
    seqs = [s["seq"] for r in records if r["type"] == "samples" for s in r["samples"]]
    assert len(seqs) >= 20
    assert_contiguous(seqs)


def test_ctrl_c_ends_the_monitor_with_exit_code_zero(fast_board: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_MONITOR, fast_board],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(100):  # HELLO, RESULTs, STATE, then samples within a few lines
            if proc.stdout.readline().startswith("samples "):
                break
        else:
            pytest.fail("the monitor printed no samples")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr
