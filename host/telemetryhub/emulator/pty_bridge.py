"""The host end of the emulated USB CDC port: a pty the host opens like /dev/ttyACM0."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import tty
from pathlib import Path


def read_master(fd: int) -> bytes | None:
    """Read a non-blocking pty master: b"" if nothing yet, None once the slave side is closed."""
    try:
        return os.read(fd, 65536) or None
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise


class HostPort:
    """One "plugged in" pty plus a stable symlink to it; only the emulator's I/O thread uses it.

    The emulator holds the master only, so the kernel tells it when the host closes the slave
    (POLLHUP / EIO on the master) and when the host opens it again (POLLHUP clears).
    """

    def __init__(self, link_path: Path) -> None:
        self.link_path = link_path
        self._master_fd = -1
        self._pty_path: str | None = None

    @property
    def master_fd(self) -> int:
        """The master fd (-1 while unplugged)."""
        return self._master_fd

    @property
    def pty_path(self) -> str | None:
        """The current /dev/pts/N, or None while unplugged."""
        return self._pty_path

    def plug(self) -> None:
        """Create a fresh pty in raw mode and point the symlink at its slave."""
        master_fd, slave_fd = os.openpty()
        try:
            tty.setraw(slave_fd)
            pty_path = os.ttyname(slave_fd)
        finally:
            os.close(slave_fd)
        os.set_blocking(master_fd, False)
        self._master_fd, self._pty_path = master_fd, pty_path
        tmp_link = self.link_path.with_name(self.link_path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(pty_path)
        os.replace(tmp_link, self.link_path)

    def unplug(self) -> None:
        """Remove the symlink, close the master: the host's open slave now fails (idempotent)."""
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        if self._master_fd >= 0:
            os.close(self._master_fd)
        self._master_fd, self._pty_path = -1, None

    def host_attached(self) -> bool:
        """True while some program has the slave open."""
        if self._master_fd < 0:
            return False
        poller = select.poll()
        poller.register(self._master_fd, select.POLLIN)
        return not any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def read(self) -> bytes | None:
        """Bytes the host wrote; b"" if none yet; None when the host closed the port."""
        return read_master(self._master_fd)

    def write(self, data: bytes | bytearray) -> int | None:
        """Write what fits; returns the count, or None when the host closed the port."""
        try:
            return os.write(self._master_fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            raise
