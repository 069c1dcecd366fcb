"""MosquittoBroker: a private Mosquitto process on a free local port (tests, benchmarks, demos)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from telemetryhub.errors import UplinkError

_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str:
    """The mosquitto executable (tools/setup --test installs it)."""
    found = shutil.which("mosquitto") or next((p for p in _CANDIDATES if Path(p).exists()), None)
    if found is None:
        raise UplinkError("mosquitto not found: run tools/setup --test")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """One broker process; `stop()` then `start()` brings it back on the same port.

    Persistence is on (saved on a clean stop), so a subscriber's persistent session and its
    queued QoS 1 messages survive the restart, as they would on a production broker.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        """Write the config into `workdir` (it also holds the log and persistence file)."""
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 100000\n"
            "set_tcp_nodelay true\n"  # PUBACKs must not wait for Nagle (3x drain rate)
            f"log_dest file {self.log}\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the process and wait until it accepts connections."""
        self._proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise UplinkError(f"mosquitto exited with {self._proc.returncode}: {self.log}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)  # polling a port that is not open yet; no event to wait on
        raise UplinkError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    def stop(self) -> None:
        """Terminate the process (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
