"""MosquittoBroker: a private Mosquitto process on a free local port (tests, benchmarks, demos)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """PEM files of a TLS listener; clients are not asked for a certificate."""

    cafile: Path
    certfile: Path
    keyfile: Path

    def config_lines(self) -> str:
        """The listener options; they follow its `listener` line."""
        return (
            f"cafile {self.cafile}\n"
            f"certfile {self.certfile}\n"
            f"keyfile {self.keyfile}\n"
            "require_certificate false\n"
        )


class MosquittoBroker:
    """One broker process; `stop()` then `start()` brings it back on the same port.

    Persistence is on (saved on a clean stop), so a subscriber's persistent session and its
    queued QoS 1 messages survive the restart, as they would on a production broker.
    With `password_file` (made by `mosquitto_passwd`) anonymous clients are refused; with
    `tls` the one listener speaks TLS only. Context manager: start/stop.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        password_file: Path | None = None,
        tls: BrokerTls | None = None,
    ) -> None:
        """Write the config into `workdir` (it also holds the log and persistence file)."""
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        tls_lines = tls.config_lines() if tls else ""
        auth_lines = (
            f"allow_anonymous false\npassword_file {password_file}\n"
            if password_file
            else "allow_anonymous true\n"
        )
        self.config.write_text(
            # Run as root, mosquitto would become user `mosquitto`, which can read neither
            # `workdir` nor a 0600 key file; as anyone else this line changes nothing.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} {self.host}\n"
            f"{tls_lines}"
            f"{auth_lines}"
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

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
