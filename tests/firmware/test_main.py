"""The whole firmware: firmware/main.py under MicroPython with stdin/stdout as pipes."""

from __future__ import annotations

import fcntl
import functools
import os
import selectors
import signal
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from telemetryhub.protocol import (
    FLAG_RESEND,
    Frame,
    FrameDecoder,
    Hello,
    Result,
    Samples,
    State,
    Status,
)
from tests.firmware.conftest import FIRMWARE_DIR, MICROPYTHON, micropython_env

pytestmark = pytest.mark.micropython

_DEADLINE_S = 10.0


def command_line(text: str) -> bytes:
    """`<text>*<CRC-32, 8 uppercase hex>\\n`, built here from the doc, not by the host codec."""
    return f"{text}*{zlib.crc32(text.encode()):08X}\n".encode()


class Board:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.decoder = FrameDecoder()
        self.frames: list[Frame] = []
        self._selector = selectors.DefaultSelector()
        assert proc.stdout is not None
        self._selector.register(proc.stdout, selectors.EVENT_READ)

    def send(self, *texts: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"".join(command_line(t) for t in texts))
        self.proc.stdin.flush()

    def read_until(self, done: Callable[[list[Frame]], bool]) -> list[Frame]:
        """Collect frames until done(frames) is true; fails after the deadline."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + _DEADLINE_S
        while not done(self.frames):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out with {len(self.frames)} frames: {self.frames[-5:]}"
            if self._selector.select(left):
                data = os.read(self.proc.stdout.fileno(), 65536)
                assert data, "the firmware closed its stdout"
                self.frames += [f for f in self.decoder.feed(data) if isinstance(f, Frame)]
        return self.frames

    def status_when(self, done: Callable[[Status], bool]) -> Status:
        """Ask for STATUS until one satisfies done() (or the deadline passes); the last one."""
        deadline = time.monotonic() + _DEADLINE_S
        cmd_id = 100
        while True:
            cmd_id += 1
            mark = len(self.frames)
            self.send(f"{cmd_id} status")
            answered = functools.partial(_answered, cmd_id=cmd_id, mark=mark)
            frames = self.read_until(answered)
            status = next(f.payload for f in frames[mark:] if isinstance(f.payload, Status))
            if done(status) or time.monotonic() > deadline:
                return status


@contextmanager
def running_board() -> Iterator[Board]:
    proc = subprocess.Popen(
        [str(MICROPYTHON), str(FIRMWARE_DIR / "main.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=micropython_env() | {"TELEMETRYHUB_DEVICE_ID": "pipe-board"},
    )
    try:
        yield Board(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def sample_seqs(frames: list[Frame]) -> list[int]:
    return [s.seq for f in frames if isinstance(f.payload, Samples) for s in f.payload.samples]


def test_boot_handshake_and_contiguous_samples() -> None:
    with running_board() as board:
        board.send("1 hello", "2 set period_ms 1", "3 start")
        frames = board.read_until(lambda fs: len(sample_seqs(fs)) >= 200)
        kinds = [type(f.payload) for f in frames[:7]]
        assert kinds == [Hello, State, Hello, Result, Result, State, Result]
        hello = frames[0].payload
        assert isinstance(hello, Hello)
        assert (hello.proto_major, hello.device_id, hello.state) == (1, "pipe-board", 0)
        assert (hello.ring_capacity, hello.period_ms) == (1024, 100)
        boot, started = frames[1].payload, frames[5].payload
        assert isinstance(boot, State)
        assert (boot.state, boot.cause) == (0, 0)
        assert isinstance(started, State)
        assert (started.state, started.cause) == (1, 1)
        results = [f.payload for f in frames if isinstance(f.payload, Result)]
        assert [(r.cmd_id, r.code) for r in results] == [(1, 0), (2, 0), (3, 0)]
        seqs = sample_seqs(frames)
        assert seqs == list(range(len(seqs)))
        assert [f.frame_seq for f in frames] == list(range(len(frames)))
        assert all(f.flags == 0 for f in frames)
        assert board.proc.stdin is not None
        board.proc.stdin.close()  # EOF: the unix loop ends
        assert board.proc.wait(timeout=5) == 0


def test_ack_status_and_resend_after_hello() -> None:
    with running_board() as board:
        board.send("1 set period_ms 1", "2 start")
        board.read_until(lambda fs: len(sample_seqs(fs)) >= 50)
        board.send("3 stop", "4 ack 19", "5 hello")
        board.read_until(lambda fs: any(f.flags & FLAG_RESEND for f in fs))
        board.send("6 status")  # answered after the resend went out
        frames = board.read_until(lambda fs: any(isinstance(f.payload, Status) for f in fs))
        status = next(f.payload for f in frames if isinstance(f.payload, Status))
        taken = status.samples_taken
        assert (status.state, status.ring_used) == (0, taken - 20)
        resent = [f for f in frames if f.flags & FLAG_RESEND]
        assert sample_seqs(resent) == list(range(20, taken))
        assert (status.samples_sent, status.samples_resent) == (taken, taken - 20)


def test_sampling_goes_on_while_the_host_does_not_read_and_every_sample_is_accounted() -> None:
    # the host stalls for 2.5 s at 1 ms: the pipe fills, the board defers its writes and keeps
    # sampling; afterwards every sample taken was received or counted as lost on the board
    with running_board() as board:
        assert board.proc.stdout is not None
        fcntl.fcntl(board.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 8192)
        board.send("1 set period_ms 1", "2 start")
        board.read_until(lambda fs: len(sample_seqs(fs)) >= 100)
        stalled_at = time.monotonic()
        time.sleep(2.5)  # the stall under test (not a synchronisation)
        board.send("3 stop")
        board.read_until(lambda fs: any(_result(f, 3) for f in fs))
        stall_ms = (time.monotonic() - stalled_at) * 1000
        status = board.status_when(
            lambda st: st.samples_sent + st.dropped_overflow == st.samples_taken
        )
        received = set(sample_seqs(board.frames))  # every SAMPLES frame precedes that STATUS
        assert status.samples_taken > 0.5 * stall_ms  # a blocked loop takes ~100 (a pipeful)
        assert len(received) + status.dropped_overflow == status.samples_taken
        assert status.dropped_overflow > 0  # 2.5 s at 1 ms overflowed the 1024-sample ring
        assert status.samples_taken + status.missed_slots >= 0.9 * stall_ms


def _result(frame: Frame, cmd_id: int) -> bool:
    return isinstance(frame.payload, Result) and frame.payload.cmd_id == cmd_id


def _answered(frames: list[Frame], cmd_id: int, mark: int) -> bool:
    return any(_result(f, cmd_id) for f in frames[mark:])


def test_ctrl_c_leaves_the_loop_cleanly() -> None:
    with running_board() as board:
        board.read_until(lambda fs: len(fs) >= 2)  # HELLO, STATE: the loop is running
        board.proc.send_signal(signal.SIGINT)
        assert board.proc.wait(timeout=5) == 0
        assert board.proc.stderr is not None
        assert b"Traceback" not in board.proc.stderr.read()
