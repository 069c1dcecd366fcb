"""SerialTransport: a board's USB-CDC or UART port through pyserial, every failure wrapped once."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading

import serial

from telemetryhub.errors import PortBusyError, TransportError

_READ_MAX = 1 << 16
_BUSY_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


class SerialTransport:
    """A serial port opened exclusively; reads return everything waiting, at least one byte.

    Threading: `read` from one thread, `write` from any (serialised by a lock).
    """

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self._port = port
        self._baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._timeout_s: float | None = None
        self._write_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._port

    def open(self) -> None:
        """Open the port exclusively; PortBusyError if another program holds it."""
        if self._serial is not None:
            return
        port = serial.Serial()
        port.port = self._port
        port.baudrate = self._baudrate
        port.exclusive = True
        port.timeout = 0
        try:
            port.open()
        except (serial.SerialException, OSError) as exc:
            raise _wrap(exc, f"cannot open serial port {self._port}") from exc
        self._serial = port
        self._timeout_s = 0

    def fileno(self) -> int | None:
        port = self._serial
        return None if port is None else port.fd

    def ready_at(self) -> float:
        return math.inf  # the selector says when: fileno() is set once open

    def read_available(self) -> bytes:
        """Everything waiting now (the descriptor is non-blocking); b"" if nothing."""
        fd = self._fd()
        try:
            data = os.read(fd, _READ_MAX)
        except BlockingIOError:
            return b""
        except (OSError, TypeError) as exc:  # EIO: the other end of a pty went away
            raise _wrap(exc, f"serial port {self._port} failed while reading") from exc
        if not data:
            # ready to read with nothing to read: the device went away (Linux USB behaviour)
            raise TransportError(f"serial port {self._port} disconnected")
        return data

    def write_some(self, data: bytes) -> int:
        """Write what the driver takes now; the rest is the caller's to retry."""
        fd = self._fd()
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except (OSError, TypeError) as exc:
            raise _wrap(exc, f"serial port {self._port} failed while writing") from exc

    def read(self, timeout_s: float) -> bytes:
        """Everything waiting, or up to `timeout_s` for the first byte; b"" on timeout."""
        port = self._require_open()
        try:
            if self._timeout_s != timeout_s:
                port.timeout = timeout_s
                self._timeout_s = timeout_s
            data = port.read(max(1, port.in_waiting))
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
            return bytes(data)
        except (serial.SerialException, OSError, TypeError) as exc:
            # TypeError: pyserial's read on a port closed from another thread (fd is None)
            raise _wrap(exc, f"serial port {self._port} failed while reading") from exc

    def write(self, data: bytes) -> None:
        """Write all of `data`, looping on short writes."""
        with self._write_lock:
            port = self._require_open()
            view = memoryview(data)
            try:
                while view:
                    written = port.write(view)
                    view = view[written or 0 :]
            except (serial.SerialException, OSError, TypeError) as exc:
                raise _wrap(exc, f"serial port {self._port} failed while writing") from exc

    def close(self) -> None:
        """Close the port; idempotent, never raises."""
        port, self._serial = self._serial, None
        if port is not None:
            # a port that is already gone is as closed as we wanted it
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _fd(self) -> int:
        fd = self._require_open().fd
        if fd is None:
            raise TransportError(f"serial port {self._port} is not open")
        return int(fd)

    def _require_open(self) -> serial.Serial:
        port = self._serial
        if port is None:
            raise TransportError(f"serial port {self._port} is not open")
        return port


def _wrap(exc: BaseException, context: str) -> TransportError:
    code = getattr(exc, "errno", None)
    if code == errno.EBUSY or (code in _BUSY_ERRNOS and "lock" in str(exc).lower()):
        return PortBusyError(f"{context}: held by another program ({exc})")
    return TransportError(f"{context}: {exc}")
