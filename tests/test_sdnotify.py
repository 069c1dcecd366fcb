"""sd_notify on a real unix datagram socket, as systemd listens for a Type=notify service."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub import sdnotify


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        yield sock, str(path)


def test_a_state_reaches_the_socket_named_by_notify_socket(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    assert sdnotify.notify(sdnotify.READY, {"NOTIFY_SOCKET": path})
    assert sock.recv(64) == b"READY=1"


def test_the_abstract_namespace_is_spelled_with_an_at_sign() -> None:
    name = f"telemetryhub-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert sdnotify.notify(sdnotify.STOPPING, {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"STOPPING=1"


def test_without_systemd_nothing_is_sent_and_a_dead_socket_is_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert not sdnotify.notify(sdnotify.READY, {})
    assert not sdnotify.notify(sdnotify.READY, {"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert "cannot notify systemd (READY=1)" in caplog.text


def test_run_says_ready_reloading_and_stopping(
    listener: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = listener
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRYHUB_")}
    env["NOTIFY_SOCKET"] = path
    cmd = [sys.executable, "-m", "telemetryhub", "run", "--no-http", "--duration", "30",
           "--data-dir", str(tmp_path / "data")]  # fmt: skip
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            assert sock.recv(64) == b"READY=1"  # the store, the link loop and the core are up
            proc.send_signal(signal.SIGHUP)
            assert sock.recv(64) == b"RELOADING=1"
            assert sock.recv(64) == b"READY=1"
            proc.send_signal(signal.SIGTERM)
            assert sock.recv(64) == b"STOPPING=1"
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    assert proc.returncode == 0
