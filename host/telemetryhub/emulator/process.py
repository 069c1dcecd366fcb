"""One run of the MicroPython unix port on its own pty: spawn, interrupt, kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

from telemetryhub.emulator.pty_bridge import read_master

# Installed as machine.py on the module path (after the flash): the unix port lacks
# machine.reset/soft_reset, so they ask the emulator (through an inherited pipe) to reset
# the board and then wait to be killed, as a board never returns from reset().
MACHINE_SHIM = """\
from umachine import *
import os as _os
import time as _time


def _ask(code):
    f = open("/dev/fd/" + _os.getenv("TELEMETRYHUB_EMU_RESET_FD"), "wb")
    f.write(code)
    f.close()
    while True:
        _time.sleep_ms(1000)


def reset():
    _ask(b"R")


def soft_reset():
    _ask(b"S")
"""

RESET_HARD = ord("R")
RESET_SOFT = ord("S")

# reset causes of docs/protocol.md, passed to firmware/hal.py as $TELEMETRYHUB_RESET_CAUSE
CAUSE_POWER_ON = 1
CAUSE_SOFT = 2
CAUSE_HARD = 4
_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def find_micropython() -> Path:
    """The `micropython` command installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return beside
    import shutil

    found = shutil.which("micropython")
    return Path(found) if found else beside


class MicroPythonProcess:
    """A MicroPython process whose stdin/stdout/stderr is a raw pty owned by the emulator."""

    def __init__(self, proc: subprocess.Popen[bytes], fd: int, reset_fd: int) -> None:
        self.proc = proc
        self.fd = fd
        self.reset_fd = reset_fd
        self.started_s = time.monotonic()

    @classmethod
    def spawn(
        cls,
        micropython: Path,
        flash_dir: Path,
        rom_dir: Path,
        *,
        run_main: bool,
        reset_cause: int = CAUSE_POWER_ON,
        device_id: str | None = None,
    ) -> MicroPythonProcess:
        """Start `micropython -i main.py` (or the bare REPL) with the flash folder as cwd.

        `reset_cause` is what the board's HAL reports as the cause of this boot.
        """
        master_fd, slave_fd = os.openpty()
        reset_r, reset_w = os.pipe()
        try:
            tty.setraw(slave_fd)
            argv = [str(micropython)]
            if run_main:
                argv += ["-i", "main.py"]
            env = dict(os.environ)
            env["MICROPYPATH"] = f"{rom_dir}:.frozen:lib"
            env["TELEMETRYHUB_EMU_RESET_FD"] = str(reset_w)
            env["TELEMETRYHUB_RESET_CAUSE"] = str(reset_cause)
            if device_id is not None:  # the HAL's stand-in for machine.unique_id()
                env["TELEMETRYHUB_DEVICE_ID"] = device_id
            proc = subprocess.Popen(
                argv,
                stdin=slave_fd,
                stdout=slave_fd,
                stderr=slave_fd,
                cwd=flash_dir,
                env=env,
                pass_fds=(reset_w,),
                start_new_session=True,
            )
        except BaseException:
            for fd in (master_fd, reset_r):
                os.close(fd)
            raise
        finally:
            os.close(slave_fd)
            os.close(reset_w)
        os.set_blocking(master_fd, False)
        os.set_blocking(reset_r, False)
        return cls(proc, master_fd, reset_r)

    def interruptible(self) -> bool:
        """True while MicroPython runs code with its SIGINT handler (Ctrl-C enabled).

        At an idle REPL (or after kbd_intr(-1)) SIGINT is left at its default and would kill
        the process, so 0x03 must then go to stdin as a byte instead.
        """
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return False
        for line in status.splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & _SIGINT_BIT)
        return False

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the running code."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)

    def read(self) -> bytes | None:
        """Output bytes; b"" if none yet; None once the process closed its pty (it ended)."""
        return read_master(self.fd)

    def write(self, data: bytes | bytearray) -> int:
        """Write what fits into the board's stdin; returns the count (0 if full or gone)."""
        try:
            return os.write(self.fd, data)
        except (BlockingIOError, OSError):
            return 0

    def read_reset_request(self) -> int | None:
        """RESET_HARD / RESET_SOFT if machine.reset()/soft_reset() was called, else None."""
        try:
            data = os.read(self.reset_fd, 16)
        except BlockingIOError:
            return None
        return data[-1] if data else None

    def close(self, *, kill: bool) -> int:
        """Kill (if asked) and reap the process, close its fds; returns its exit code."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        try:
            code = self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for fd in (self.fd, self.reset_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        return code
