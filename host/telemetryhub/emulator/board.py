"""BoardEmulator: the MicroPython unix port behind a pty, behaving like a USB board."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import secrets
import select
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from telemetryhub.emulator.process import (
    CAUSE_HARD,
    CAUSE_POWER_ON,
    CAUSE_SOFT,
    MACHINE_SHIM,
    RESET_HARD,
    MicroPythonProcess,
    find_micropython,
)
from telemetryhub.emulator.pty_bridge import HostPort
from telemetryhub.errors import DeviceError
from telemetryhub.firmware_bundle import firmware_dir

log = logging.getLogger(__name__)

_CTRL_C = 0x03  # interrupt the running program (the board's USB stack raises KeyboardInterrupt)
_CTRL_A = b"\x01"  # enter the raw REPL
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"

_DETACHED_POLL_MS = 20  # how often a port nobody has open is checked for a host opening it
_MAX_PENDING = 1 << 16  # bytes buffered each way before back-pressure
_SIGINT_GAP_S = 0.1  # a second SIGINT before the first is raised would kill the unix port
_CALL_TIMEOUT_S = 10.0
_CRASH_WINDOW_S = 0.5
_MAX_CRASHES = 5

DEFAULT_FIRMWARE_DIR = firmware_dir()
_NOT_ON_FLASH = shutil.ignore_patterns("__pycache__", "*.pyc")  # CPython's, from pip's compile


def default_device_id(flash_dir: Path | None) -> str:
    """`unix-` and 8 hex digits: fixed for a given flash folder (the same board next run), else
    random, as distinct boards have distinct unique ids."""
    if flash_dir is not None:
        digest = hashlib.sha256(str(flash_dir.resolve()).encode()).hexdigest()
        return f"unix-{digest[:8]}"
    return f"unix-{secrets.token_hex(4)}"


class BoardEmulator:
    """A MicroPython board on a pseudo-terminal that pyserial and mpremote use like a real one.

    The flash is a folder (MicroPython's cwd and first module path entry). `port` is a stable
    symlink to the current pty slave; `unplug()` removes it and closes the pty, `replug()`
    creates a new pty and points the symlink at it. Output while no host has the port open is
    dropped, like a USB CDC board with no host; while a host is attached but not reading, the
    board's writes block (back-pressure), as on a real link.

    Public methods may be called from any thread; one named I/O thread owns every fd.
    """

    def __init__(
        self,
        flash_dir: Path | None = None,
        *,
        firmware_dir: Path = DEFAULT_FIRMWARE_DIR,
        link_path: Path | None = None,
        micropython: Path | None = None,
        device_id: str | None = None,
    ) -> None:
        # distinct boards have distinct machine.unique_id(): so do emulators, unless told
        self.device_id = device_id or default_device_id(flash_dir)
        self._given_flash = flash_dir
        self._firmware_dir = firmware_dir
        self._link_path = link_path
        self._micropython = micropython or find_micropython()
        self._workdir: Path | None = None
        self._flash: Path | None = flash_dir
        self._host: HostPort | None = None
        self._proc: MicroPythonProcess | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._calls: queue.SimpleQueue[tuple[str, threading.Event]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = -1, -1
        self._boots = 0
        self._boot_lock = threading.Lock()
        self._to_host = bytearray()
        self._to_board = bytearray()
        self._raw_mode = False
        self._tail = b""
        self._suppress: bytes | None = None  # output held back until RAW_BANNER appears
        self._last_sigint_s = 0.0
        self._crashes = 0
        self._injected: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    # ----------------------------------------------------------------- public API (any thread)

    @property
    def port(self) -> str:
        """Stable path the host opens (a symlink that follows replug)."""
        if self._host is None:
            raise DeviceError("the emulator is not started")
        return str(self._host.link_path)

    @property
    def pty_path(self) -> str | None:
        """The current /dev/pts/N behind `port`, None while unplugged."""
        return self._host.pty_path if self._host is not None else None

    @property
    def flash_dir(self) -> Path:
        """The folder that plays the board's flash filesystem."""
        if self._flash is None:
            raise DeviceError("the emulator is not started")
        return self._flash

    @property
    def boot_count(self) -> int:
        """How many times MicroPython has been started (power-on, resets, soft reboots)."""
        with self._boot_lock:
            return self._boots

    def start(self) -> None:
        """Create the flash folder and the port, boot the board and start the I/O thread."""
        if self._thread is not None:
            return
        if not self._micropython.exists():
            raise DeviceError(
                f"micropython not found at {self._micropython} nor on PATH "
                "(pip install 'telemetryhub[emulator]', or see docs/deploy.md on ARM hosts)"
            )
        if self._flash is None and not (self._firmware_dir / "main.py").is_file():
            raise DeviceError(f"no firmware in {self._firmware_dir} (expected its main.py)")
        self._workdir = Path(tempfile.mkdtemp(prefix="telemetryhub-board-"))
        if self._flash is None:
            self._flash = self._workdir / "flash"
            shutil.copytree(self._firmware_dir, self._flash, ignore=_NOT_ON_FLASH)
        rom = self._workdir / "rom"
        rom.mkdir()
        (rom / "machine.py").write_text(MACHINE_SHIM)
        self._host = HostPort(self._link_path or self._workdir / "ttyACM0")
        self._host.plug()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._boot(run_main=True, cause=CAUSE_POWER_ON)
        self._thread = threading.Thread(target=self._run, name="board-emulator-io")
        self._thread.start()

    def stop(self) -> None:
        """Stop the I/O thread, kill MicroPython, remove the port (idempotent)."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake()
        thread.join()
        self._thread = None
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            if self._given_flash is None:
                self._flash = None

    def power_cycle(self) -> None:
        """Kill MicroPython and boot it again (main.py runs); the port stays plugged."""
        self._call("power_cycle")

    def unplug(self) -> None:
        """The USB cable is pulled: the pty and the `port` symlink vanish; the board keeps running.

        This is a self-powered board; call power_cycle() too to model a bus-powered one.
        """
        self._call("unplug")

    def replug(self) -> None:
        """The cable is back: a new pty behind the same `port` symlink (no reboot)."""
        self._call("replug")

    def inject_to_host(self, data: bytes) -> None:
        """Test hook: `data` reaches the host as if the board had sent it (noise on the line).

        It follows whatever the board wrote before the call; dropped while no host is attached.
        """
        self._injected.put(bytes(data))
        self._call("inject")

    def __enter__(self) -> BoardEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, name: str) -> None:
        if self._thread is None or not self._thread.is_alive():
            raise DeviceError("the emulator is not running")
        done = threading.Event()
        self._calls.put((name, done))
        self._wake()
        if not done.wait(_CALL_TIMEOUT_S):
            raise DeviceError(f"emulator did not complete {name} in {_CALL_TIMEOUT_S} s")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    # ----------------------------------------------------------------- I/O thread

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except Exception:
            log.exception("board emulator I/O thread failed")
        finally:
            if self._proc is not None:
                self._proc.close(kill=True)
                self._proc = None
            if self._host is not None:
                self._host.unplug()
            self._drain_calls()

    def _drain_calls(self) -> None:
        while True:
            try:
                _, done = self._calls.get_nowait()
            except queue.Empty:
                return
            done.set()

    def _step(self) -> None:
        host, proc = self._host, self._proc
        attached = host is not None and host.host_attached()
        if not attached:
            self._to_host.clear()
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if host is not None and attached:
            host_events = select.POLLOUT if self._to_host else 0
            if len(self._to_board) < _MAX_PENDING:
                host_events |= select.POLLIN
            poller.register(host.master_fd, host_events)
        if proc is not None:
            proc_events = select.POLLOUT if self._to_board else 0
            if not self._to_host:
                proc_events |= select.POLLIN
            if proc_events:
                poller.register(proc.fd, proc_events)
            poller.register(proc.reset_fd, select.POLLIN)
        plugged = host is not None and host.master_fd >= 0
        timeout_ms = _DETACHED_POLL_MS if plugged and not attached else None
        ready = dict(poller.poll(timeout_ms))
        if self._wake_r in ready:
            self._handle_calls()
            return
        if host is not None and attached and host.master_fd in ready:
            self._pump_host(host)
        if proc is not None and proc is self._proc:
            self._pump_board(proc, ready)

    def _handle_calls(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        while True:
            try:
                name, done = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                getattr(self, f"_do_{name}")()
            finally:
                done.set()

    def _do_power_cycle(self) -> None:
        self._reboot(run_main=True, banner=False, cause=CAUSE_POWER_ON)

    def _do_unplug(self) -> None:
        if self._host is not None:
            self._host.unplug()

    def _do_replug(self) -> None:
        if self._host is not None and self._host.master_fd < 0:
            self._host.plug()

    def _do_inject(self) -> None:
        while not self._injected.empty():
            data = self._injected.get_nowait()
            if self._host is not None and self._host.host_attached():
                self._to_host += data

    def _pump_host(self, host: HostPort) -> None:
        if self._to_host:
            written = host.write(self._to_host)
            if written is None:
                self._to_host.clear()
                return
            del self._to_host[:written]
        data = host.read()
        if data is None:  # the host closed the port; the next step sees it detached
            self._to_host.clear()
            return
        self._from_host(data)

    def _from_host(self, data: bytes) -> None:
        start = 0
        while (i := data.find(_CTRL_C, start)) >= 0:
            self._to_board += data[start:i]
            self._ctrl_c()
            start = i + 1
        self._to_board += data[start:]

    def _ctrl_c(self) -> None:
        proc = self._proc
        if proc is not None and proc.interruptible():
            now = time.monotonic()
            if now - self._last_sigint_s >= _SIGINT_GAP_S:
                self._last_sigint_s = now
                proc.interrupt()
            self._to_board.clear()  # a board drops its stdin buffer on Ctrl-C
        else:
            self._to_board.append(_CTRL_C)

    def _pump_board(self, proc: MicroPythonProcess, ready: dict[int, int]) -> None:
        if proc.reset_fd in ready:
            code = proc.read_reset_request()
            if code == RESET_HARD:
                self._reboot(run_main=True, banner=False, cause=CAUSE_HARD)
                return
            if code is not None:
                self._exit(kill=True)
                return
        events = ready.get(proc.fd, 0)
        if not events:
            return
        if self._to_board:
            written = proc.write(self._to_board)
            if not written and events & select.POLLHUP:
                self._to_board.clear()  # the process is gone; its exit is read below
            del self._to_board[:written]
        if self._to_host:
            return
        data = proc.read()
        if data is None:
            self._exit(kill=False)
        elif data:
            self._from_board(data)

    def _from_board(self, data: bytes) -> None:
        if self._suppress is not None:
            held = self._suppress + data
            i = held.find(RAW_BANNER)
            if i < 0:
                self._suppress = held[-len(RAW_BANNER) :]
                return
            self._suppress = None
            data = held[i:]
        scan = self._tail + data
        raw_at, friendly_at = scan.rfind(RAW_BANNER), scan.rfind(FRIENDLY_PROMPT)
        if raw_at != friendly_at:
            self._raw_mode = raw_at > friendly_at
        self._tail = scan[-len(RAW_BANNER) :]
        if self._host is not None and self._host.host_attached():
            self._to_host += data

    def _exit(self, *, kill: bool) -> None:
        """MicroPython ended by itself (Ctrl-D, soft_reset): soft-reboot like a board."""
        proc = self._proc
        if proc is None:
            return
        code = proc.close(kill=kill)
        self._proc = None
        crashed = code != 0 and not kill
        if crashed and time.monotonic() - proc.started_s < _CRASH_WINDOW_S:
            self._crashes += 1
            if self._crashes >= _MAX_CRASHES:
                log.error("MicroPython keeps crashing (exit %s); the board stays off", code)
                return
        else:
            self._crashes = 0
        self._reboot(run_main=not self._raw_mode, banner=True, cause=CAUSE_SOFT)

    def _reboot(self, *, run_main: bool, banner: bool, cause: int) -> None:
        if self._proc is not None:
            self._proc.close(kill=True)
            self._proc = None
        self._to_board.clear()
        if banner:
            self._from_board(SOFT_REBOOT)
        self._boot(run_main=run_main, cause=cause)

    def _boot(self, *, run_main: bool, cause: int) -> None:
        # `cause`: the reset cause the board reports (a board's soft reboot keeps running, the
        # unix port is restarted: it learns that this start was a soft reset from us)
        flash, workdir = self.flash_dir, self._workdir
        assert workdir is not None
        has_main = (flash / "main.py").exists()
        self._proc = MicroPythonProcess.spawn(
            self._micropython,
            flash,
            workdir / "rom",
            run_main=run_main and has_main,
            reset_cause=cause,
            device_id=self.device_id,
        )
        self._tail = b""
        self._raw_mode = False
        self._suppress = None
        self._last_sigint_s = 0.0  # the SIGINT gap is per process: a new one takes Ctrl-C at once
        if not run_main:  # a soft reset in the raw REPL comes back in the raw REPL
            self._suppress = b""
            self._proc.write(_CTRL_A)
        with self._boot_lock:
            self._boots += 1
